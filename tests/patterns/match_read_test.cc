// Reading matches back (what genie-viz consumes): a genie.matches file as genie-patterns
// writes it, and the matches of an annotated graph; errors name the file and the place.
#include <gtest/gtest.h>

#include "patterns/graph_maker.h"
#include "patterns/match.h"
#include "patterns/pattern_file.h"
#include "support/error.h"

namespace genie {
namespace {

Graph mlp() {
  testing::GraphMaker g;
  ValueId x = g.input("x", {2, 8});
  ValueId h = g.unary("aten::relu", g.linear(x, "0", 16), {2, 16}, "1");
  g.output("y", g.linear(h, "2", 4));
  return g.graph;
}

std::vector<Match> builtin_matches(const Graph& graph) { return patterns_run(patterns_load({}), graph); }

std::string error_of(const std::string& text, const Graph& graph, ErrorKind* kind = nullptr) {
  try {
    matches_from_json(text, "m.json", graph);
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "<no error>";
}

TEST(MatchRead, ReadsBackWhatGeniePatternsWrites) {
  const Graph graph = mlp();
  const std::vector<Match> matches = builtin_matches(graph);
  ASSERT_EQ(matches.size(), 2u);  // linear_activation, mlp
  const std::vector<PatternCount> counts = {{"linear_activation", "patterns/linear.json", 1},
                                            {"mlp", "patterns/linear.json", 1},
                                            {"conv_bn", "patterns/conv.json", 0}};
  MatchesFile file = matches_from_json(matches_to_json(matches, counts, "g.json"), "m.json", graph);
  ASSERT_EQ(file.patterns.size(), 3u);
  EXPECT_EQ(file.patterns[2].name, "conv_bn");
  EXPECT_EQ(file.patterns[2].matches, 0u);
  ASSERT_EQ(file.matches.size(), matches.size());
  for (size_t i = 0; i < matches.size(); ++i) {
    EXPECT_EQ(file.matches[i].pattern, matches[i].pattern);
    EXPECT_EQ(file.matches[i].anchor, matches[i].anchor);
    EXPECT_EQ(file.matches[i].nodes, matches[i].nodes);
    EXPECT_EQ(file.matches[i].roles, matches[i].roles);
    EXPECT_EQ(file.matches[i].scope, matches[i].scope);
    EXPECT_DOUBLE_EQ(file.matches[i].confidence, matches[i].confidence);
  }
  // The same text again gives the same file: written, read, written.
  std::vector<PatternCount> again = file.patterns;
  EXPECT_EQ(matches_to_json(file.matches, again, "g.json"), matches_to_json(matches, counts, "g.json"));
}

TEST(MatchRead, ReadsAnAnnotatedGraph) {
  Graph graph = mlp();
  EXPECT_TRUE(matches_from_annotations(graph, "g.json").empty());
  const std::vector<Match> matches = builtin_matches(graph);
  graph_annotate(graph, matches);
  std::vector<Match> read = matches_from_annotations(graph, "g.json");
  ASSERT_EQ(read.size(), matches.size());
  EXPECT_EQ(read[1].pattern, matches[1].pattern);
  EXPECT_EQ(read[1].nodes, matches[1].nodes);

  graph.annotations["matches"][0]["nodes"][0] = 7;
  try {
    matches_from_annotations(graph, "g.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_STREQ(e.what(), "g.json: /annotations/matches/0/nodes/0: node 7 does not exist (the graph has 3 nodes)");
  }
}

TEST(MatchRead, ErrorsNameTheFileThePlaceAndTheProblem) {
  const Graph graph = mlp();
  const std::string head = R"({"format": "genie.matches", "version": {"major": 1, "minor": 0}, "graph": "g", )";
  const std::string ok_match =
      R"({"pattern": "p", "anchor": 1, "confidence": 1.0, "scope": "", "roles": {"r": [1]}, "nodes": [1]})";
  auto file = [&](const std::string& match) { return head + R"("patterns": [], "matches": [)" + match + "]}"; };
  EXPECT_EQ(error_of(file(ok_match), graph), "<no error>");
  EXPECT_EQ(error_of(R"({"format": "genie.matches", "version": )", graph).substr(0, 22), "m.json: invalid JSON: ");
  EXPECT_EQ(error_of(R"({"format": "genie.graph", "version": {"major": 1, "minor": 0}})", graph),
            "m.json: /format: expected \"genie.matches\", found the string \"genie.graph\"");
  ErrorKind kind = ErrorKind::kInternal;
  EXPECT_EQ(error_of(R"({"format": "genie.matches", "version": {"major": 2, "minor": 0}})", graph, &kind),
            "m.json: /version: matches format version 2.0 is not supported (this build reads 1.x)");
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  std::string bad_node = ok_match;
  bad_node.replace(bad_node.find("\"nodes\": [1]"), 12, "\"nodes\": [1, 3]");
  EXPECT_EQ(error_of(file(bad_node), graph, &kind),
            "m.json: /matches/0/nodes/1: node 3 does not exist (the graph has 3 nodes)");
  EXPECT_EQ(kind, ErrorKind::kBadInput);
  std::string no_nodes = ok_match;
  no_nodes.replace(no_nodes.find(", \"nodes\": [1]"), 14, "");
  EXPECT_EQ(error_of(file(no_nodes), graph), "m.json: /matches/0: missing required key \"nodes\"");
  std::string typo = ok_match;
  typo.replace(typo.find("\"scope\""), 7, "\"scopes\"");
  EXPECT_EQ(error_of(file(typo), graph), "m.json: /matches/0: unknown key \"scopes\"");
  std::string zero = ok_match;
  zero.replace(zero.find("1.0"), 3, "0");
  EXPECT_EQ(error_of(file(zero), graph), "m.json: /matches/0/confidence: expected a number in (0, 1], found 0");
  EXPECT_EQ(error_of(head + R"("patterns": [{"name": "p", "source": "x", "matches": -1}], "matches": []})", graph),
            "m.json: /patterns/0/matches: expected an integer >= 0, found -1");
  // A newer minor version may add keys: they are not typos there.
  std::string newer = file(typo);
  newer.replace(newer.find("\"minor\": 0"), 10, "\"minor\": 5");
  EXPECT_EQ(error_of(newer, graph), "m.json: /matches/0: missing required key \"scope\"");
}

}  // namespace
}  // namespace genie
