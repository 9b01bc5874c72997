#include "capture/model_capture.h"

#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/script.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "capture/exported_model.h"
#include "capture/exported_program.h"
#include "capture/lazy_tensor.h"
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

// The module paths of a TorchScript module tree by the path its interpreter frames give:
// a container without forward (ModuleList, ModuleDict) is no frame of its own, so
// "encoder.layer.0" appears as "encoder.0". Frame paths that another module would give too,
// or that are some module's own path, are left out (the frame path stays as it is).
std::unordered_map<std::string, std::string> module_paths_by_frame_path(const torch::jit::Module& root) {
  std::unordered_map<std::string, std::string> paths;
  std::unordered_set<std::string> ambiguous;
  std::function<void(const torch::jit::Module&, const std::string&, const std::string&)> walk =
      [&](const torch::jit::Module& module, const std::string& path, const std::string& frame_path) {
        for (const auto& child : module.named_children()) {
          const std::string child_path = path.empty() ? child.name : path + "." + child.name;
          const bool is_frame = child.value.find_method("forward").has_value();
          const std::string child_frame = !is_frame ? frame_path
                                          : frame_path.empty() ? child.name
                                                               : frame_path + "." + child.name;
          if (is_frame && child_frame == child_path) ambiguous.insert(child_frame);  // a module's own path
          if (is_frame && child_frame != child_path && !ambiguous.count(child_frame)) {
            if (!paths.emplace(child_frame, child_path).second) {
              paths.erase(child_frame);
              ambiguous.insert(child_frame);
            }
          }
          walk(child.value, child_path, child_frame);
        }
      };
  walk(root, "", "");
  for (const std::string& path : ambiguous) paths.erase(path);
  return paths;
}

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
    module_paths_ = module_paths_by_frame_path(module_);
  }

  std::string format() const override { return "torchscript"; }

  std::vector<std::string> input_names() const override {
    const auto& args = schema().arguments();
    std::vector<std::string> names;
    for (size_t i = 1; i < args.size(); ++i) names.push_back(clean_name(args[i].name()));  // [0] is self
    return names;
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
    struct AnnotatorReset {
      GraphBuilder& builder;
      ~AnnotatorReset() { builder.set_node_annotator(nullptr); }
    } annotator_reset{builder};
    builder.set_node_annotator([this](Node& node) {
      const std::vector<std::string> frames = torch::jit::currentModuleHierarchy();
      // A model has few distinct stacks of frames: each is parsed once.
      scope_key_.clear();
      for (const std::string& frame : frames) scope_key_.append(frame).push_back('\n');
      auto known = scopes_.find(scope_key_);
      if (known == scopes_.end()) {
        auto [scope, type] = module_scope_of(frames);
        auto real = module_paths_.find(scope);
        if (real != module_paths_.end()) scope = real->second;
        known = scopes_.emplace(scope_key_, std::make_pair(std::move(scope), std::move(type))).first;
      }
      node.scope = known->second.first;
      node.module_type = known->second.second;
    });
    // The model's own operators, as written: no profiling runs and no JIT fusion (a fused
    // group would hide the operators and cost a compilation per loaded model).
    torch::jit::GraphOptimizerEnabledGuard no_jit_optimization(false);
    // Inputs not given take their declared defaults (mask=None, is_causal=False).
    std::vector<c10::IValue> args(inputs.begin(), inputs.end());
    const auto& declared = schema().arguments();
    for (size_t i = args.size() + 1; i < declared.size(); ++i) args.push_back(*declared[i].default_value());
    return named_outputs(module_.get_method(method_)(std::move(args)));
  }

  std::vector<std::pair<std::string, at::Tensor>> run_eager(const std::vector<at::Tensor>& inputs) override {
    c10::InferenceMode inference;
    std::vector<c10::IValue> args(inputs.begin(), inputs.end());
    const auto& declared = schema().arguments();
    for (size_t i = args.size() + 1; i < declared.size(); ++i) args.push_back(*declared[i].default_value());
    return named_outputs(module_.get_method(method_)(std::move(args)));
  }

  void to(const c10::Device& device) override { module_.to(device); }

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

  torch::jit::Module module_;
  std::string method_;
  std::optional<std::vector<TensorSlot>> slots_;
  std::unordered_map<std::string, std::string> module_paths_;  // module_paths_by_frame_path
  // (scope, module type) by the interpreter's frames, joined by newlines
  std::unordered_map<std::string, std::pair<std::string, std::string>> scopes_;
  std::string scope_key_;
};

bool starts_with_zip_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

}  // namespace

std::pair<std::string, std::string> module_scope_of(const std::vector<std::string>& frames) {
  std::string scope, type;
  for (const std::string& frame : frames) {
    // "NAME(TYPE)::method"; "TOP(...)" is the root, "SELF(...)" a method of the same module,
    // "::function" a free function: only named submodules extend the path.
    auto open = frame.find('(');
    auto close = frame.find(")::");
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::string name = frame.substr(0, open);
    // A method of the same module, or a TorchScript function called from one (frames of
    // functions not inlined: "CALL_FUNCTION::multi_head_attention_forward()::...").
    if (name == "SELF" || name.rfind("CALL_FUNCTION::", 0) == 0) continue;
    if (name == "TOP") {
      type = frame.substr(open + 1, close - open - 1);
      continue;
    }
    scope += (scope.empty() ? "" : ".") + name;
    type = frame.substr(open + 1, close - open - 1);
  }
  // TorchScript qualifies types: "__torch__.torchvision.models.resnet.BasicBlock" -> "BasicBlock".
  auto dot = type.rfind('.');
  if (dot != std::string::npos) type = type.substr(dot + 1);
  return {scope, type};
}

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
