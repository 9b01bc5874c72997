// Reading matches back: the genie.matches file genie-patterns writes, and the same match
// objects inside an annotated graph. Errors name the source, a JSON Pointer and what was
// expected, as the graph reader's do.

#include "patterns/match.h"
#include "support/error.h"
#include "support/json_text.h"

namespace genie {
namespace {

// Ordered: roles keep the pattern's order, as genie-patterns wrote them.
using Json = nlohmann::ordered_json;

class MatchReader {
 public:
  MatchReader(const Graph& graph, bool strict) : graph_(graph), strict_(strict) {}

  [[noreturn]] void expected(const std::string& at, const std::string& what, const Json& found) const {
    fail(ErrorKind::kBadInput, at + ": expected " + what + ", found " + json_describe(found));
  }
  const Json& required(const Json& obj, const std::string& at, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(ErrorKind::kBadInput, at + ": missing required key \"" + key + "\"");
    return *it;
  }
  const std::string& string(const Json& j, const std::string& at) const {
    if (!j.is_string()) expected(at, "a string", j);
    return j.get_ref<const std::string&>();
  }
  const Json& array(const Json& j, const std::string& at) const {
    if (!j.is_array()) expected(at, "an array", j);
    return j;
  }
  const Json& object(const Json& j, const std::string& at) const {
    if (!j.is_object()) expected(at, "an object", j);
    return j;
  }
  // Unknown keys are typos in a file whose minor version this build knows.
  void known_keys(const Json& obj, const std::string& at, std::initializer_list<const char*> keys) const {
    if (!strict_) return;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool known = false;
      for (const char* k : keys) known = known || it.key() == k;
      if (!known) fail(ErrorKind::kBadInput, at + ": unknown key \"" + it.key() + "\"");
    }
  }
  NodeId node(const Json& j, const std::string& at) const {
    if (!j.is_number_integer() || j.get<int64_t>() < 0) expected(at, "a node id (an integer >= 0)", j);
    if (j.get<int64_t>() >= static_cast<int64_t>(graph_.nodes.size()))
      fail(ErrorKind::kBadInput, at + ": node " + j.dump() + " does not exist (the graph has " +
                                     std::to_string(graph_.nodes.size()) + " nodes)");
    return static_cast<NodeId>(j.get<int64_t>());
  }
  ValueId value(const Json& j, const std::string& at) const {
    if (!j.is_number_integer() || j.get<int64_t>() < 0) expected(at, "a value id (an integer >= 0)", j);
    if (j.get<int64_t>() >= static_cast<int64_t>(graph_.values.size()))
      fail(ErrorKind::kBadInput, at + ": value " + j.dump() + " does not exist (the graph has " +
                                     std::to_string(graph_.values.size()) + " values)");
    return static_cast<ValueId>(j.get<int64_t>());
  }
  std::vector<NodeId> nodes(const Json& j, const std::string& at) const {
    array(j, at);
    if (j.empty()) expected(at, "at least one node id", j);
    std::vector<NodeId> out;
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) out.push_back(node(j[i], at + "/" + std::to_string(i)));
    return out;
  }

  Match match(const Json& j, const std::string& at) const {
    object(j, at);
    known_keys(j, at, {"pattern", "variant", "anchor", "confidence", "scope", "roles", "nodes", "values"});
    Match m;
    m.pattern = string(required(j, at, "pattern"), at + "/pattern");
    if (m.pattern.empty()) expected(at + "/pattern", "a pattern name", j["pattern"]);
    if (auto it = j.find("variant"); it != j.end()) m.variant = string(*it, at + "/variant");
    m.anchor = node(required(j, at, "anchor"), at + "/anchor");
    const Json& confidence = required(j, at, "confidence");
    if (!confidence.is_number() || !(confidence.get<double>() > 0 && confidence.get<double>() <= 1))
      expected(at + "/confidence", "a number in (0, 1]", confidence);
    m.confidence = confidence.get<double>();
    m.scope = string(required(j, at, "scope"), at + "/scope");
    const Json& roles = object(required(j, at, "roles"), at + "/roles");
    for (auto it = roles.begin(); it != roles.end(); ++it)
      m.roles.emplace_back(it.key(), nodes(it.value(), at + "/roles/" + it.key()));
    m.nodes = nodes(required(j, at, "nodes"), at + "/nodes");
    if (auto it = j.find("values"); it != j.end()) {
      object(*it, at + "/values");
      for (auto v = it->begin(); v != it->end(); ++v)
        m.values.emplace_back(v.key(), value(v.value(), at + "/values/" + v.key()));
    }
    return m;
  }

