#include "exec/plan.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/jit_type.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

// One argument slot that is filled from the environment on every run.
struct TensorSlot {
  size_t arg;
  ValueId value;
  bool copy = false;  // an operator that writes into it unannounced gets a copy (running_stats_written)
};
struct ListSlot {
  size_t arg;
  std::vector<ValueId> values;  // kNoValue: absent entry
  bool optional_elements;       // Tensor?[] rather than Tensor[]
};

struct Step {
  NodeId node;
  c10::OperatorHandle op;
  std::vector<c10::IValue> args;  // constants built at compile time; tensor slots left None
  std::vector<TensorSlot> tensors;
  std::vector<ListSlot> lists;
  std::vector<Output> outputs;
  std::vector<ValueId> frees;  // values whose last use is this step, and results nobody reads
  // For an in-place twin: the operator it stands for, run instead when the input it would
  // write into turns out to be shared (see Plan::run).
  std::optional<c10::OperatorHandle> out_of_place;
  bool zero_results = false;  // ExecOptions::zero_uninitialized, for an operator that leaves them so
};

std::string node_label(const Graph& graph, NodeId n) {
  const Node& node = graph.nodes[n];
  std::string label = "node " + std::to_string(n) + " (" + node.qualified_name();
  if (!node.scope.empty()) label += " in " + node.scope;
  return label + ")";
}

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

bool is_optional_tensor_list(const c10::TypePtr& type) {
  if (auto list = type->cast<c10::ListType>()) {
    if (auto opt = list->getElementType()->cast<c10::OptionalType>())
      return opt->getElementType()->kind() == c10::TypeKind::TensorType;
  }
  return false;
}

c10::IValue constant_ivalue(const ArgValue& value, const c10::Device& device) {
  return std::visit(
      [&](const auto& v) -> c10::IValue {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, TensorRef> ||
                      std::is_same_v<T, TensorListRef>) {
          return c10::IValue();
        } else if constexpr (std::is_same_v<T, DType>) {
          return c10::IValue(to_scalar_type(v));
        } else if constexpr (std::is_same_v<T, Layout>) {
          return c10::IValue(to_layout(v));
        } else if constexpr (std::is_same_v<T, MemoryFormat>) {
          return c10::IValue(to_memory_format(v));
        } else if constexpr (std::is_same_v<T, Device>) {
          c10::Device d(v.name);
          return c10::IValue(d.type() == c10::DeviceType::PrivateUse1 ? device : d);
        } else if constexpr (std::is_same_v<T, std::complex<double>>) {
          return c10::IValue(c10::complex<double>(v.real(), v.imag()));
        } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
          c10::List<bool> list;
          for (bool b : v) list.push_back(b);
          return c10::IValue(std::move(list));
        } else {
          return c10::IValue(v);
        }
      },
      value);
}

// Whether an operator's first result may share memory with an input (a view, or an
// operator that writes into its argument).
bool may_alias(const c10::OperatorHandle& op) {
  const auto& returns = op.schema().returns();
  for (const auto& r : returns)
    if (r.alias_info()) return true;
  return op.schema().is_mutable();
}

// Operators that read their input's memory layout as given (explicit strides): a view where
// the graph recorded a contiguous copy would change what they compute.
bool reads_layout(const std::string& op) {
  return op.find("as_strided") != std::string::npos || op.find("_reshape_alias") != std::string::npos;
}

// The running statistics a node may write though its schema does not say so: batch_norm,
// native_batch_norm, cudnn_batch_norm... normalising by the batch's own statistics
// (training true) update the running_mean and running_var they are given in place;
// instance_norm copies them back whatever its flag; batch_norm_update_stats has no flag.
// Told apart by their arguments; only a flag that is false (with batch-norm's "training")
// says they are merely read.
std::vector<size_t> running_stats_written(const c10::FunctionSchema& schema, const Node& node) {
  std::optional<size_t> mean, var, flag;
  const auto& args = schema.arguments();
  for (size_t i = 0; i < args.size() && i < node.inputs.size(); ++i) {
    if (args[i].name() == "running_mean") mean = i;
    else if (args[i].name() == "running_var") var = i;
    else if (args[i].name() == "training") flag = i;
  }
  if (!mean || !var) return {};
  const bool* training = flag ? std::get_if<bool>(&node.inputs[*flag].value) : nullptr;
  if (training && !*training) return {};
  return {*mean, *var};
}

