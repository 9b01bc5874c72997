#include "graph/validate.h"

#include <string>
#include <unordered_set>

#include "graph/topo_order.h"
#include "support/error.h"

namespace genie {
namespace {

[[noreturn]] void invalid(const std::string& where, const std::string& what) {
  fail(ErrorKind::kBadInput, where + ": " + what);
}

std::string node_path(NodeId n) { return "/nodes/" + std::to_string(n); }

void check_value_id(const Graph& graph, ValueId v, const std::string& where) {
  if (v >= graph.values.size())
    invalid(where, "value " + std::to_string(v) + " does not exist (the graph has " +
                       std::to_string(graph.values.size()) + " values)");
}

// Locations are built only when something is wrong: validation runs on every graph read,
// and a million-node graph must not pay for a million path strings.
void check_values(const Graph& graph) {
  for (ValueId v = 0; v < graph.values.size(); ++v) {
    const TensorType& t = graph.values[v].type;
    auto where = [&] { return "/values/" + std::to_string(v); };
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (t.shape[d] < 0)
        invalid(where() + "/shape/" + std::to_string(d), "expected a size >= 0, found " + std::to_string(t.shape[d]));
    if (!t.nbytes()) invalid(where() + "/shape", "a tensor of this shape and dtype would hold more than 2^63 bytes");
    if (t.strides.empty()) continue;
    if (t.strides.size() != t.shape.size())
      invalid(where() + "/strides", "expected " + std::to_string(t.shape.size()) +
                                        " strides (one per dimension), found " + std::to_string(t.strides.size()));
    for (size_t d = 0; d < t.strides.size(); ++d)
      if (t.strides[d] < 0)
        invalid(where() + "/strides/" + std::to_string(d), "expected a stride >= 0, found " + std::to_string(t.strides[d]));
  }
}

void check_value_ref(const Graph& graph, ValueId v, NodeId n, size_t arg, const char* kind, size_t item) {
  if (v < graph.values.size()) return;
  std::string where = node_path(n) + "/inputs/" + std::to_string(arg) + "/" + kind;
  if (item != SIZE_MAX) where += "/" + std::to_string(item);
  check_value_id(graph, v, where);
}

void check_nodes(const Graph& graph) {
  std::vector<NodeId> producer(graph.values.size(), kNoNode);
  for (NodeId n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (node.op.size() < 4 || node.op.find("::") == std::string::npos)
      invalid(node_path(n) + "/op", "expected a qualified operator name like \"aten::relu\", found \"" + node.op + "\"");
    for (size_t a = 0; a < node.inputs.size(); ++a) {
      const Argument& arg = node.inputs[a];
      if (const auto* t = std::get_if<TensorRef>(&arg.value)) {
        check_value_ref(graph, t->value, n, a, "tensor", SIZE_MAX);
      } else if (const auto* l = std::get_if<TensorListRef>(&arg.value)) {
        for (size_t i = 0; i < l->values.size(); ++i)
          if (l->values[i] != kNoValue) check_value_ref(graph, l->values[i], n, a, "tensors", i);
      }
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const Output& out = node.outputs[o];
      auto out_where = [&](size_t i) {
        return node_path(n) + "/outputs/" + std::to_string(o) + (out.is_list ? "/" + std::to_string(i) : "");
      };
      if (!out.is_list && out.values.size() != 1)
        invalid(node_path(n) + "/outputs/" + std::to_string(o), "a single-tensor output needs exactly one value");
      for (size_t i = 0; i < out.values.size(); ++i) {
        ValueId v = out.values[i];
        if (v >= graph.values.size()) check_value_id(graph, v, out_where(i));
        if (graph.values[v].residency != Residency::kActivation)
          invalid(out_where(i), "value " + std::to_string(v) + " has residency \"" +
                                    std::string(residency_name(graph.values[v].residency)) +
                                    "\"; only activations are produced by nodes");
        if (producer[v] != kNoNode)
          invalid(out_where(i), "value " + std::to_string(v) + " is already produced by " + node_path(producer[v]));
        producer[v] = n;
      }
    }
  }
  for (ValueId v = 0; v < graph.values.size(); ++v)
    if (graph.values[v].residency == Residency::kActivation && producer[v] == kNoNode)
      invalid("/values/" + std::to_string(v), "activation value " + std::to_string(v) + " is produced by no node");
}

// Each list names values uniquely; `accepts` says which residencies may appear in it, and
// every value of those residencies must appear exactly once (`complete`).
void check_named(const Graph& graph, const std::vector<NamedValue>& list, const char* key,
                 bool (*accepts)(Residency), const char* expected, bool complete) {
  std::unordered_set<std::string> names;
  std::vector<bool> listed(graph.values.size(), false);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = std::string("/") + key + "/" + std::to_string(i);  // lists are short
    if (list[i].name.empty()) invalid(where + "/name", "expected a non-empty name");
    if (!names.insert(list[i].name).second) invalid(where + "/name", "duplicate name \"" + list[i].name + "\"");
    check_value_id(graph, list[i].value, where + "/value");
    Residency r = graph.values[list[i].value].residency;
    if (accepts && !accepts(r))
      invalid(where + "/value", "value " + std::to_string(list[i].value) + " has residency \"" +
                                    std::string(residency_name(r)) + "\", expected " + expected);
    if (complete && listed[list[i].value])
      invalid(where + "/value", "value " + std::to_string(list[i].value) + " is listed twice");
    listed[list[i].value] = true;
  }
  if (!complete) return;
  for (ValueId v = 0; v < graph.values.size(); ++v)
    if (accepts(graph.values[v].residency) && !listed[v])
      invalid("/values/" + std::to_string(v), std::string("value with residency \"") +
                                                  std::string(residency_name(graph.values[v].residency)) +
                                                  "\" is missing from \"" + key + "\"");
}

}  // namespace

void graph_validate(const Graph& graph) {
  if (graph.values.size() >= kNoValue) invalid("/values", "too many values");
  if (graph.nodes.size() >= kNoNode) invalid("/nodes", "too many nodes");
  check_values(graph);
  check_nodes(graph);
  check_named(graph, graph.inputs, "inputs", [](Residency r) { return r == Residency::kInput; },
              "\"input\"", true);
  check_named(graph, graph.parameters, "parameters", residency_is_stored,
              "\"parameter\", \"buffer\" or \"constant\"", true);
  check_named(graph, graph.outputs, "outputs", nullptr, "", false);
  if (!graph.annotations.is_null() && !graph.annotations.is_object())
    invalid("/annotations", "expected an object");
  for (NodeId n = 0; n < graph.nodes.size(); ++n)
    if (!graph.nodes[n].annotations.is_null() && !graph.nodes[n].annotations.is_object())
      invalid(node_path(n) + "/annotations", "expected an object");
  graph_topological_order(graph);  // throws on a cycle
}

}  // namespace genie
