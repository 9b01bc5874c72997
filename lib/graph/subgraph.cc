#include "graph/subgraph.h"

#include <algorithm>
#include <string>

#include "support/error.h"

namespace genie {

Subgraph graph_subgraph(const Graph& graph, const std::vector<ValueId>& targets,
                        const std::function<bool(ValueId)>& known) {
  const std::vector<NodeId> producers = graph_producers(graph);
  std::vector<std::string> stored_name(graph.values.size());
  for (const NamedValue& p : graph.parameters) stored_name[p.value] = p.name;

  // Backwards from the targets, stopping at known values; no recursion (graphs can be long).
  std::vector<char> node_needed(graph.nodes.size(), 0), value_seen(graph.values.size(), 0);
  std::vector<ValueId> stack(targets.begin(), targets.end()), sources;
  while (!stack.empty()) {
    ValueId v = stack.back();
    stack.pop_back();
    if (value_seen[v]) continue;
    value_seen[v] = 1;
    if (known(v)) {
      sources.push_back(v);
      continue;
    }
    NodeId n = producers[v];
    if (n == kNoNode) fail(ErrorKind::kInternal, "value " + std::to_string(v) + " is neither known nor computed");
    if (node_needed[n]) continue;
    node_needed[n] = 1;
    node_for_each_input(graph.nodes[n], [&](ValueId in) { stack.push_back(in); });
  }

  Subgraph sub;
  std::vector<ValueId> remap(graph.values.size(), kNoValue);
  auto map_value = [&](ValueId v) {
    if (remap[v] == kNoValue) {
      remap[v] = static_cast<ValueId>(sub.graph.values.size());
      sub.graph.values.push_back(graph.values[v]);
    }
    return remap[v];
  };
  // A known value whose node runs anyway (another output of it is needed) is recomputed there,
  // not also passed in: a value has one producer.
  sources.erase(std::remove_if(sources.begin(), sources.end(),
                               [&](ValueId v) { return producers[v] != kNoNode && node_needed[producers[v]]; }),
                sources.end());
  std::sort(sources.begin(), sources.end());
  for (ValueId v : sources) {
    const Residency r = graph.values[v].residency;
    if ((r == Residency::kParameter || r == Residency::kBuffer) && !stored_name[v].empty()) {
      ValueId id = map_value(v);
      sub.graph.parameters.push_back({stored_name[v], id});
    } else {
      ValueId id = map_value(v);
      sub.graph.values[id].residency = Residency::kInput;
      sub.graph.inputs.push_back({"v" + std::to_string(v), id});
      sub.inputs.push_back(v);
    }
  }
  for (NodeId n = 0; n < graph.nodes.size(); ++n) {  // original order is topological
    if (!node_needed[n]) continue;
    Node node = graph.nodes[n];
    for (Argument& arg : node.inputs) {
      if (auto* t = std::get_if<TensorRef>(&arg.value)) t->value = map_value(t->value);
      else if (auto* l = std::get_if<TensorListRef>(&arg.value))
        for (ValueId& id : l->values)
          if (id != kNoValue) id = map_value(id);
    }
    for (Output& out : node.outputs)
      for (ValueId& id : out.values) id = map_value(id);
    sub.graph.nodes.push_back(std::move(node));
  }
  for (ValueId t : targets) {
    sub.graph.outputs.push_back({"v" + std::to_string(t), map_value(t)});
    sub.targets.push_back(t);
  }
  return sub;
}

}  // namespace genie
