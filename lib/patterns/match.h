// A place in a graph where a pattern applies, and the files that carry matches: the
// genie.matches file (schemas/matches.schema.json, written here and read back by
// match_read.cc), a graph annotated with its matches, and a summary table for people.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace genie {

inline constexpr std::string_view kMatchesFormat = "genie.matches";
inline constexpr int kMatchesVersionMajor = 1;
inline constexpr int kMatchesVersionMinor = 0;

struct Match {
  std::string pattern;
  std::string variant;  // which template of the pattern matched; "" if it has one
  NodeId anchor = kNoNode;
  // Nodes by role, in the pattern's role order; a chain's nodes upstream first. Roles of
  // absent optional nodes are left out.
  std::vector<std::pair<std::string, std::vector<NodeId>>> roles;
  // Every node of the match, sorted: the roles' and those looked through (views...).
  std::vector<NodeId> nodes;
  // Values bound to the pattern's value variables ($x), by name.
  std::vector<std::pair<std::string, ValueId>> values;
  double confidence = 1.0;
  // The module scope that holds the roles' nodes: their longest common module path.
  std::string scope;
};

// The longest common prefix, in whole dotted components, of the scopes of `nodes`.
std::string match_scope(const Graph& graph, const std::vector<NodeId>& nodes);

// What ran, for the file's header: a pattern's name, where it came from, how many matched.
struct PatternCount {
  std::string name;
  std::string source;
  size_t matches = 0;
};

// The genie.matches file's bytes: deterministic, one match a line.
std::string matches_to_json(const std::vector<Match>& matches, const std::vector<PatternCount>& patterns,
                            const std::string& graph_source);

// Writes the matches into the graph's annotations: the graph's "matches" holds the match
// objects of the matches file, and each node's "matches" lists
// {"match": INDEX, "pattern": NAME, "role": ROLE} (no "role" for a node looked through).
// Replaces any "matches" a previous run left.
void graph_annotate(Graph& graph, const std::vector<Match>& matches);

// A table for people: pattern, count, the scopes of its matches.
std::string matches_summary(const std::vector<Match>& matches, const std::vector<PatternCount>& patterns,
                            const std::string& graph_source, size_t node_count);

// A genie.matches file read back (match_read.cc): what tools downstream of genie-patterns
// (genie-viz) consume.
struct MatchesFile {
  std::vector<PatternCount> patterns;
  std::vector<Match> matches;
};

// Parses a genie.matches file for `graph`: every node and value id must exist in it.
// Throws Error(kBadInput) naming `source`, a JSON Pointer and the problem; Error(kUnsupported)
// for a newer major version.
MatchesFile matches_from_json(std::string_view text, const std::string& source, const Graph& graph);

// The matches graph_annotate wrote into a graph's annotations ("matches"); empty when the
// graph has none. Throws Error(kBadInput) naming `source` for malformed ones.
std::vector<Match> matches_from_annotations(const Graph& graph, const std::string& source);

}  // namespace genie
