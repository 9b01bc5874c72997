#include "patterns/match.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "support/json_text.h"

namespace genie {
namespace {

void append_ids(std::string& out, const std::vector<NodeId>& ids) {
  out.push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    json_append_int(out, ids[i]);
  }
  out.push_back(']');
}

void append_match(std::string& out, const Match& m) {
  out += "{\"pattern\": ";
  json_append_string(out, m.pattern);
  if (!m.variant.empty()) {
    out += ", \"variant\": ";
    json_append_string(out, m.variant);
  }
  out += ", \"anchor\": ";
  json_append_int(out, m.anchor);
  out += ", \"confidence\": ";
  json_append_double(out, m.confidence);
  out += ", \"scope\": ";
  json_append_string(out, m.scope);
  out += ", \"roles\": {";
  for (size_t i = 0; i < m.roles.size(); ++i) {
    if (i) out += ", ";
    json_append_string(out, m.roles[i].first);
    out += ": ";
    append_ids(out, m.roles[i].second);
  }
  out += "}, \"nodes\": ";
  append_ids(out, m.nodes);
  if (!m.values.empty()) {
    out += ", \"values\": {";
    for (size_t i = 0; i < m.values.size(); ++i) {
      if (i) out += ", ";
      json_append_string(out, m.values[i].first);
      out += ": ";
      json_append_int(out, m.values[i].second);
    }
    out.push_back('}');
  }
  out.push_back('}');
}

nlohmann::json match_json(const Match& m) {
  nlohmann::json j;
  j["pattern"] = m.pattern;
  if (!m.variant.empty()) j["variant"] = m.variant;
  j["anchor"] = m.anchor;
  j["confidence"] = m.confidence;
  j["scope"] = m.scope;
  j["roles"] = nlohmann::json::object();
  for (const auto& [role, ids] : m.roles) j["roles"][role] = ids;
  j["nodes"] = m.nodes;
  if (!m.values.empty()) {
    j["values"] = nlohmann::json::object();
    for (const auto& [name, id] : m.values) j["values"][name] = id;
  }
  return j;
}

}  // namespace

std::string match_scope(const Graph& graph, const std::vector<NodeId>& nodes) {
  if (nodes.empty()) return "";
  std::string_view scope = graph.nodes[nodes[0]].scope;
  for (NodeId n : nodes) {
    std::string_view s = graph.nodes[n].scope;
    size_t common = 0;
    while (common < scope.size() && common < s.size() && scope[common] == s[common]) ++common;
    if (common == scope.size() && (common == s.size() || s[common] == '.')) continue;  // scope is a prefix of s
    // Back to the last whole component.
    while (common > 0 &&
           !((common == s.size() || s[common] == '.') && (common == scope.size() || scope[common] == '.')))
      --common;
    scope = scope.substr(0, common);
  }
  return std::string(scope);
}

std::string matches_to_json(const std::vector<Match>& matches, const std::vector<PatternCount>& patterns,
                            const std::string& graph_source) {
  std::string out = "{\n  \"format\": \"genie.matches\",\n  \"version\": {\"major\": ";
  json_append_int(out, kMatchesVersionMajor);
  out += ", \"minor\": ";
  json_append_int(out, kMatchesVersionMinor);
  out += "},\n  \"graph\": ";
  json_append_string(out, graph_source);
  out += ",\n  \"patterns\": [";
  for (size_t i = 0; i < patterns.size(); ++i) {
    out += i ? ",\n    " : "\n    ";
    out += "{\"name\": ";
    json_append_string(out, patterns[i].name);
    out += ", \"source\": ";
    json_append_string(out, patterns[i].source);
    out += ", \"matches\": ";
    json_append_int(out, static_cast<int64_t>(patterns[i].matches));
    out.push_back('}');
  }
  out += patterns.empty() ? "],\n" : "\n  ],\n";
  out += "  \"matches\": [";
  for (size_t i = 0; i < matches.size(); ++i) {
    out += i ? ",\n    " : "\n    ";
    append_match(out, matches[i]);
  }
  out += matches.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

void graph_annotate(Graph& graph, const std::vector<Match>& matches) {
  for (Node& node : graph.nodes)
    if (node.annotations.is_object()) {
      node.annotations.erase("matches");
      if (node.annotations.empty()) node.annotations = nullptr;
    }
  nlohmann::json all = nlohmann::json::array();
  for (size_t i = 0; i < matches.size(); ++i) {
    const Match& m = matches[i];
    all.push_back(match_json(m));
    std::map<NodeId, std::string> role_of;
    for (const auto& [role, ids] : m.roles)
      for (NodeId n : ids) role_of.emplace(n, role);
    for (NodeId n : m.nodes) {
      nlohmann::json entry = {{"match", i}, {"pattern", m.pattern}};
      if (auto it = role_of.find(n); it != role_of.end()) entry["role"] = it->second;
      nlohmann::json& a = graph.nodes[n].annotations;
      if (!a.is_object()) a = nlohmann::json::object();
      a["matches"].push_back(std::move(entry));
    }
  }
  if (!graph.annotations.is_object()) graph.annotations = nlohmann::json::object();
  graph.annotations["matches"] = std::move(all);
}

std::string matches_summary(const std::vector<Match>& matches, const std::vector<PatternCount>& patterns,
                            const std::string& graph_source, size_t node_count) {
  size_t width = 7;
  for (const PatternCount& p : patterns) width = std::max(width, p.name.size());
  std::string out = graph_source + ": " + std::to_string(node_count) + " nodes, " + std::to_string(matches.size()) +
                    (matches.size() == 1 ? " match" : " matches") + " of " + std::to_string(patterns.size()) +
                    (patterns.size() == 1 ? " pattern\n" : " patterns\n");
  auto row = [&](const std::string& name, const std::string& count, const std::string& scopes) {
    out += name + std::string(width + 2 - name.size(), ' ');
    out += std::string(count.size() < 5 ? 5 - count.size() : 0, ' ') + count;
    if (!scopes.empty()) out += "  " + scopes;
    out += "\n";
  };
  row("pattern", "count", "scopes");
  for (const PatternCount& p : patterns) {
    // Distinct scopes in order of first match, with how many matches each holds.
    std::vector<std::pair<std::string, size_t>> scopes;
    for (const Match& m : matches) {
      if (m.pattern != p.name) continue;
      std::string s = m.scope.empty() ? "(top)" : m.scope;
      auto it = std::find_if(scopes.begin(), scopes.end(), [&](const auto& e) { return e.first == s; });
      if (it == scopes.end())
        scopes.emplace_back(s, 1);
      else
        ++it->second;
    }
    std::string text;
    for (const auto& [s, n] : scopes)
      text += (text.empty() ? "" : ", ") + s + (n > 1 ? " (x" + std::to_string(n) + ")" : "");
    row(p.name, std::to_string(p.matches), text);
  }
  return out;
}

}  // namespace genie
