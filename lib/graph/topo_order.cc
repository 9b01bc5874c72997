#include "graph/topo_order.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <string>

#include "support/error.h"

namespace genie {
namespace {

bool already_ordered(const Graph& graph, const std::vector<NodeId>& producer) {
  for (NodeId n = 0; n < graph.nodes.size(); ++n) {
    bool ok = true;
    node_for_each_input(graph.nodes[n], [&](ValueId v) {
      if (producer[v] != kNoNode && producer[v] >= n) ok = false;
    });
    if (!ok) return false;
  }
  return true;
}

// Some cycle among the nodes Kahn's algorithm could not place, as "/nodes/a -> /nodes/b -> ...".
std::string describe_cycle(const Graph& graph, const std::vector<NodeId>& producer,
                           const std::vector<uint32_t>& pending) {
  NodeId start = kNoNode;
  for (NodeId n = 0; n < pending.size() && start == kNoNode; ++n)
    if (pending[n] > 0) start = n;
  // Walk to a pending producer until a node repeats: every pending node has one.
  std::vector<uint32_t> seen_at(graph.nodes.size(), UINT32_MAX);
  std::vector<NodeId> walk;
  NodeId n = start;
  while (seen_at[n] == UINT32_MAX) {
    seen_at[n] = static_cast<uint32_t>(walk.size());
    walk.push_back(n);
    NodeId next = kNoNode;
    node_for_each_input(graph.nodes[n], [&](ValueId v) {
      if (next == kNoNode && producer[v] != kNoNode && pending[producer[v]] > 0) next = producer[v];
    });
    n = next;
  }
  // The walk follows inputs backwards; print the cycle in dataflow direction, shortened
  // when long (a message stays one readable line).
  const size_t length = walk.size() - seen_at[n];
  constexpr size_t kShown = 8;
  std::string text;
  size_t shown = 0;
  for (size_t i = walk.size(); i-- > seen_at[n] && shown < kShown; ++shown)
    text += "/nodes/" + std::to_string(walk[i]) + " -> ";
  if (length > kShown) text += "... (" + std::to_string(length) + " nodes in the cycle) -> ";
  text += "/nodes/" + std::to_string(walk.back());
  return text;
}

}  // namespace

std::vector<NodeId> graph_topological_order(const Graph& graph) {
  const size_t count = graph.nodes.size();
  std::vector<NodeId> producer = graph_producers(graph);
  std::vector<NodeId> order(count);
  if (already_ordered(graph, producer)) {
    for (NodeId n = 0; n < count; ++n) order[n] = n;
    return order;
  }

  // Edges producer -> user in compressed rows; one entry per input reference.
  std::vector<uint32_t> pending(count, 0);
  std::vector<uint32_t> row(count + 1, 0);
  for (NodeId n = 0; n < count; ++n)
    node_for_each_input(graph.nodes[n], [&](ValueId v) {
      if (producer[v] != kNoNode) {
        ++row[producer[v] + 1];
        ++pending[n];
      }
    });
  for (size_t i = 0; i < count; ++i) row[i + 1] += row[i];
  std::vector<NodeId> users(row[count]);
  std::vector<uint32_t> fill(row.begin(), row.end() - 1);
  for (NodeId n = 0; n < count; ++n)
    node_for_each_input(graph.nodes[n], [&](ValueId v) {
      if (producer[v] != kNoNode) users[fill[producer[v]]++] = n;
    });

  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<>> ready;
  for (NodeId n = 0; n < count; ++n)
    if (pending[n] == 0) ready.push(n);
  size_t placed = 0;
  while (!ready.empty()) {
    NodeId n = ready.top();
    ready.pop();
    order[placed++] = n;
    for (uint32_t e = row[n]; e < row[n + 1]; ++e)
      if (--pending[users[e]] == 0) ready.push(users[e]);
  }
  if (placed != count)
    fail(ErrorKind::kBadInput, "the graph has a cycle: " + describe_cycle(graph, producer, pending));
  return order;
}

void graph_sort(Graph& graph) {
  std::vector<NodeId> order = graph_topological_order(graph);
  std::vector<Node> sorted;
  sorted.reserve(order.size());
  for (NodeId n : order) sorted.push_back(std::move(graph.nodes[n]));
  graph.nodes = std::move(sorted);
}

}  // namespace genie
