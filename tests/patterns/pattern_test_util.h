// Running patterns written inline in a test against a graph.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "patterns/pattern.h"
#include "patterns/pattern_file.h"

namespace genie::testing {

// A genie.patterns file around `patterns` (a JSON array's items) and `op_sets` (an object).
inline std::string patterns_file(const std::string& patterns, const std::string& op_sets = "{}") {
  return R"({"format": "genie.patterns", "version": {"major": 1, "minor": 0}, "op_sets": )" + op_sets +
         R"(, "patterns": [)" + patterns + "]}";
}

inline PatternSet pattern_set(const std::string& file_text) {
  PatternSet set;
  for (auto& p : patterns_from_json(file_text, "test.json")) set.add(std::move(p));
  return set;
}

inline std::vector<Match> run_patterns(const std::string& file_text, const Graph& graph) {
  return patterns_run(pattern_set(file_text), graph);
}

inline std::map<std::string, size_t> count_by_pattern(const std::vector<Match>& matches) {
  std::map<std::string, size_t> out;
  for (const Match& m : matches) ++out[m.pattern];
  return out;
}

inline std::vector<NodeId> role_nodes(const Match& m, const std::string& role) {
  for (const auto& [name, ids] : m.roles)
    if (name == role) return ids;
  return {};
}

inline bool has_role(const Match& m, const std::string& role) {
  return !role_nodes(m, role).empty();
}

inline ValueId value_of(const Match& m, const std::string& name) {
  for (const auto& [n, v] : m.values)
    if (n == name) return v;
  return kNoValue;
}

}  // namespace genie::testing
