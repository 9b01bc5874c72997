#include "capture/capture_kernel.h"

#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <ATen/FunctionalTensorWrapper.h>
#include <ATen/core/jit_type.h>
#include <ATen/ops/empty_strided.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "capture/graph_builder.h"
#include "capture/kernel_registration.h"
#include "capture/lazy_tensor.h"
#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

using c10::IValue;

// ---------------------------------------------------------------------------------------
// Tensor lists, however the caller typed them

// A list argument holding tensors: Tensor[] (entries all defined) or Tensor?[] (entries
// may be None). Decided by the list's element type, not by IValue::isTensorList and
// isOptionalTensorList: those compare with Optional[Tensor] itself, and TorchScript's traced
// graphs type a list by what they saw (`table[index]` passes an Optional[Long(49, 49)][]), so
// such a list would pass as neither and its LazyTensors would go unseen.
enum class TensorListKind { kNotOne, kTensors, kOptionalTensors };

TensorListKind tensor_list_kind(const IValue& v) {
  if (!v.isList()) return TensorListKind::kNotOne;
  c10::TypePtr element = v.toList().elementType();
  if (element->kind() == c10::TypeKind::TensorType) return TensorListKind::kTensors;
  if (auto optional = element->cast<c10::OptionalType>())
    if (optional->getElementType()->kind() == c10::TypeKind::TensorType) return TensorListKind::kOptionalTensors;
  return TensorListKind::kNotOne;
}

// Calls fn(tensor) for each entry of a tensor list (an undefined tensor for a None entry).
template <typename Fn>
void for_each_listed_tensor(const IValue& list, Fn&& fn) {
  for (const IValue& e : list.toListRef()) fn(e.isTensor() ? e.toTensor() : at::Tensor());
}

// ---------------------------------------------------------------------------------------
// Output types, cached by (operator, argument types and constant values)

struct TensorMeta {
  c10::ScalarType dtype;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  TensorType type;  // the same, as the graph holds it (no strides when contiguous)
};
struct ReturnMeta {
  bool is_list = false;
  // A Tensor result the call left undefined: an optional result not asked for (the attention
  // weights of aten::_native_multi_head_attention when need_weights is false).
  bool absent = false;
  std::vector<TensorMeta> tensors;
};
using OutputMeta = std::vector<ReturnMeta>;

// Entries live as long as their thread (node-based map: lookups hand out stable pointers).
struct ShapeCache {
  std::unordered_map<std::string, OutputMeta> entries;
  std::string key;  // reused: building the key allocates nothing once warm
  size_t hits = 0, misses = 0;
};
ShapeCache& shape_cache() {
  thread_local ShapeCache cache;
  return cache;
}

void key_append(std::string& key, const void* data, size_t size) { key.append(static_cast<const char*>(data), size); }
template <typename T>
void key_put(std::string& key, T v) {
  key_append(key, &v, sizeof v);
}

void key_tensor(std::string& key, const at::Tensor& t) {
  if (!t.defined()) {
    key.push_back('u');
    return;
  }
  key.push_back(is_lazy(t) ? 'T' : (t.unsafeGetTensorImpl()->is_wrapped_number() ? 'w' : 'R'));
  key_put(key, static_cast<int8_t>(t.scalar_type()));
  key_put(key, static_cast<int8_t>(t.dim()));
  key_append(key, t.sizes().data(), t.dim() * sizeof(int64_t));
  key_append(key, t.strides().data(), t.dim() * sizeof(int64_t));
}