bool view_lowering_is_safe(const Graph& graph, const std::vector<NodeId>& order) {
  for (NodeId n : order)
    if (reads_layout(graph.nodes[n].op)) return false;
  return true;
}

}  // namespace

bool graph_reads_memory_layout(const Graph& graph) {
  for (const Node& node : graph.nodes)
    if (reads_layout(node.op)) return true;
  return false;
}

namespace {

// Functionalization records views as copying twins (aten::transpose_copy for
// aten::transpose). A graph is functional, nothing writes into a tensor after it is made,
// so the view gives the same values without the copy. Reshapes (view_copy, view,
// _unsafe_view) become aten::reshape, which views where the layout allows and copies where
// it does not (an input that is now itself a view).
std::optional<c10::OperatorHandle> view_for(c10::Dispatcher& dispatcher, const c10::OperatorHandle& op) {
  const std::string& name = op.operator_name().name;
  const std::string& overload = op.operator_name().overload_name;
  if (overload.empty() && (name == "aten::view_copy" || name == "aten::view" || name == "aten::_unsafe_view"))
    return dispatcher.findSchema({"aten::reshape", ""});
  constexpr std::string_view suffix = "_copy";
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0 ||
      name == "aten::_to_copy")
    return std::nullopt;
  auto view = dispatcher.findSchema({name.substr(0, name.size() - suffix.size()), overload});
  if (!view || view->schema().is_mutable()) return std::nullopt;
  const auto& a = op.schema().arguments();
  const auto& b = view->schema().arguments();
  const auto& returns = view->schema().returns();
  if (a.size() != b.size() || returns.size() != 1 || !returns[0].alias_info()) return std::nullopt;  // a view: Tensor(a)
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name() != b[i].name() || a[i].type()->str() != b[i].type()->str()) return std::nullopt;
  return view;
}

// Operators whose results hold whatever the allocator's memory held before.
bool leaves_uninitialized(const std::string& name) {
  static const std::set<std::string> names = {"aten::empty",     "aten::empty_like",        "aten::empty_strided",
                                              "aten::new_empty", "aten::new_empty_strided", "aten::empty_permuted"};
  return names.count(name) != 0;
}

// Elementwise operators whose in-place twin (NAME_) computes the same values into `self`.
bool has_in_place_twin(const std::string& name) {
  static const std::set<std::string> names = {
      "aten::relu", "aten::relu6", "aten::hardtanh", "aten::hardswish", "aten::hardsigmoid", "aten::silu",
      "aten::sigmoid", "aten::tanh", "aten::gelu", "aten::add", "aten::sub", "aten::mul", "aten::div",
      "aten::clamp", "aten::leaky_relu", "aten::elu", "aten::exp", "aten::neg", "aten::sqrt", "aten::rsqrt"};
  return names.count(name) != 0;
}

}  // namespace

struct Plan::Impl {
  std::vector<Step> steps;
  std::vector<ValueId> wanted;
  size_t value_count = 0;
  std::vector<ValueId> sources;  // known values the steps read, fetched once per run
  int64_t peak_bytes = 0;
  size_t in_place = 0;
  mutable std::atomic<uint64_t> in_place_declined{0};
  size_t views = 0;
  std::vector<char> contiguous_result;  // per wanted value: the graph says contiguous
};

Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;
size_t Plan::step_count() const { return impl_->steps.size(); }
int64_t Plan::peak_activation_bytes() const { return impl_->peak_bytes; }
size_t Plan::in_place_count() const { return impl_->in_place; }
uint64_t Plan::in_place_declined() const { return impl_->in_place_declined.load(std::memory_order_relaxed); }
size_t Plan::view_count() const { return impl_->views; }

