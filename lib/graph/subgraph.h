// The part of a graph that computes some values from values already known, as a graph of its
// own: what materialisation sends to a genie-serve (lib/capture/remote_backing.h).
#pragma once

#include <functional>
#include <vector>

#include "graph/graph.h"

namespace genie {

struct Subgraph {
  // Self-contained: its inputs are the known values the needed nodes read, named "v<ID>"
  // after their id in the original graph, except parameters and buffers, which stay
  // parameters under their model names (so one weights file serves every subgraph of a
  // model); outputs are the targets, named "v<ID>" likewise.
  Graph graph;
  std::vector<ValueId> inputs;   // original ids, in the subgraph's input order
  std::vector<ValueId> targets;  // original ids, in its output order
};

// `known(v)`: v has data already (an input, a stored value, a value computed before); the
// nodes behind known values are not included. Throws Error(kInternal) if a target depends on
// a value that is neither known nor produced by a node.
Subgraph graph_subgraph(const Graph& graph, const std::vector<ValueId>& targets,
                        const std::function<bool(ValueId)>& known);

}  // namespace genie