// Appends what decides the output types. Returns false for an argument that cannot be keyed
// (a Generator, an unknown kind): such calls are not cached.
bool key_ivalue(std::string& key, const IValue& v) {
  if (v.isTensor()) {
    key_tensor(key, v.toTensor());
  } else if (v.isNone()) {
    key.push_back('n');
  } else if (v.isInt()) {
    key.push_back('i');
    key_put(key, v.toInt());
  } else if (v.isDouble()) {
    key.push_back('d');
    key_put(key, v.toDouble());
  } else if (v.isBool()) {
    key.push_back(v.toBool() ? 'y' : 'f');
  } else if (v.isIntList()) {
    key.push_back('I');
    auto list = v.toIntList();
    key_put(key, list.size());
    for (int64_t x : list) key_put(key, x);
  } else if (TensorListKind kind = tensor_list_kind(v); kind != TensorListKind::kNotOne) {
    key.push_back(kind == TensorListKind::kTensors ? 'L' : 'O');
    key_put(key, v.toListRef().size());
    for_each_listed_tensor(v, [&](const at::Tensor& t) { key_tensor(key, t); });
  } else if (v.isDoubleList()) {
    key.push_back('D');
    auto list = v.toDoubleList();
    key_put(key, list.size());
    for (double x : list) key_put(key, x);
  } else if (v.isBoolList()) {
    key.push_back('B');
    auto list = v.toBoolList();
    key_put(key, list.size());
    for (bool x : list) key.push_back(x ? '1' : '0');
  } else if (v.isString()) {
    key.push_back('s');
    const std::string& s = v.toStringRef();
    key_put(key, s.size());
    key += s;
  } else if (v.isDevice()) {
    key.push_back('v');
    key_put(key, static_cast<int16_t>(v.toDevice().type()));
    key_put(key, v.toDevice().index());
  } else if (v.isComplexDouble()) {
    key.push_back('c');
    key_put(key, v.toComplexDouble());
  } else if (v.isSymInt() && !v.toSymInt().is_symbolic()) {
    key.push_back('i');
    key_put(key, v.toSymInt().as_int_unchecked());
  } else {
    return false;
  }
  return true;
}

at::Tensor to_meta(const at::Tensor& t) {
  if (!t.defined()) return t;
  at::Tensor meta = at::empty_strided(t.sizes(), t.strides(), at::TensorOptions().dtype(t.scalar_type()).device(c10::kMeta));
  if (t.unsafeGetTensorImpl()->is_wrapped_number()) meta.unsafeGetTensorImpl()->set_wrapped_number(true);
  return meta;
}

// The argument list with every tensor replaced by `convert(tensor)` and every device of
// ours by `device`.
template <typename Convert>
std::vector<IValue> map_tensors(c10::ArrayRef<IValue> args, Convert&& convert, const c10::Device& device) {
  std::vector<IValue> out;
  out.reserve(args.size());
  for (const IValue& v : args) {
    if (v.isTensor()) {
      out.emplace_back(convert(v.toTensor()));
    } else if (TensorListKind kind = tensor_list_kind(v); kind == TensorListKind::kTensors) {
      std::vector<at::Tensor> list;
      for_each_listed_tensor(v, [&](const at::Tensor& t) { list.push_back(convert(t)); });
      out.emplace_back(std::move(list));
    } else if (kind == TensorListKind::kOptionalTensors) {
      c10::List<std::optional<at::Tensor>> list;
      for_each_listed_tensor(v, [&](const at::Tensor& t) {
        list.push_back(t.defined() ? std::optional<at::Tensor>(convert(t)) : std::nullopt);
      });
      out.emplace_back(std::move(list));
    } else if (v.isDevice() && v.toDevice().type() == c10::DeviceType::PrivateUse1) {
      out.emplace_back(device);
    } else {
      out.push_back(v);
    }
  }
  return out;
}

OutputMeta output_meta_of(const std::vector<IValue>& returns) {
  OutputMeta meta;
  for (const IValue& r : returns) {
    ReturnMeta rm;
    auto describe = [](const at::Tensor& t) {
      TensorMeta m{t.scalar_type(), t.sizes().vec(), t.strides().vec(), {}};
      m.type.dtype = to_dtype(m.dtype);
      m.type.shape = m.sizes;
      if (m.strides != contiguous_strides(m.sizes)) m.type.strides = m.strides;
      return m;
    };
    if (r.isTensor() && !r.toTensor().defined()) {
      rm.absent = true;
    } else if (r.isTensor()) {
      rm.tensors.push_back(describe(r.toTensor()));
    } else if (r.isTensorList()) {
      rm.is_list = true;
      for (const at::Tensor& t : r.toTensorList()) rm.tensors.push_back(describe(t));
    } else {
      fail(ErrorKind::kInternal, "an operator returned a non-tensor where a tensor was expected");
    }
    meta.push_back(std::move(rm));
  }
  return meta;
}

// Operators whose output shape depends on the values of their inputs: their output types
// cannot be inferred from input types, so they are computed (and the graph specialised to
// the shape seen). Kept by name: PyTorch marks this only in Python-side fake kernels.
bool output_shape_depends_on_data(std::string_view op) {
  static const std::unordered_set<std::string_view> kOps = {
      "aten::nonzero",        "aten::nonzero_numpy",      "aten::argwhere",         "aten::masked_select",
      "aten::_unique",        "aten::_unique2",           "aten::unique_dim",       "aten::unique_consecutive",
      "aten::unique_dim_consecutive", "aten::repeat_interleave", "aten::bincount", "aten::_local_scalar_dense",
  };
  return kOps.count(op) > 0;
}

