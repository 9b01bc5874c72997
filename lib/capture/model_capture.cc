#include "capture/model_capture.h"

#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/script.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "capture/exported_model.h"
#include "capture/exported_program.h"
#include "capture/lazy_tensor.h"
#include "capture/module_scopes.h"
#include "support/error.h"

namespace genie {
namespace {

// The line of an error that says what went wrong: TorchScript's interpreter puts a traceback
// first and the Python-style "RuntimeError: ..." last.
std::string error_summary(const std::string& text) {
  if (text.rfind("The following operation failed in the TorchScript interpreter", 0) != 0) return first_line(text);
  std::string last;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t") != std::string::npos) last = line;
    start = end + 1;
  }
  return last;
}

// "input_ids.1" -> "input_ids": TorchScript numbers SSA names.
std::string clean_name(std::string name) {
  auto dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos)
    name.resize(dot);
  return name;
}

// Flattens a method's result into named tensors: "output" for one tensor, "output0",
// "output1"... for tuples and lists (nested: "output0.1"), dict keys for dicts.
void flatten_outputs(const c10::IValue& value, const std::string& name,
                     std::vector<std::pair<std::string, at::Tensor>>* out) {
  if (value.isTensor()) {
    out->emplace_back(name, value.toTensor());
  } else if (value.isTuple() || value.isList()) {
    std::vector<c10::IValue> items =
        value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    for (size_t i = 0; i < items.size(); ++i) flatten_outputs(items[i], name + std::to_string(i), out);
  } else if (value.isGenericDict()) {
    for (const auto& item : value.toGenericDict()) {
      std::string key = item.key().isString() ? item.key().toStringRef() : name + std::to_string(out->size());
      flatten_outputs(item.value(), key, out);
    }
  }  // other values (None, ints) are not graph outputs
}

// Where a parameter or buffer lives: its module object and attribute slot, found once per
// loaded model (walking modules and looking attributes up by name cost more than the
// capture of a small model's operators).
struct TensorSlot {
  c10::intrusive_ptr<c10::ivalue::Object> object;
  size_t slot;
  std::string name;  // model name: "layer1.0.conv1.weight"
  Residency residency;
};

std::vector<TensorSlot> tensor_slots(const torch::jit::Module& root) {
  std::vector<TensorSlot> slots;
  for (const auto& sub : root.named_modules()) {
    const torch::jit::Module& mod = sub.value;
    const std::string prefix = sub.name.empty() ? "" : sub.name + ".";
    auto add = [&](const std::string& name, Residency residency) {
      slots.push_back({mod._ivalue(), mod.type()->getAttributeSlot(name), prefix + name, residency});
    };
    for (const auto& p : mod.named_parameters(/*recurse=*/false)) add(p.name, Residency::kParameter);
    for (const auto& b : mod.named_buffers(/*recurse=*/false)) add(b.name, Residency::kBuffer);
  }
  return slots;
}

// Puts the model's own tensors back into the slots capture filled with LazyTensors, also
// when the model fails.
struct SlotRestorer {
  std::vector<std::pair<const TensorSlot*, c10::IValue>> saved;
  ~SlotRestorer() {
    for (auto& [slot, value] : saved) slot->object->setSlot(slot->slot, std::move(value));
  }
};

std::vector<std::pair<std::string, at::Tensor>> named_outputs(const c10::IValue& result) {
  std::vector<std::pair<std::string, at::Tensor>> outputs;
  flatten_outputs(result, "output", &outputs);
  if (outputs.size() == 1) outputs[0].first = "output";
  return outputs;
}

class TorchScriptModel final : public ModelFrontEnd {
 public:
  TorchScriptModel(torch::jit::Module module, std::string method)
      : module_(std::move(module)), method_(std::move(method)) {
    if (!module_.find_method(method_))
      fail(ErrorKind::kUsage, "the model has no method \"" + method_ + "\"");
    module_.eval();
  }

  std::string format() const override { return "torchscript"; }

  std::vector<std::string> input_names() const override {
    const auto& args = schema().arguments();
    std::vector<std::string> names;
    for (size_t i = 1; i < args.size(); ++i) names.push_back(clean_name(args[i].name()));  // [0] is self
    return names;
  }

  std::vector<std::string> non_tensor_inputs(size_t count) const override {
    const auto& args = schema().arguments();
    std::vector<std::string> found;
    for (size_t i = 1; i < args.size() && i <= count; ++i) {
      // Any input a tensor may be passed to will do: Optional[Tensor], Union[Tensor, int], Any.
      if (!c10::TensorType::get()->isSubtypeOf(*args[i].type()))
        found.push_back(clean_name(args[i].name()) + ": " + args[i].type()->annotation_str());
    }
    return found;
  }

  size_t required_inputs() const override {
    const auto& args = schema().arguments();
    size_t required = 0;
    for (size_t i = 1; i < args.size(); ++i)
      if (!args[i].default_value()) required = i;
    return required;
  }