Plan Plan::compile(const Graph& graph, const std::vector<ValueId>& wanted, const ExecOptions& options,
                   const std::function<bool(ValueId)>& known) {
  auto impl = std::make_unique<Impl>();
  impl->wanted = wanted;
  impl->value_count = graph.values.size();
  const std::vector<NodeId> producer = graph_producers(graph);

  // Which nodes are needed: walk back from the wanted values (iteratively), stopping at
  // values the caller knows.
  std::vector<char> needed(graph.nodes.size(), 0), is_source(graph.values.size(), 0), seen(graph.values.size(), 0);
  std::vector<ValueId> work(wanted.begin(), wanted.end());
  while (!work.empty()) {
    ValueId v = work.back();
    work.pop_back();
    if (v >= graph.values.size()) fail(ErrorKind::kInternal, "wanted value out of range");
    if (seen[v]) continue;
    seen[v] = 1;
    if (known(v)) {
      is_source[v] = 1;
      impl->sources.push_back(v);
      continue;
    }
    NodeId n = producer[v];
    if (n == kNoNode)
      fail(ErrorKind::kBadInput, "value " + std::to_string(v) + " (" +
                                     std::string(residency_name(graph.values[v].residency)) +
                                     ") is needed but no tensor was given for it");
    if (needed[n]) continue;
    needed[n] = 1;
    node_for_each_input(graph.nodes[n], [&](ValueId in) { work.push_back(in); });
  }

  // Last use of each value, over the needed nodes in graph order (nodes are topological).
  std::vector<uint32_t> last_use(graph.values.size(), UINT32_MAX);
  std::vector<NodeId> order;
  for (NodeId n = 0; n < graph.nodes.size(); ++n) {
    if (needed[n]) {
      order.push_back(n);
    } else if (!options.drop_dead_nodes) {
      bool runnable = true;  // its inputs must be computed or given
      node_for_each_input(graph.nodes[n], [&](ValueId v) {
        if (producer[v] == kNoNode && !seen[v]) {
          seen[v] = 1;
          if (known(v)) {
            is_source[v] = 1;
            impl->sources.push_back(v);
          }
        }
        runnable = runnable && (is_source[v] || (producer[v] != kNoNode && needed[producer[v]]));
      });
      if (!runnable) continue;
      needed[n] = 1;
      order.push_back(n);
    }
  }
  for (uint32_t s = 0; s < order.size(); ++s)
    node_for_each_input(graph.nodes[order[s]], [&](ValueId v) { last_use[v] = s; });
  std::vector<char> keep(graph.values.size(), 0);
  for (ValueId v : wanted) {
    keep[v] = 1;
    impl->contiguous_result.push_back(graph.values[v].type.is_contiguous());
  }

  auto& dispatcher = c10::Dispatcher::singleton();
  int64_t live_bytes = 0;

  // The operator each step calls: the recorded one, or (options.views) the view a copying
  // twin stands for.
  const bool views = options.views && view_lowering_is_safe(graph, order);
  std::vector<std::optional<c10::OperatorHandle>> handles(order.size());
  for (uint32_t s = 0; s < order.size(); ++s) {
    const Node& node = graph.nodes[order[s]];
    handles[s] = dispatcher.findSchema({node.op, node.overload});
    if (handles[s] && views) {
      if (auto view = view_for(dispatcher, *handles[s])) {
        handles[s] = view;
        ++impl->views;
      }
    }
  }

  // Values whose memory no other value shares: results of operators that allocate, read by
  // no view. Only those may be overwritten by an in-place twin at their last use.
  std::vector<char> owns_memory(graph.values.size(), 0);
  for (uint32_t s = 0; s < order.size(); ++s) {
    if (!handles[s]) continue;
    const Node& node = graph.nodes[order[s]];
    if (!may_alias(*handles[s])) node_for_each_output(node, [&](ValueId v) { owns_memory[v] = 1; });
    else node_for_each_input(node, [&](ValueId v) { owns_memory[v] = 0; });
  }
  auto in_place_twin = [&](const Graph& g, const std::vector<NodeId>& steps, uint32_t s,
                           const c10::OperatorHandle& op) -> std::optional<c10::OperatorHandle> {
    const Node& node = g.nodes[steps[s]];
    if (!has_in_place_twin(node.op) || node.inputs.empty() || node.outputs.size() != 1 ||
        node.outputs[0].values.size() != 1)
      return std::nullopt;
    const auto* self = std::get_if<TensorRef>(&node.inputs[0].value);
    if (!self || self->value >= g.values.size()) return std::nullopt;
    const ValueId v = self->value;
    if (!owns_memory[v] || is_source[v] || keep[v] || last_use[v] != s) return std::nullopt;
    if (g.values[v].type != g.values[node.outputs[0].values[0]].type) return std::nullopt;  // broadcast, promotion
    auto twin = dispatcher.findSchema({node.op + "_", node.overload});
    if (!twin || twin->schema().arguments().size() != op.schema().arguments().size()) return std::nullopt;
    return twin;
  };
  for (uint32_t s = 0; s < order.size(); ++s) {
    const NodeId n = order[s];
    const Node& node = graph.nodes[n];
    std::optional<c10::OperatorHandle> handle = handles[s];
    if (!handle)
      fail(ErrorKind::kUnsupported, node_label(graph, n) + ": LibTorch " + libtorch_version() + " has no operator " + node.qualified_name());
    const auto& schema_args = handle->schema().arguments();
    if (schema_args.size() != node.inputs.size())
      fail(ErrorKind::kBadInput, node_label(graph, n) + ": the operator takes " + std::to_string(schema_args.size()) +
                                     " arguments, the node has " + std::to_string(node.inputs.size()));
    // A graph is functional (docs/graph-format.md): a node that wrote into its arguments
    // would change a stored value (on the CPU, read-only mapped weights) or another node's.
    for (const c10::Argument& arg : schema_args)
      if (arg.alias_info() && arg.alias_info()->isWrite())
        fail(ErrorKind::kBadInput, node_label(graph, n) + ": the operator writes into its argument \"" + arg.name() +
                                       "\"; graph nodes must not write into their inputs (record " +
                                       "the out-of-place operator)");
    // A graph keeps no state between runs: such a node gets copies of its running
    // statistics, made each run, and nothing stored is written.
    const std::vector<size_t> copied = running_stats_written(handle->schema(), node);
    std::optional<c10::OperatorHandle> out_of_place;
    if (options.in_place) {
      if (auto twin = in_place_twin(graph, order, s, *handle)) {
        out_of_place = handle;
        handle = twin;
        ++impl->in_place;
      }
    }
    Step step{n, *handle, {}, {}, {}, node.outputs, {}, out_of_place};
    step.zero_results = options.zero_uninitialized && leaves_uninitialized(node.op);
    step.args.reserve(node.inputs.size());
    for (size_t a = 0; a < node.inputs.size(); ++a) {
      const ArgValue& value = node.inputs[a].value;
      if (const auto* t = std::get_if<TensorRef>(&value)) {
        step.tensors.push_back({a, t->value, std::find(copied.begin(), copied.end(), a) != copied.end()});
      } else if (const auto* l = std::get_if<TensorListRef>(&value)) {
        step.lists.push_back({a, l->values, is_optional_tensor_list(schema_args[a].type())});
      }
      step.args.push_back(constant_ivalue(value, options.device));
    }
    node_for_each_input(node, [&](ValueId v) {
      if (last_use[v] == s && !keep[v] && !is_source[v]) step.frees.push_back(v);
    });
    node_for_each_output(node, [&](ValueId v) {
      live_bytes += graph.values[v].type.nbytes().value_or(0);
      if (last_use[v] == UINT32_MAX && !keep[v]) step.frees.push_back(v);
    });
    std::sort(step.frees.begin(), step.frees.end());  // a node may read a value twice
    step.frees.erase(std::unique(step.frees.begin(), step.frees.end()), step.frees.end());
    impl->peak_bytes = std::max(impl->peak_bytes, live_bytes);
    for (ValueId v : step.frees) live_bytes -= graph.values[v].type.nbytes().value_or(0);
    impl->steps.push_back(std::move(step));
  }
  return Plan(std::move(impl));
}