// The operator named at the start of a dispatcher error ("aten::relu: attempted to run this
// operator with Meta tensors..."): the one that failed, maybe an inner one.
std::string_view failing_operator(std::string_view message) {
  auto colon = message.find(": ");
  auto ns = message.find("::");
  if (colon == std::string_view::npos || ns == std::string_view::npos || ns > colon) return {};
  return message.substr(0, colon);
}

// Output types by running the operator on Meta tensors, or, where LibTorch has no Meta
// kernel (many in C++: relu, convolution, batch/layer norm, index_select), on zero-filled CPU
// tensors of the same types. nullopt when the output shape depends on input values.
std::optional<OutputMeta> infer_output_types(const c10::OperatorHandle& op, c10::ArrayRef<IValue> args) {
  if (output_shape_depends_on_data(op.schema().name())) return std::nullopt;
  std::vector<IValue> stack = map_tensors(args, to_meta, c10::Device(c10::kMeta));
  try {
    op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::Meta), &stack);
    return output_meta_of(stack);
  } catch (const c10::Error& e) {
    if (output_shape_depends_on_data(failing_operator(e.what_without_backtrace()))) return std::nullopt;
  }
  auto zeros = [](const at::Tensor& t) {
    if (!t.defined()) return t;
    at::Tensor z = at::empty_strided(t.sizes(), t.strides(), at::TensorOptions().dtype(t.scalar_type())).zero_();
    if (t.unsafeGetTensorImpl()->is_wrapped_number()) z.unsafeGetTensorImpl()->set_wrapped_number(true);
    return z;
  };
  stack = map_tensors(args, zeros, c10::Device(c10::kCPU));
  try {
    op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), &stack);
  } catch (const c10::Error&) {
    return std::nullopt;  // zeros were not valid input (a distribution, say): use the real data
  }
  return output_meta_of(stack);
}

// ---------------------------------------------------------------------------------------
// Arguments

[[noreturn]] void unsupported(const c10::OperatorHandle& op, const std::string& what) {
  TORCH_CHECK_NOT_IMPLEMENTED(false, "genie: cannot capture ", toString(op.operator_name()), ": ", what);
  std::abort();  // unreachable
}

GraphBuilder& builder_of(const at::Tensor& t) { return *lazy_impl(t)->graph(); }

// The graph the call is recorded into: the one its LazyTensors belong to.
GraphBuilder& graph_for(const c10::OperatorHandle& op, c10::ArrayRef<IValue> args) {
  GraphBuilder* found = nullptr;
  auto visit = [&](const at::Tensor& t) {
    if (!t.defined() || !is_lazy(t)) return;
    GraphBuilder* g = &builder_of(t);
    if (found && found != g) unsupported(op, "its arguments are LazyTensors of two different graphs");
    found = g;
  };
  for (const IValue& v : args) {
    if (v.isTensor()) visit(v.toTensor());
    else if (tensor_list_kind(v) != TensorListKind::kNotOne) for_each_listed_tensor(v, visit);
  }
  return found ? *found : GraphBuilder::current();
}

ValueId value_of(GraphBuilder& graph, const at::Tensor& t) {
  if (LazyTensorImpl* impl = lazy_impl(t)) return impl->value();
  return graph.constant_for(t);
}

