#include "graph/graph.h"

#include <array>

namespace genie {
namespace {

constexpr std::array<std::string_view, 5> kResidencyNames = {"input", "parameter", "buffer",
                                                             "constant", "activation"};

}  // namespace

std::string_view residency_name(Residency residency) {
  return kResidencyNames[static_cast<size_t>(residency)];
}

bool residency_from_name(std::string_view name, Residency* out) {
  for (size_t i = 0; i < kResidencyNames.size(); ++i) {
    if (kResidencyNames[i] == name) {
      *out = static_cast<Residency>(i);
      return true;
    }
  }
  return false;
}

std::string Node::qualified_name() const { return overload.empty() ? op : op + "." + overload; }

ValueId Graph::add_value(TensorType type, Residency residency) {
  values.push_back(Value{std::move(type), residency});
  return static_cast<ValueId>(values.size() - 1);
}

ValueId Graph::add_input(std::string name, TensorType type) {
  ValueId id = add_value(std::move(type), Residency::kInput);
  inputs.push_back({std::move(name), id});
  return id;
}

ValueId Graph::add_parameter(std::string name, TensorType type, Residency residency) {
  ValueId id = add_value(std::move(type), residency);
  parameters.push_back({std::move(name), id});
  return id;
}

void Graph::add_output(std::string name, ValueId value) { outputs.push_back({std::move(name), value}); }

NodeId Graph::add_node(const Node& node) {
  nodes.push_back(node);
  return static_cast<NodeId>(nodes.size() - 1);
}

// Not a by-value sink: a node is 192 bytes of strings and vectors, and a capture adds
// millions; each extra move was measurable.
NodeId Graph::add_node(Node&& node) {
  nodes.push_back(std::move(node));
  return static_cast<NodeId>(nodes.size() - 1);
}

std::vector<NodeId> graph_producers(const Graph& graph) {
  std::vector<NodeId> producer(graph.values.size(), kNoNode);
  for (NodeId n = 0; n < graph.nodes.size(); ++n)
    node_for_each_output(graph.nodes[n], [&](ValueId v) { producer[v] = n; });
  return producer;
}

}  // namespace genie