std::vector<at::Tensor> Plan::run(const std::function<at::Tensor(ValueId)>& source) const {
  // A graph records no autograd history. With it, a model's parameters (requires_grad, as
  // torch::jit::load makes them) meeting a constant made during capture (an inference
  // tensor) fail: "Inference tensors cannot be saved for backward" (Swin's mul). No-grad
  // rather than InferenceMode: results stay ordinary tensors a caller may write into.
  c10::AutoGradMode no_grad(false);
  std::vector<at::Tensor> env(impl_->value_count);
  for (ValueId v : impl_->sources) env[v] = source(v);
  std::vector<c10::IValue> stack;
  for (const Step& step : impl_->steps) {
    stack = step.args;
    for (const TensorSlot& slot : step.tensors) {
      const at::Tensor& t = env[slot.value];
      stack[slot.arg] = slot.copy && t.defined() ? t.clone() : t;
    }
    for (const ListSlot& slot : step.lists) {
      if (slot.optional_elements) {
        c10::List<std::optional<at::Tensor>> list;
        list.reserve(slot.values.size());
        for (ValueId v : slot.values) list.push_back(v == kNoValue ? std::nullopt : std::optional<at::Tensor>(env[v]));
        stack[slot.arg] = c10::IValue(std::move(list));
      } else {
        std::vector<at::Tensor> list;
        list.reserve(slot.values.size());
        for (ValueId v : slot.values) list.push_back(env[v]);
        stack[slot.arg] = c10::IValue(std::move(list));
      }
    }
    const c10::OperatorHandle* op = &step.op;
    if (step.out_of_place) {
      // The twin was chosen because, by the schemas, no other value shares its input's memory.
      // A schema can hide an alias (aten::type_as returns its input itself when the types
      // match, a stored weight included), so the plan checks here, where sharing shows: once
      // the plan lets go of the input (this is its last use), the stack must hold the only
      // reference to it and it the only one to its storage.
      env[step.tensors[0].value].reset();
      const at::Tensor& self = stack[0].toTensor();
      if (self.use_count() != 1 || !self.has_storage() || self.storage().use_count() != 1) {
        op = &*step.out_of_place;
        impl_->in_place_declined.fetch_add(1, std::memory_order_relaxed);
      }
    }
    try {
      op->callBoxed(stack);
    } catch (const c10::Error& e) {
      fail(ErrorKind::kRuntime, "node " + std::to_string(step.node) + " (" + toString(op->operator_name()) +
                                    "): " + first_line(e.what_without_backtrace()));
    }
    if (stack.size() < step.outputs.size())
      fail(ErrorKind::kInternal, "node " + std::to_string(step.node) + " returned fewer values than recorded");
    if (step.zero_results)
      for (size_t o = 0; o < step.outputs.size(); ++o)
        if (stack[o].isTensor()) stack[o].toTensor().zero_();
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      const Output& out = step.outputs[o];
      if (out.is_list) {
        std::vector<at::Tensor> list = stack[o].toTensorVector();
        for (size_t i = 0; i < out.values.size() && i < list.size(); ++i) env[out.values[i]] = std::move(list[i]);
      } else {
        env[out.values[0]] = stack[o].toTensor();
      }
    }
    for (ValueId v : step.frees) env[v].reset();
  }
  std::vector<at::Tensor> result;
  result.reserve(impl_->wanted.size());
  for (size_t i = 0; i < impl_->wanted.size(); ++i) {
    at::Tensor& t = env[impl_->wanted[i]];
    // A view where the graph recorded a copy: hand out the layout the graph promises.
    result.push_back(impl_->contiguous_result[i] && !t.is_contiguous() ? t.contiguous() : t);
  }
  return result;
}

std::vector<at::Tensor> graph_run(const Graph& graph, const ExecOptions& options,
                                  const std::function<at::Tensor(ValueId)>& source) {
  std::vector<ValueId> wanted;
  for (const NamedValue& out : graph.outputs) wanted.push_back(out.value);
  Plan plan = Plan::compile(graph, wanted, options,
                            [&](ValueId v) { return graph.values[v].residency != Residency::kActivation; });
  return plan.run(source);
}

}  // namespace genie