  std::vector<Match> matches(const Json& j, const std::string& at) const {
    array(j, at);
    std::vector<Match> out;
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) out.push_back(match(j[i], at + "/" + std::to_string(i)));
    return out;
  }

  std::vector<PatternCount> patterns(const Json& j, const std::string& at) const {
    array(j, at);
    std::vector<PatternCount> out;
    for (size_t i = 0; i < j.size(); ++i) {
      const std::string p = at + "/" + std::to_string(i);
      object(j[i], p);
      known_keys(j[i], p, {"name", "source", "matches"});
      PatternCount c;
      c.name = string(required(j[i], p, "name"), p + "/name");
      c.source = string(required(j[i], p, "source"), p + "/source");
      const Json& n = required(j[i], p, "matches");
      if (!n.is_number_integer() || n.get<int64_t>() < 0) expected(p + "/matches", "an integer >= 0", n);
      c.matches = static_cast<size_t>(n.get<int64_t>());
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  const Graph& graph_;
  bool strict_;
};

}  // namespace

MatchesFile matches_from_json(std::string_view text, const std::string& source, const Graph& graph) {
  try {
    Json doc;
    try {
      doc = Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
      fail(ErrorKind::kBadInput, "invalid JSON: " + json_parse_error_text(e.what()));
    }
    MatchReader loose(graph, false);
    loose.object(doc, "/");
    const Json& format = loose.required(doc, "/", "format");
    if (!format.is_string() || format.get<std::string>() != kMatchesFormat)
      loose.expected("/format", "\"genie.matches\"", format);
    const Json& version = loose.object(loose.required(doc, "/", "version"), "/version");
    const Json& major = loose.required(version, "/version", "major");
    const Json& minor = loose.required(version, "/version", "minor");
    if (!major.is_number_integer()) loose.expected("/version/major", "an integer", major);
    if (!minor.is_number_integer()) loose.expected("/version/minor", "an integer", minor);
    if (major.get<int64_t>() != kMatchesVersionMajor)
      fail(ErrorKind::kUnsupported, "/version: matches format version " + major.dump() + "." + minor.dump() +
                                        " is not supported (this build reads " +
                                        std::to_string(kMatchesVersionMajor) + ".x)");
    MatchReader reader(graph, minor.get<int64_t>() <= kMatchesVersionMinor);
    reader.known_keys(doc, "/", {"format", "version", "graph", "patterns", "matches"});
    MatchesFile file;
    file.patterns = reader.patterns(reader.required(doc, "/", "patterns"), "/patterns");
    file.matches = reader.matches(reader.required(doc, "/", "matches"), "/matches");
    return file;
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
}

std::vector<Match> matches_from_annotations(const Graph& graph, const std::string& source) {
  if (!graph.annotations.is_object()) return {};
  auto it = graph.annotations.find("matches");
  if (it == graph.annotations.end()) return {};
  try {
    // Annotations are open-ended: keys a later genie-patterns adds are not typos here. (The
    // graph holds them unordered: roles come back sorted by name.)
    return MatchReader(graph, false).matches(Json(*it), "/annotations/matches");
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
}

}  // namespace genie