  std::vector<std::pair<std::string, at::Tensor>> run(GraphBuilder& builder,
                                                      const std::vector<at::Tensor>& inputs) override {
    // Parameters and buffers become named graph values: each slot of each submodule is
    // replaced by its LazyTensor (Module::to() does not accept a PrivateUse1 device), and
    // put back afterwards, so the model stays usable and a second capture finds the
    // interpreter's code for this module already built.
    if (!slots_) slots_ = tensor_slots(module_);
    SlotRestorer restore;
    restore.saved.reserve(slots_->size());
    for (const TensorSlot& slot : *slots_) {
      c10::IValue original = slot.object->getSlot(slot.slot);
      at::Tensor lazy = builder.add_parameter(original.toTensor(), slot.name, slot.residency);
      restore.saved.emplace_back(&slot, std::move(original));
      slot.object->setSlot(slot.slot, std::move(lazy));
    }
    // Each node is named by the module whose method is running (module_scopes.h).
    if (!scopes_) scopes_.emplace(module_);
    ModuleScopes::Tracking frames(*scopes_);
    struct AnnotatorReset {
      GraphBuilder& builder;
      ~AnnotatorReset() { builder.set_node_annotator(nullptr); }
    } annotator_reset{builder};
    builder.set_node_annotator([&frames](Node& node) {
      const ModuleScope& scope = frames.current();
      node.scope = scope.path;
      node.module_type = scope.type;
    });
    // The model's own operators, as written: no profiling runs and no JIT fusion (a fused
    // group would hide the operators and cost a compilation per loaded model).
    torch::jit::GraphOptimizerEnabledGuard no_jit_optimization(false);
    // Work the model forks (torch.jit.fork) runs at once on this thread, not on the inter-op
    // pool: the builder and the frame stack are this thread's, and every capture records the
    // forked operators in the same order.
    c10::intrusive_ptr<c10::ivalue::Future> done =
        module_.get_method(method_).run_async(with_defaults(inputs), {}, [](std::function<void()> task) { task(); });
    // Only a future the model did not fork here (an RPC's) can still be pending.
    if (!done->completed())
      fail(ErrorKind::kUnsupported, "the model waits on work done elsewhere (not torch.jit.fork): it cannot be captured");
    // The model's error comes out as c10::ivalue::Future::FutureError, its text the interpreter's.
    return named_outputs(done->value());
  }

  std::vector<std::pair<std::string, at::Tensor>> run_eager(const std::vector<at::Tensor>& inputs) override {
    // A copy of the module that shares its tensors runs eagerly: a method keeps the graph it
    // was first optimised into, and with the optimizer on (as here) submodule calls are
    // inlined, so a capture of the same methods afterwards would see no submodule's frame.
    if (!eager_) eager_ = module_.clone(/*inplace=*/true);
    c10::InferenceMode inference;
    return named_outputs(eager_->get_method(method_)(with_defaults(inputs)));
  }

  void to(const c10::Device& device) override {
    module_.to(device);
    if (eager_) eager_->to(device);  // a no-op where it shares the tensors just moved in place
  }

  std::unique_ptr<ModelFrontEnd> optimized_for_inference() const override {
    try {
      std::optional<std::vector<std::string>> keep;
      if (method_ != "forward") keep = std::vector<std::string>{method_};
      torch::jit::Module frozen = torch::jit::freeze(module_, keep, /*optimize_numerics=*/true);
      return std::make_unique<TorchScriptModel>(torch::jit::optimize_for_inference(frozen), method_);
    } catch (const c10::Error& e) {
      fail(ErrorKind::kUnsupported, "torch::jit::freeze/optimize_for_inference failed on the model: " +
                                        error_summary(e.what_without_backtrace()));
    }
  }

 private:
  const c10::FunctionSchema& schema() const { return module_.get_method(method_).function().getSchema(); }

  // The method's arguments: `inputs`, then the declared defaults of those not given
  // (mask=None, is_causal=False).
  std::vector<c10::IValue> with_defaults(const std::vector<at::Tensor>& inputs) const {
    std::vector<c10::IValue> args(inputs.begin(), inputs.end());
    const auto& declared = schema().arguments();
    for (size_t i = args.size() + 1; i < declared.size(); ++i) args.push_back(*declared[i].default_value());
    return args;
  }

  torch::jit::Module module_;  // captured; its methods run only with the JIT optimizer off
  std::optional<torch::jit::Module> eager_;
  std::string method_;
  std::optional<std::vector<TensorSlot>> slots_;
  std::optional<ModuleScopes> scopes_;
};

bool starts_with_zip_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

}  // namespace

