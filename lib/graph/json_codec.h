// The genie.graph JSON file: reading (with errors that name the file and a JSON Pointer)
// and writing (deterministic, one value or node a line). Described in docs/graph-format.md
// and schemas/graph.schema.json.
#pragma once

#include <string>
#include <string_view>

#include "graph/graph.h"

namespace genie {

inline constexpr std::string_view kGraphFormat = "genie.graph";
inline constexpr int kGraphVersionMajor = 1;
inline constexpr int kGraphVersionMinor = 0;

// Parses and validates a graph. `source` names the text in error messages ("graph.json").
// Throws Error(kBadInput) for malformed or invalid graphs, Error(kUnsupported) for an
// unknown major version.
Graph graph_from_json(std::string_view text, const std::string& source);

// The file's bytes: the same graph always gives the same bytes.
std::string graph_to_json(const Graph& graph);

// File helpers; "-" is stdin/stdout; writing is atomic (support/files.h).
Graph graph_read(const std::string& path);
void graph_write(const Graph& graph, const std::string& path);

}  // namespace genie