// Fills `arg` in place (it is the node's own: a capture makes millions, and each move of one
// was measurable).
void to_argument(GraphBuilder& graph, const c10::OperatorHandle& op, const c10::Argument& schema_arg,
                 const IValue& v, Argument& arg) {
  arg.name = schema_arg.name();
  if (v.isNone() || (v.isTensor() && !v.toTensor().defined())) {  // an absent Tensor? may come as either
    arg.value = std::monostate{};
  } else if (v.isTensor()) {
    arg.value = TensorRef{value_of(graph, v.toTensor())};
  } else if (tensor_list_kind(v) != TensorListKind::kNotOne) {
    TensorListRef list;
    for_each_listed_tensor(v, [&](const at::Tensor& t) { list.values.push_back(t.defined() ? value_of(graph, t) : kNoValue); });
    arg.value = std::move(list);
  } else if (v.isInt()) {
    // An int may stand for a dtype, layout or memory format: the schema says which.
    const c10::Type* base = schema_arg.real_type().get();
    if (const auto* opt = base->castRaw<c10::OptionalType>()) base = opt->getElementType().get();
    switch (base->kind()) {
      case c10::TypeKind::ScalarTypeType: arg.value = to_dtype(static_cast<c10::ScalarType>(v.toInt())); break;
      case c10::TypeKind::LayoutType: arg.value = to_layout(static_cast<c10::Layout>(v.toInt())); break;
      case c10::TypeKind::MemoryFormatType:
        arg.value = to_memory_format(static_cast<c10::MemoryFormat>(v.toInt()));
        break;
      default: arg.value = v.toInt();
    }
  } else if (v.isSymInt()) {
    if (v.toSymInt().is_symbolic()) unsupported(op, "symbolic sizes are not supported");
    arg.value = v.toSymInt().as_int_unchecked();
  } else if (v.isDouble()) {
    arg.value = v.toDouble();
  } else if (v.isBool()) {
    arg.value = v.toBool();
  } else if (v.isIntList()) {
    arg.value = v.toIntVector();
  } else if (v.isSymIntList()) {
    std::vector<int64_t> ints;
    for (const c10::SymInt& s : v.toSymIntList()) {
      if (s.is_symbolic()) unsupported(op, "symbolic sizes are not supported");
      ints.push_back(s.as_int_unchecked());
    }
    arg.value = std::move(ints);
  } else if (v.isDoubleList()) {
    arg.value = v.toDoubleVector();
  } else if (v.isBoolList()) {
    std::vector<bool> bools;
    for (bool b : v.toBoolList()) bools.push_back(b);
    arg.value = std::move(bools);
  } else if (v.isString()) {
    arg.value = v.toStringRef();
  } else if (v.isDevice()) {
    arg.value = Device{v.toDevice().str()};
  } else if (v.isComplexDouble()) {
    auto c = v.toComplexDouble();
    arg.value = std::complex<double>(c.real(), c.imag());
  } else if (v.isGenerator()) {
    unsupported(op, "argument \"" + schema_arg.name() + "\" is a torch.Generator, which a graph cannot hold");
  } else {
    unsupported(op, "argument \"" + schema_arg.name() + "\" has type " + v.tagKind() +
                        ", which a graph cannot hold");
  }
}

// ---------------------------------------------------------------------------------------
// The three ways a call is handled

bool returns_only_tensors(const c10::FunctionSchema& schema) {
  for (const c10::Argument& r : schema.returns()) {
    const c10::TypePtr& t = r.type();
    bool tensor = t->kind() == c10::TypeKind::TensorType;
    bool tensor_list = false;
    if (auto list = t->cast<c10::ListType>()) tensor_list = list->getElementType()->kind() == c10::TypeKind::TensorType;
    if (!tensor && !tensor_list) return false;
  }
  return true;
}


// Runs the call on real tensors (LazyTensors materialised on the backing device).
std::vector<IValue> run_for_real(GraphBuilder& graph, const c10::OperatorHandle& op, c10::ArrayRef<IValue> args) {
  const c10::Device device = graph.options().device;
  std::vector<IValue> stack = map_tensors(
      args, [&](const at::Tensor& t) { return t.defined() && is_lazy(t) ? graph.materialize(t) : t; }, device);
  // A LazyTensor left in the call would bring it straight back here, without end.
  for (const IValue& v : stack) {
    bool lazy = v.isTensor() && is_lazy(v.toTensor());
    if (tensor_list_kind(v) != TensorListKind::kNotOne)
      for_each_listed_tensor(v, [&](const at::Tensor& t) { lazy = lazy || (t.defined() && is_lazy(t)); });
    if (lazy) fail(ErrorKind::kInternal, "an argument of kind " + std::string(v.tagKind()) + " still holds a LazyTensor");
  }
  op.callBoxed(&stack);
  return stack;
}

// The functional operator an in-place one stands for (aten::add_.Tensor -> aten::add.Tensor).
std::optional<c10::OperatorHandle> functional_twin(const c10::FunctionSchema& schema) {
  const std::string& name = schema.name();
  if (name.empty() || name.back() != '_') return std::nullopt;
  return c10::Dispatcher::singleton().findSchema({name.substr(0, name.size() - 1), schema.overload_name()});
}

