#include "capture/exported_model.h"

#include <ATen/ScalarOps.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>
#include <unordered_map>

#include "capture/device.h"
#include "capture/exported_program.h"
#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

using nlohmann::json;
using c10::IValue;
using Env = std::unordered_map<std::string, IValue>;

// Reading a node cannot fail for reasons of the file (the program was checked when read)
// except in ways the checks do not cover; those are the program's fault, said so.
[[noreturn]] void bad_node(const ProgramNode& node, const std::string& what) {
  const json* name = node.json->contains("name") ? &node.json->at("name") : nullptr;
  fail(ErrorKind::kBadInput, "node " + (name && name->is_string() ? name->get<std::string>() : node.target) + " (" +
                                 node.target + "): " + what);
}

double json_float(const json& v) {
  if (v.is_string()) {  // the serializer spells non-finite floats as strings
    const std::string s = v.get<std::string>();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return v.get<double>();
}

c10::MemoryFormat export_memory_format(int value) {
  switch (value) {
    case 1: return c10::MemoryFormat::Contiguous;
    case 2: return c10::MemoryFormat::ChannelsLast;
    case 3: return c10::MemoryFormat::ChannelsLast3d;
    case 4: return c10::MemoryFormat::Preserve;
  }
  fail(ErrorKind::kUnsupported, "memory format " + std::to_string(value) + " of the export schema is not known to Genie");
}

// Runs a program's nodes on the tensors in `env` (its inputs by graph name).
class Interpreter {
 public:
  Interpreter(const ExportedProgram& program, c10::Device device) : program_(program), device_(device) {}

  // Called before each operator node runs (capture sets the module scope from it).
  const ProgramNode* current() const { return current_; }

  std::vector<std::pair<std::string, at::Tensor>> run(Env& env) {
    for (const ProgramNode& node : program_.nodes) {
      current_ = &node;
      try {
        switch (node.kind) {
          case ProgramNode::Kind::kAssertion: break;
          case ProgramNode::Kind::kSymbolic: bind(node, {symbolic(node, env)}, env); break;
          case ProgramNode::Kind::kOperator: {
            torch::jit::Stack stack = arguments(node, env);
            node.op->callBoxed(&stack);
            bind(node, stack, env);
            break;
          }
        }
      } catch (const json::exception& e) {  // a field of the wrong kind: the file's fault
        bad_node(node, e.what());
      }
    }
    current_ = nullptr;
    // Named as the TorchScript front end names them: "output", or "output0", "output1"...
    std::vector<std::pair<std::string, at::Tensor>> outputs;
    const auto& names = program_.user_outputs;
    for (size_t i = 0; i < names.size(); ++i) {
      auto it = env.find(names[i]);
      if (it == env.end() || !it->second.isTensor()) fail(ErrorKind::kBadInput, "output " + names[i] + " is never computed");
      outputs.emplace_back(names.size() == 1 ? "output" : "output" + std::to_string(i), it->second.toTensor());
    }
    return outputs;
  }

 private:
  const IValue& lookup(const ProgramNode& node, const std::string& name, const Env& env) const {
    auto it = env.find(name);
    if (it == env.end()) bad_node(node, "uses " + name + " before it is computed");
    return it->second;
  }

  at::Tensor tensor(const ProgramNode& node, const json& arg, const Env& env) const {
    const IValue& v = lookup(node, arg.at("name").get<std::string>(), env);
    if (!v.isTensor()) bad_node(node, arg.at("name").get<std::string>() + " is not a tensor");
    return v.toTensor();
  }

  IValue sym(const ProgramNode& node, const json& arg, const Env& env) const {
    const std::string& tag = export_union_tag(arg);
    if (tag == "as_name") return lookup(node, arg.at("as_name").get<std::string>(), env);
    if (tag == "as_int") return arg.at("as_int").get<int64_t>();
    if (tag == "as_float") return json_float(arg.at("as_float"));
    if (tag == "as_bool") return arg.at("as_bool").get<bool>();
    bad_node(node, "a symbolic value of kind " + tag);
  }

  // An argument of the serialized graph as the operator takes it. `type` (may be null)
  // settles what the spelling leaves open: an integer written for a float argument.
  IValue value(const ProgramNode& node, const json& arg, const c10::TypePtr& type, const Env& env) const {
    const std::string& tag = export_union_tag(arg);
    const json& v = arg.at(tag);
    c10::TypePtr base = type;
    if (base)
      if (auto opt = base->cast<c10::OptionalType>()) base = opt->getElementType();
    const bool wants_float = base && base->kind() == c10::TypeKind::FloatType;
    // A Python number where the operator takes a tensor (x * 2 exported as aten.mul.Tensor):
    // a wrapped-number tensor, as PyTorch's Python binding makes it.
    // The same for a size computed in the program (x / x.shape[1]).
    if (base && base->kind() == c10::TypeKind::TensorType &&
        (tag == "as_int" || tag == "as_float" || tag == "as_bool" || tag == "as_sym_int" || tag == "as_sym_float" ||
         tag == "as_sym_bool")) {
      IValue number = tag == "as_int"     ? IValue(v.get<int64_t>())
                      : tag == "as_float" ? IValue(json_float(v))
                      : tag == "as_bool"  ? IValue(v.get<bool>())
                                          : sym(node, v, env);
      at::Tensor t = at::scalar_to_tensor(number.toScalar());
      t.unsafeGetTensorImpl()->set_wrapped_number(true);
      return t;
    }
    if (tag == "as_none") return IValue();
    if (tag == "as_tensor") return tensor(node, v, env);
    if (tag == "as_tensors") {
      std::vector<at::Tensor> list;
      for (const json& t : v) list.push_back(tensor(node, t, env));
      return list;
    }
    if (tag == "as_optional_tensor") {
      if (export_union_tag(v) == "as_tensor") return tensor(node, v.at("as_tensor"), env);
      return IValue();
    }
    if (tag == "as_optional_tensors") {
      c10::List<std::optional<at::Tensor>> list;
      for (const json& t : v)
        list.push_back(export_union_tag(t) == "as_tensor" ? std::optional<at::Tensor>(tensor(node, t.at("as_tensor"), env))
                                                   : std::nullopt);
      return list;
    }
    if (tag == "as_int") return wants_float ? IValue(static_cast<double>(v.get<int64_t>())) : IValue(v.get<int64_t>());
    if (tag == "as_ints") return v.get<std::vector<int64_t>>();
    if (tag == "as_float") return json_float(v);
    if (tag == "as_floats") {
      std::vector<double> list;
      for (const json& x : v) list.push_back(json_float(x));
      return list;
    }
    if (tag == "as_bool") return v.get<bool>();
    if (tag == "as_bools") {
      c10::List<bool> list;
      for (const json& x : v) list.push_back(x.get<bool>());
      return list;
    }
    if (tag == "as_string") return v.get<std::string>();
    if (tag == "as_strings") {
      c10::List<std::string> list;
      for (const json& x : v) list.push_back(x.get<std::string>());
      return list;
    }
    if (tag == "as_sym_int" || tag == "as_sym_float" || tag == "as_sym_bool") return sym(node, v, env);
    if (tag == "as_sym_ints") {
      std::vector<int64_t> list;
      for (const json& x : v) {
        IValue i = sym(node, x, env);
        if (!i.isInt()) bad_node(node, "a size that is not an integer");
        list.push_back(i.toInt());
      }
      return list;
    }
    if (tag == "as_scalar_type") return export_scalar_type(v.get<int>());
    if (tag == "as_memory_format") return export_memory_format(v.get<int>());
    if (tag == "as_layout") {
      if (v.get<int>() != 7) fail(ErrorKind::kUnsupported, "node " + node.target + ": only strided tensors (layout 7) are supported");
      return c10::kStrided;
    }
    // The program ran where it was exported (cpu); here every tensor lives on the run's device.
    if (tag == "as_device") return device_;
    if (tag == "as_complex") return c10::complex<double>(json_float(v.at("real")), json_float(v.at("imag")));
    fail(ErrorKind::kUnsupported, "node " + node.target + ": arguments of kind " + tag + " are not supported");
  }

  torch::jit::Stack arguments(const ProgramNode& node, const Env& env) const {
    const c10::FunctionSchema& schema = node.op->schema();
    std::unordered_map<std::string, const json*> given;
    for (const json& named : node.json->at("inputs")) given[named.at("name").get<std::string>()] = &named.at("arg");
    torch::jit::Stack stack;
    stack.reserve(schema.arguments().size());
    for (const c10::Argument& a : schema.arguments()) {
      auto it = given.find(a.name());
      if (it != given.end()) stack.push_back(value(node, *it->second, a.type(), env));
      else if (a.default_value()) stack.push_back(*a.default_value());  // the serializer leaves defaults out
      else bad_node(node, "argument \"" + a.name() + "\" is missing");
    }
    return stack;
  }

  void bind(const ProgramNode& node, const std::vector<IValue>& results, Env& env) const {
    const json& outputs = node.json->at("outputs");
    for (size_t i = 0; i < outputs.size() && i < results.size(); ++i) {
      const std::string& tag = export_union_tag(outputs[i]);
      const json& out = outputs[i].at(tag);
      if (tag == "as_tensor") {
        env[out.at("name").get<std::string>()] = results[i];
      } else if (tag == "as_tensors") {
        std::vector<at::Tensor> list = results[i].toTensorVector();
        for (size_t k = 0; k < out.size() && k < list.size(); ++k) env[out[k].at("name").get<std::string>()] = list[k];
      } else if (tag == "as_sym_int" || tag == "as_sym_float" || tag == "as_sym_bool") {
        if (export_union_tag(out) == "as_name") env[out.at("as_name").get<std::string>()] = results[i];
      }
    }
  }

  // Sizes and arithmetic on them: concrete numbers here, since the graph is specialised to
  // the shapes it runs with.
  IValue symbolic(const ProgramNode& node, const Env& env) const {
    std::vector<IValue> args;
    for (const json& named : node.json->at("inputs")) args.push_back(value(node, named.at("arg"), nullptr, env));
    const std::string& t = node.target;
    auto int_arg = [&](size_t i) {
      if (i >= args.size() || !args[i].isInt()) bad_node(node, "expected an integer argument");
      return args[i].toInt();
    };
    auto tensor_arg = [&]() {
      if (args.empty() || !args[0].isTensor()) bad_node(node, "expected a tensor argument");
      return args[0].toTensor();
    };
    if (t == "torch.ops.aten.sym_size.int") return tensor_arg().size(int_arg(1));
    if (t == "torch.ops.aten.sym_stride.int") return tensor_arg().stride(int_arg(1));
    if (t == "torch.ops.aten.sym_numel.default") return tensor_arg().numel();
    if (t == "torch.ops.aten.sym_storage_offset.default") return tensor_arg().storage_offset();
    if (t == "_operator.neg") return -int_arg(0);
    if (t == "torch.sym_not") {
      if (args.empty() || !args[0].isBool()) bad_node(node, "expected a boolean argument");
      return !args[0].toBool();
    }
    const int64_t a = int_arg(0), b = int_arg(1);
    if (t == "_operator.add") return a + b;
    if (t == "_operator.sub") return a - b;
    if (t == "_operator.mul") return a * b;
    if (t == "_operator.floordiv" || t == "_operator.mod") {  // Python's: rounding towards -inf
      if (b == 0) bad_node(node, "division by zero");
      int64_t q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return t == "_operator.floordiv" ? q : a - q * b;
    }
    if (t == "_operator.eq") return a == b;
    if (t == "_operator.ne") return a != b;
    if (t == "_operator.lt") return a < b;
    if (t == "_operator.le") return a <= b;
    if (t == "_operator.gt") return a > b;
    if (t == "_operator.ge") return a >= b;
    if (t == "torch.sym_max") return std::max(a, b);
    if (t == "torch.sym_min") return std::min(a, b);
    bad_node(node, "unknown symbolic operation");
  }

  const ExportedProgram& program_;
  c10::Device device_;
  const ProgramNode* current_ = nullptr;
};

std::string dims_spelling(const ProgramInput& in) {
  std::string s;
  for (const ProgramDim& d : in.dims) s += (s.empty() ? "" : "x") + (d.symbol.empty() ? std::to_string(d.example) : d.symbol);
  return (s.empty() ? "scalar" : s) + ":" + std::string(dtype_name(to_dtype(in.dtype)));
}

class ExportedModel final : public ModelFrontEnd {
 public:
  explicit ExportedModel(std::shared_ptr<const ExportedProgram> program) : program_(std::move(program)) {}

  std::string format() const override { return "torch.export"; }

  std::vector<std::string> input_names() const override {
    std::vector<std::string> names;
    for (const ProgramInput& in : program_->inputs)
      if (in.kind == ProgramInput::Kind::kUser) names.push_back(in.graph_name);
    return names;
  }

  size_t required_inputs() const override { return program_->user_input_count(); }

  std::vector<TensorType> example_input_types() const override {
    std::vector<TensorType> types;
    for (const ProgramInput& in : program_->inputs) {
      if (in.kind != ProgramInput::Kind::kUser) continue;
      TensorType type;
      type.dtype = to_dtype(in.dtype);
      for (const ProgramDim& d : in.dims) type.shape.push_back(d.example);
      types.push_back(type);
    }
    return types;
  }

  void annotate(Graph& graph) const override {
    nlohmann::json dynamic = nlohmann::json::object();
    for (const ProgramInput& in : program_->inputs)
      for (size_t d = 0; d < in.dims.size(); ++d) {
        const ProgramDim& dim = in.dims[d];
        if (dim.symbol.empty()) continue;
        nlohmann::json entry = {{"symbol", dim.symbol}, {"min", dim.min}};
        if (dim.max != std::numeric_limits<int64_t>::max()) entry["max"] = dim.max;
        dynamic[in.graph_name][std::to_string(d)] = entry;
      }
    if (!dynamic.empty()) graph.annotations["dynamic_dims"] = dynamic;
  }

  std::vector<std::pair<std::string, at::Tensor>> run(GraphBuilder& builder,
                                                      const std::vector<at::Tensor>& inputs) override {
    check_inputs(inputs);
    Interpreter interpreter(*program_, remote_accelerator(0));
    Env env;
    size_t user = 0;
    for (const ProgramInput& in : program_->inputs) {
      at::Tensor t;
      switch (in.kind) {
        case ProgramInput::Kind::kUser: t = inputs[user++]; break;
        case ProgramInput::Kind::kParameter: t = builder.add_parameter(in.data, in.model_name, Residency::kParameter); break;
        case ProgramInput::Kind::kBuffer: t = builder.add_parameter(in.data, in.model_name, Residency::kBuffer); break;
        case ProgramInput::Kind::kConstant: t = builder.add_parameter(in.data, in.model_name, Residency::kConstant); break;
      }
      env[in.graph_name] = t;
    }
    struct AnnotatorReset {
      GraphBuilder& builder;
      ~AnnotatorReset() { builder.set_node_annotator(nullptr); }
    } annotator_reset{builder};
    builder.set_node_annotator([&interpreter](Node& node) {
      if (const ProgramNode* current = interpreter.current()) {
        node.scope = current->scope;
        node.module_type = current->module_type;
      }
    });
    return interpreter.run(env);
  }

  std::vector<std::pair<std::string, at::Tensor>> run_eager(const std::vector<at::Tensor>& inputs) override {
    check_inputs(inputs);
    c10::InferenceMode inference;
    Interpreter interpreter(*program_, device_);
    Env env;
    size_t user = 0, stored = 0;
    for (const ProgramInput& in : program_->inputs) {
      if (in.kind == ProgramInput::Kind::kUser) env[in.graph_name] = inputs[user++];
      else env[in.graph_name] = moved_.empty() ? in.data : moved_[stored++];
    }
    return interpreter.run(env);
  }

  void to(const c10::Device& device) override {
    device_ = device;
    moved_.clear();
    for (const ProgramInput& in : program_->inputs)
      if (in.kind != ProgramInput::Kind::kUser) moved_.push_back(in.data.to(device));
  }

  std::unique_ptr<ModelFrontEnd> optimized_for_inference() const override {
    fail(ErrorKind::kUnsupported, "a torch.export program has no optimised form here (TorchScript models do: "
                                  "freeze + optimize_for_inference)");
  }

 private:
  // The inputs must be what the program was exported for: its dtypes, its static sizes,
  // and its dynamic sizes within their declared ranges.
  void check_inputs(const std::vector<at::Tensor>& inputs) const {
    if (inputs.size() != program_->user_input_count())
      fail(ErrorKind::kUsage, "the program takes " + std::to_string(program_->user_input_count()) + " inputs, " +
                                  std::to_string(inputs.size()) + " given");
    size_t i = 0;
    for (const ProgramInput& in : program_->inputs) {
      if (in.kind != ProgramInput::Kind::kUser) continue;
      const at::Tensor& t = inputs[i++];
      const std::string given = tensor_type_spec(TensorType{to_dtype(t.scalar_type()), t.sizes().vec(), {}});
      const std::string prefix = "input \"" + in.graph_name + "\" is " + given + "; the program takes " + dims_spelling(in);
      std::string ranges;
      for (const ProgramDim& d : in.dims)
        if (!d.symbol.empty())
          ranges += (ranges.empty() ? " (" : ", ") + d.symbol + " in " + std::to_string(d.min) + ".." +
                    (d.max == std::numeric_limits<int64_t>::max() ? std::string("inf") : std::to_string(d.max));
      if (!ranges.empty()) ranges += ")";
      if (t.scalar_type() != in.dtype) fail(ErrorKind::kUsage, prefix + ranges + ": the dtype differs");
      if (t.dim() != static_cast<int64_t>(in.dims.size()))
        fail(ErrorKind::kUsage, prefix + ranges + ": " + std::to_string(in.dims.size()) + " dimensions, not " +
                                    std::to_string(t.dim()));
      for (size_t d = 0; d < in.dims.size(); ++d) {
        const ProgramDim& dim = in.dims[d];
        const int64_t size = t.size(d);
        const bool ok = dim.symbol.empty() ? size == dim.example : size >= dim.min && size <= dim.max;
        if (!ok)
          fail(ErrorKind::kUsage, prefix + ranges + ": dimension " + std::to_string(d) + " is " + std::to_string(size) +
                                      (dim.symbol.empty() ? ", not " + std::to_string(dim.example) : ", outside its range"));
      }
    }
  }

  std::shared_ptr<const ExportedProgram> program_;
  c10::Device device_ = c10::Device(c10::kCPU);
  std::vector<at::Tensor> moved_;  // stored tensors on device_ after to()
};

}  // namespace

std::unique_ptr<ModelFrontEnd> exported_model_open(const std::string& path, const std::string& method) {
  if (method != "forward")
    fail(ErrorKind::kUsage, path + ": a torch.export program has one method, forward (asked for \"" + method + "\")");
  return std::make_unique<ExportedModel>(std::make_shared<const ExportedProgram>(exported_program_read(path)));
}

}  // namespace genie