std::unique_ptr<ModelFrontEnd> model_open(const std::string& path, const std::string& method) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) fail(ErrorKind::kIo, path + ": cannot open: " + std::strerror(errno));
  probe.close();
  if (!starts_with_zip_magic(path))
    fail(ErrorKind::kBadInput, path + ": not a model file (expected a TorchScript or torch.export archive, a zip file)");
  if (is_pt2_archive(path)) return exported_model_open(path, method);
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::Device(c10::kCPU));
  } catch (const c10::Error& e) {
    const std::string message = first_line(e.what_without_backtrace());
    // An archive that does not open as a zip is neither kind; miniz's advice after its
    // first sentence says nothing the user can act on.
    if (message.rfind("PytorchStreamReader failed", 0) == 0)
      fail(ErrorKind::kBadInput, path + ": not a readable model archive (TorchScript or .pt2): " +
                                     message.substr(0, message.find(". This is an internal miniz error")));
    fail(ErrorKind::kBadInput, path + ": not a loadable TorchScript model: " + message);
  } catch (const std::exception& e) {
    fail(ErrorKind::kBadInput, path + ": not a loadable TorchScript model: " + first_line(e.what()));
  }
  return std::make_unique<TorchScriptModel>(std::move(module), method);
}

namespace {

// One capture; nullopt when it was made without functionalization and the model needs it.
std::optional<CapturedModel> capture_once(ModelFrontEnd& model, const std::vector<at::Tensor>& inputs,
                                          const ExecOptions& options, bool functionalize) {
  const std::vector<std::string> names = model.input_names();
  c10::InferenceMode inference;  // capture records no autograd history
  CaptureScope scope(options);
  GraphBuilder& builder = scope.builder();
  builder.set_functionalize(functionalize);
  std::vector<at::Tensor> lazy;
  for (size_t i = 0; i < inputs.size(); ++i) lazy.push_back(builder.add_input(inputs[i], names[i]));
  std::vector<std::pair<std::string, at::Tensor>> outputs;
  try {
    outputs = model.run(builder, lazy);
  } catch (const c10::Error& e) {
    if (builder.functionalization_needed()) return std::nullopt;
    fail(ErrorKind::kRuntime, "the model failed on the given inputs: " + error_summary(e.what_without_backtrace()));
  } catch (const Error&) {
    if (builder.functionalization_needed()) return std::nullopt;
    throw;
  } catch (const std::exception& e) {
    if (builder.functionalization_needed()) return std::nullopt;
    fail(ErrorKind::kRuntime, "the model failed on the given inputs: " + error_summary(e.what()));
  }
  if (outputs.empty()) fail(ErrorKind::kRuntime, "the model returned no tensor");
  for (const auto& [name, tensor] : outputs) {
    if (!is_lazy(tensor)) fail(ErrorKind::kRuntime, "output \"" + name + "\" does not depend on the graph");
    builder.add_output(name, tensor);
  }
  CapturedModel result;
  result.functionalized = functionalize;
  for (const NamedValue& p : builder.graph().parameters) {
    at::Tensor t = builder.stored_tensor(p.value);
    result.weights.emplace_back(p.name, t.device().is_cpu() && t.is_contiguous() ? t : t.cpu().contiguous());
  }
  result.graph = builder.take_graph();
  model.annotate(result.graph);
  result.graph.annotations["producer"] = "genie-capture";
  result.graph.annotations["source_format"] = model.format();
  return result;
}

}  // namespace

CapturedModel model_capture(ModelFrontEnd& model, const std::vector<at::Tensor>& inputs, const ExecOptions& options,
                            Functionalization functionalization) {
  const std::vector<std::string> names = model.input_names();
  const size_t required = model.required_inputs();
  if (inputs.size() < required || inputs.size() > names.size()) {
    std::string list;
    for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i] + (i < required ? "" : "?");
    std::string count = required == names.size() ? std::to_string(required)
                                                 : std::to_string(required) + " to " + std::to_string(names.size());
    fail(ErrorKind::kUsage, "the model takes " + count + " input" + (names.size() == 1 ? "" : "s") + " (" + list +
                                "), " + std::to_string(inputs.size()) + " given");
  }
  if (std::vector<std::string> others = model.non_tensor_inputs(inputs.size()); !others.empty()) {
    std::string list;
    for (const std::string& o : others) list += (list.empty() ? "" : ", ") + o;
    fail(ErrorKind::kUnsupported, "the model takes inputs that are not tensors (" + list +
                                      "); genie-capture gives tensors only: capture a wrapper whose inputs are tensors");
  }
  // Most models never write through a view: they are captured without functionalization's
  // wrappers, which cost a quarter of a capture. One that does is caught at that write and
  // captured again with them (the model is left as it was either way).
  if (functionalization == Functionalization::kWhenNeeded && !model.writes_through_views) {
    if (std::optional<CapturedModel> fast = capture_once(model, inputs, options, false)) return std::move(*fast);
    model.writes_through_views = true;
  }
  return *capture_once(model, inputs, options, true);
}

}  // namespace genie