// Index of the argument a return aliases and writes (an in-place or out= result), or -1.
int written_argument(const c10::FunctionSchema& schema, size_t return_index) {
  const c10::AliasInfo* ret = schema.returns()[return_index].alias_info();
  if (!ret) return -1;
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const c10::AliasInfo* a = schema.arguments()[i].alias_info();
    if (a && a->isWrite() && a->beforeSets() == ret->beforeSets()) return static_cast<int>(i);
  }
  return -1;
}

// How a call may share memory with its arguments, from its schema's alias annotations.
struct Aliasing {
  int written = -1;           // the argument its first result writes and returns (in-place, out=)
  bool writes_others = false;  // it writes an argument it does not return first
  bool is_view = false;        // a result shares an argument's memory without writing it
};

Aliasing aliasing_of(const c10::FunctionSchema& schema) {
  Aliasing a;
  if (!schema.returns().empty()) a.written = written_argument(schema, 0);
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const c10::AliasInfo* info = schema.arguments()[i].alias_info();
    if (info && info->isWrite() && static_cast<int>(i) != a.written) a.writes_others = true;
  }
  for (const c10::Argument& r : schema.returns())
    if (r.alias_info() && !r.alias_info()->isWrite()) a.is_view = true;
  return a;
}

// The copying form of a view operator (aten::view -> aten::view_copy), as functionalization
// records it: the graph holds values, not aliases.
std::optional<c10::OperatorHandle> copying_twin(const c10::FunctionSchema& schema) {
  return c10::Dispatcher::singleton().findSchema({schema.name() + "_copy", schema.overload_name()});
}

// What the kernel needs to know of an operator, from its schema alone: worked out once per
// operator and thread (finding a twin takes the dispatcher's lock).
struct OpFacts {
  bool returns_only_tensors = true;
  bool writes = false;  // into some argument
  Aliasing aliasing;
  std::optional<c10::OperatorHandle> functional;  // an in-place operator's functional twin
  bool functional_is_view = false;
  // The copying twin of a view, or of an in-place operator's functional twin that is a view
  // (detach_ -> detach -> detach_copy).
  std::optional<c10::OperatorHandle> copying;
};

const OpFacts& op_facts(const c10::OperatorHandle& op) {
  // Schemas live as long as their operator's registration: in practice, the process.
  thread_local std::unordered_map<const c10::FunctionSchema*, OpFacts> known;
  const c10::FunctionSchema& schema = op.schema();
  auto it = known.find(&schema);
  if (it != known.end()) return it->second;
  OpFacts f;
  f.returns_only_tensors = returns_only_tensors(schema);
  for (const c10::Argument& a : schema.arguments()) f.writes = f.writes || (a.alias_info() && a.alias_info()->isWrite());
  f.aliasing = aliasing_of(schema);
  if (f.aliasing.written >= 0) {
    f.functional = functional_twin(schema);
    f.functional_is_view = f.functional && aliasing_of(f.functional->schema()).is_view;
    if (f.functional_is_view) f.copying = copying_twin(f.functional->schema());
  } else if (f.aliasing.is_view) {
    f.copying = copying_twin(schema);
  }
  return known.emplace(&schema, std::move(f)).first->second;
}

// The result must be real: a non-tensor result (.item()), a result on another device
// (.cpu()), or a write into a real tensor (copy_ from a LazyTensor into a CPU tensor).
bool result_leaves_device(const OpFacts& facts, const c10::FunctionSchema& schema, c10::ArrayRef<IValue> args) {
  if (!facts.returns_only_tensors) return true;
  for (size_t i = 0; i < args.size(); ++i) {
    const IValue& v = args[i];
    if (v.isDevice() && v.toDevice().type() != c10::DeviceType::PrivateUse1) return true;
    if (!facts.writes) continue;
    const c10::AliasInfo* alias = schema.arguments()[i].alias_info();
    if (alias && alias->isWrite() && v.isTensor() && v.toTensor().defined() && !is_lazy(v.toTensor())) return true;
  }
  return false;
}

// Without functionalization, a call the rebinding of in-place results cannot record exactly.
[[noreturn]] void needs_functionalization(GraphBuilder& graph, const c10::OperatorHandle& op, const std::string& why) {
  graph.note_functionalization_needed();
  unsupported(op, why + " (capture with functionalization)");
}

}  // namespace

