// Checks that a graph is well formed: every reference resolves, every activation has one
// producer, names are unique, types are consistent, and there is no cycle.
#pragma once

#include "graph/graph.h"

namespace genie {

// Throws Error(kBadInput) with a JSON Pointer to the offending part ("/nodes/3/inputs/1:
// value 99 does not exist (the graph has 57 values)"), so a reader can prefix the file name.
void graph_validate(const Graph& graph);

}  // namespace genie
