#include "exec/plan.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/jit_type.h>
#include <c10/util/Exception.h>

#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

// One argument slot that is filled from the environment on every run.
struct TensorSlot {
  size_t arg;
  ValueId value;
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
  std::vector<ValueId> frees;  // values whose last use is this step
};

std::string node_label(const Graph& graph, NodeId n) {
  const Node& node = graph.nodes[n];
  std::string label = "node " + std::to_string(n) + " (" + node.qualified_name();
  if (!node.scope.empty()) label += " in " + node.scope;
  return label + ")";
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

}  // namespace

struct Plan::Impl {
  std::vector<Step> steps;
  std::vector<ValueId> wanted;
  size_t value_count = 0;
  std::vector<ValueId> sources;  // known values the steps read, fetched once per run
};

Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;
size_t Plan::step_count() const { return impl_->steps.size(); }

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
  for (NodeId n = 0; n < graph.nodes.size(); ++n)
    if (needed[n]) order.push_back(n);
  for (uint32_t s = 0; s < order.size(); ++s)
    node_for_each_input(graph.nodes[order[s]], [&](ValueId v) { last_use[v] = s; });
  std::vector<char> keep(graph.values.size(), 0);
  for (ValueId v : wanted) keep[v] = 1;

  auto& dispatcher = c10::Dispatcher::singleton();
  for (uint32_t s = 0; s < order.size(); ++s) {
    const NodeId n = order[s];
    const Node& node = graph.nodes[n];
    auto handle = dispatcher.findSchema({node.op, node.overload});
    if (!handle)
      fail(ErrorKind::kUnsupported, node_label(graph, n) + ": this LibTorch has no operator " + node.qualified_name());
    const auto& schema_args = handle->schema().arguments();
    if (schema_args.size() != node.inputs.size())
      fail(ErrorKind::kBadInput, node_label(graph, n) + ": the operator takes " + std::to_string(schema_args.size()) +
                                     " arguments, the node has " + std::to_string(node.inputs.size()));
    Step step{n, *handle, {}, {}, {}, node.outputs, {}};
    step.args.reserve(node.inputs.size());
    for (size_t a = 0; a < node.inputs.size(); ++a) {
      const ArgValue& value = node.inputs[a].value;
      if (const auto* t = std::get_if<TensorRef>(&value)) {
        step.tensors.push_back({a, t->value});
      } else if (const auto* l = std::get_if<TensorListRef>(&value)) {
        step.lists.push_back({a, l->values, is_optional_tensor_list(schema_args[a].type())});
      }
      step.args.push_back(constant_ivalue(value, options.device));
    }
    node_for_each_input(node, [&](ValueId v) {
      if (last_use[v] == s && !keep[v] && !is_source[v]) step.frees.push_back(v);
    });
    impl->steps.push_back(std::move(step));
  }
  return Plan(std::move(impl));
}

std::vector<at::Tensor> Plan::run(const std::function<at::Tensor(ValueId)>& source) const {
  std::vector<at::Tensor> env(impl_->value_count);
  for (ValueId v : impl_->sources) env[v] = source(v);
  std::vector<c10::IValue> stack;
  for (const Step& step : impl_->steps) {
    stack = step.args;
    for (const TensorSlot& slot : step.tensors) stack[slot.arg] = env[slot.value];
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
    try {
      step.op.callBoxed(stack);
    } catch (const c10::Error& e) {
      fail(ErrorKind::kRuntime, "node " + std::to_string(step.node) + " (" + toString(step.op.operator_name()) +
                                    "): " + first_line(e.what_without_backtrace()));
    }
    if (stack.size() < step.outputs.size())
      fail(ErrorKind::kInternal, "node " + std::to_string(step.node) + " returned fewer values than recorded");
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
  for (ValueId v : impl_->wanted) result.push_back(env[v]);
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