void capture_kernel(const c10::OperatorHandle& op, c10::DispatchKeySet, torch::jit::Stack* stack) {
  const c10::FunctionSchema& schema = op.schema();
  const size_t num_args = schema.arguments().size();
  c10::ArrayRef<IValue> args = torch::jit::last(*stack, num_args);
  GraphBuilder& graph = graph_for(op, args);
  try {
    const OpFacts& facts = op_facts(op);
    if (result_leaves_device(facts, schema, args)) {
      std::vector<IValue> results = run_for_real(graph, op, args);
      for (const IValue& v : args)
        if (v.isTensor() && is_lazy(v.toTensor())) graph.note_materialization(lazy_impl(v.toTensor())->value(), schema.name());
      torch::jit::drop(*stack, num_args);
      for (IValue& r : results) stack->push_back(std::move(r));
      return;
    }

    // In-place operators are recorded as their functional twin, and the written tensor is
    // pointed at the result (the graph stays pure dataflow). Under functionalization they
    // arrive functional already, except inside decompositions that run below it. Without it,
    // views are recorded as their copying twins and marked, so that a write that would have
    // to reach another tensor's memory is caught.
    const Aliasing& aliasing = facts.aliasing;
    const bool in_place = aliasing.written >= 0;
    const bool tracked = !graph.functionalize();
    const c10::OperatorHandle* twin = nullptr;
    if (aliasing.writes_others) {
      if (tracked) needs_functionalization(graph, op, "it writes into an argument it does not return");
      // Functionalization gives such operators a functional form above this kernel; one that
      // arrives all the same (called below it) would make a graph that genie-run refuses.
      unsupported(op, "it writes into an argument it does not return, which a graph of values cannot hold");
    }
    if (in_place) {
      if (!facts.functional || aliasing.written != 0) {
        if (tracked) needs_functionalization(graph, op, "it writes into its arguments and has no functional form");
        unsupported(op, "it writes into its arguments and has no functional form; capture it under "
                        "functionalization (tensors from genie's API are)");
      }
      twin = &*facts.functional;
      if (tracked && lazy_impl(args[0].toTensor())->aliased())
        needs_functionalization(graph, op, "it writes into a tensor that shares memory with another");
      // set_ makes the tensor share another's memory, which its schema does not say.
      if (tracked && schema.name() == "aten::set_")
        needs_functionalization(graph, op, "it makes a tensor share another's memory");
      // A view's in-place form (detach_) is recorded as the view's copying form.
      if (tracked && facts.functional_is_view) {
        if (!facts.copying) needs_functionalization(graph, op, "its functional form returns a view and has no copying form");
        twin = &*facts.copying;
      }
    } else if (tracked && aliasing.is_view) {
      if (!facts.copying) needs_functionalization(graph, op, "it returns a view and has no copying form");
      twin = &*facts.copying;
      for (const IValue& v : args)
        if (v.isTensor() && is_lazy(v.toTensor())) lazy_impl(v.toTensor())->mark_aliased();
    }
    const c10::OperatorHandle& recorded = twin ? *twin : op;

    // Output types: cache, else Meta execution, else real execution.
    ShapeCache& cache = shape_cache();
    std::string& key = cache.key;
    key.clear();
    key_put(key, &recorded.schema());
    bool cacheable = true;
    for (const IValue& v : args) cacheable = cacheable && key_ivalue(key, v);
    const OutputMeta* meta = nullptr;
    if (cacheable) {
      auto it = cache.entries.find(key);
      if (it != cache.entries.end()) {
        meta = &it->second;
        ++cache.hits;
      }
    }
    std::vector<IValue> real_results;
    OutputMeta observed;
    if (!meta) {
      ++cache.misses;
      if (std::optional<OutputMeta> inferred = infer_output_types(recorded, args)) {
        if (cacheable) {
          meta = &cache.entries.emplace(key, std::move(*inferred)).first->second;
        } else {
          observed = std::move(*inferred);
          meta = &observed;
        }
      } else {
        // The shape depends on the data (nonzero): compute it. The graph keeps the node,
        // specialised to the shape seen.
        real_results = run_for_real(graph, recorded, args);
        observed = output_meta_of(real_results);
        meta = &observed;
      }
    }

    // An in-place operator keeps its tensor's shape and dtype (add_ casts its result back,
    // squeeze_ and t_ change the shape of the tensor itself), its functional twin need not:
    // rebinding cannot say either, functionalization can (it casts and restrides).
    if (tracked && in_place) {
      const at::Tensor& self = args[0].toTensor();
      const TensorMeta& result = (*meta)[0].tensors.at(0);
      if (result.dtype != self.scalar_type() || c10::IntArrayRef(result.sizes) != self.sizes())
        needs_functionalization(graph, op, "its functional form's result differs from the tensor it writes in shape or dtype");
    }

    Node node;
    node.outputs.reserve(meta->size());
    node.op = recorded.schema().name();
    node.overload = recorded.schema().overload_name();
    node.inputs.reserve(num_args);
    for (size_t i = 0; i < num_args; ++i)
      to_argument(graph, op, schema.arguments()[i], args[i], node.inputs.emplace_back());
    if (!real_results.empty()) node.annotations = {{"shape_from", "execution"}};

    // The graph format leaves out trailing results the call returned no tensor for; one
    // missing before a present one has no way to be written.
    size_t slots = meta->size();
    while (slots > 0 && (*meta)[slots - 1].absent) --slots;
    for (size_t r = 0; r < slots; ++r)
      if ((*meta)[r].absent)
        unsupported(op, "it returned no tensor for its result " + std::to_string(r) + ", which is not its last");

    std::vector<IValue> outputs;
    outputs.reserve(meta->size());
    const bool wrap = graph.functionalize() && !c10::impl::tls_is_dispatch_key_excluded(c10::DispatchKey::Functionalize);
    const bool view_result = tracked && aliasing.is_view;
    for (size_t r = 0; r < meta->size(); ++r) {
      const ReturnMeta& rm = (*meta)[r];
      if (rm.absent) {
        outputs.emplace_back(at::Tensor());
        continue;
      }
      Output& out = node.outputs.emplace_back();
      out.is_list = rm.is_list;
      out.values.reserve(rm.tensors.size());
      std::vector<at::Tensor> tensors;
      if (rm.is_list) tensors.reserve(rm.tensors.size());
      for (size_t k = 0; k < rm.tensors.size(); ++k) {
        const TensorMeta& tm = rm.tensors[k];
        ValueId v = graph.add_value(tm.type);
        out.values.push_back(v);
        if (!real_results.empty())
          graph.remember(v, rm.is_list ? real_results[r].toTensorVector()[k] : real_results[r].toTensor());
        if (in_place) continue;
        at::Tensor t = graph.make_lazy(v, tm.dtype, tm.sizes, tm.strides);
        if (view_result) lazy_impl(t)->mark_aliased();
        if (wrap) t = at::functionalization::impl::to_functional_tensor(t);
        if (rm.is_list) tensors.push_back(std::move(t));
        else outputs.emplace_back(std::move(t));
      }
      if (rm.is_list && !in_place) outputs.emplace_back(std::move(tensors));
    }
    if (in_place) {
      const at::Tensor& self = args[0].toTensor();
      lazy_impl(self)->rebind(node.outputs[0].values[0]);
      outputs.emplace_back(self);
    }
    graph.add_node(std::move(node));
    torch::jit::drop(*stack, num_args);
    for (IValue& o : outputs) stack->push_back(std::move(o));
  } catch (const Error& e) {
    // genie errors cross PyTorch's dispatcher as c10 errors, so callers see one kind.
    TORCH_CHECK(false, "genie: ", toString(op.operator_name()), ": ", e.what());
  }
}

// Composite operators whose decomposition would lose what the model says (a linear layer,
// an attention, a batch norm) and the fused kernel a backend runs for them (cuDNN's batch
// norm is chosen inside the decomposition, by the device it runs on): recorded as they are
// called.
bool kept_whole(const c10::OperatorName& name) {
  return name.name == "aten::linear" || name.name == "aten::scaled_dot_product_attention" ||
         name.name == "aten::batch_norm";
}

size_t register_capture_kernels() {
  return register_kernel_where<&capture_kernel>(c10::DispatchKey::PrivateUse1, [](const c10::OperatorHandle& op) {
    return !op.hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1) &&
           (op.hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutograd) ||
            op.hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutogradNonFunctional) ||
            kept_whole(op.operator_name()));
  });
}

ShapeCacheStats shape_cache_stats() {
  const ShapeCache& cache = shape_cache();
  return {cache.hits, cache.misses, cache.entries.size()};
}

}  // namespace genie
