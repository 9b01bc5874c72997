// Topological order of a graph's nodes. Iterative (a million-node chain is fine) and
// stable: a graph already in order keeps it, otherwise lower ids go first.
#pragma once

#include <vector>

#include "graph/graph.h"

namespace genie {

// Node ids with every producer before its users. Throws Error(kBadInput) naming the nodes
// of a cycle if there is one. Assumes value ids in range (graph_validate checks them).
std::vector<NodeId> graph_topological_order(const Graph& graph);

// Reorders graph.nodes into topological order (node ids change; value ids do not).
void graph_sort(Graph& graph);

}  // namespace genie
