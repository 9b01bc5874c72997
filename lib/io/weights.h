// The link between a graph and its weights file: every parameter, buffer and constant of
// the graph is a tensor of the same name, dtype and shape in the safetensors file.
#pragma once

#include <string>

#include "graph/graph.h"
#include "io/safetensors.h"

namespace genie {

// Throws Error(kBadInput) naming the first parameter that is missing or differs.
void weights_check(const Graph& graph, const SafetensorsFile& weights);

// Where a graph's weights live unless told otherwise: "m.json" -> "m.safetensors" beside it
// (genie-capture writes them there, genie-run and genie-graph read them there).
std::string weights_path_beside(const std::string& graph_path);

}  // namespace genie
