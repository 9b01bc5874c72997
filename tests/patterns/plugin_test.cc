// Plugins: registered by name, they appear in a PatternSet like file patterns; and the
// built-in repeated_block plugin.
#include <gtest/gtest.h>

#include "patterns/graph_maker.h"
#include "patterns/pattern_file.h"
#include "patterns/pattern_test_util.h"
#include "patterns/plugin.h"
#include "support/error.h"

namespace genie {
namespace {

using testing::GraphMaker;

// Every node with more than two tensor inputs: a property no template states.
class WideNodes : public PatternPlugin {
 public:
  std::string name() const override { return "wide_node"; }
  std::string description() const override { return "Nodes that read more than two tensors."; }
  std::vector<Match> match(const Graph& graph) const override {
    std::vector<Match> out;
    for (NodeId n = 0; n < graph.nodes.size(); ++n) {
      int tensors = 0;
      node_for_each_input(graph.nodes[n], [&](ValueId) { ++tensors; });
      if (tensors <= 2) continue;
      Match m;
      m.pattern = name();
      m.anchor = n;
      m.roles = {{"node", {n}}};
      m.nodes = {n};
      m.confidence = 0.5;
      m.scope = graph.nodes[n].scope;
      out.push_back(m);
    }
    return out;
  }
};

TEST(Plugin, RegisteredPluginsAppearLikeFilePatterns) {
  pattern_plugin_register(std::make_unique<WideNodes>());
  std::string file =
      testing::patterns_file(R"({"name": "relu", "description": "d", "nodes": {"r": {"op": "aten::relu"}}})");
  PatternSet set = testing::pattern_set(file);
  for (const PatternPlugin* p : pattern_plugins()) set.add(pattern_from_plugin(*p));
  ASSERT_NE(set.find("wide_node"), nullptr);
  EXPECT_EQ(set.find("wide_node")->source(), "<plugin>");
  EXPECT_EQ(set.find("wide_node")->description(), "Nodes that read more than two tensors.");

  GraphMaker g;
  ValueId x = g.input("x", {2, 8});
  g.output("y", g.unary("aten::relu", g.linear(x, "fc", 4), {2, 4}, "act"));
  auto matches = patterns_run(set, g.graph);
  ASSERT_EQ(testing::count_by_pattern(matches)["wide_node"], 1u);
  ASSERT_EQ(testing::count_by_pattern(matches)["relu"], 1u);
  auto only = patterns_run(set, g.graph, {"wide_node"});
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].scope, "fc");
  EXPECT_DOUBLE_EQ(only[0].confidence, 0.5);

  // The name is taken now; and names follow the pattern-name rule.
  try {
    pattern_plugin_register(std::make_unique<WideNodes>());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_EQ(std::string(e.what()), "a pattern plugin named \"wide_node\" is already registered");
  }
  // A file pattern of the same name as a plugin: refused when the set is built.
  PatternSet clash = testing::pattern_set(
      testing::patterns_file(R"({"name": "wide_node", "description": "d", "nodes": {"r": {"op": "aten::relu"}}})"));
  try {
    clash.add(pattern_from_plugin(*pattern_plugins().back()));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "<plugin>: pattern \"wide_node\" is already defined in test.json");
  }
}

class BadName : public WideNodes {
 public:
  std::string name() const override { return "Bad Name"; }
};

TEST(Plugin, InvalidNameRefused) {
  EXPECT_THROW(pattern_plugin_register(std::make_unique<BadName>()), Error);
}

// Two identical blocks "blocks.0", "blocks.1" (relu then linear) and a different third.
Graph three_blocks(bool third_same) {
  GraphMaker g;
  ValueId v = g.input("x", {2, 8});
  for (int b = 0; b < 3; ++b) {
    std::string s = "blocks." + std::to_string(b);
    v = g.unary("aten::relu", v, {2, 8}, s + ".act");
    v = g.linear(v, s + ".fc", 8);
    if (b == 2 && !third_same) v = g.unary("aten::tanh", v, {2, 8}, s + ".act2");
  }
  g.output("y", v);
  return std::move(g.graph);
}

TEST(Plugin, RepeatedBlocks) {
  auto plugin = repeated_block_plugin();
  auto same = plugin->match(three_blocks(true));
  ASSERT_EQ(same.size(), 3u);
  EXPECT_EQ(same[0].scope, "blocks.0");
  EXPECT_EQ(same[2].scope, "blocks.2");
  EXPECT_EQ(testing::role_nodes(same[1], "block"), (std::vector<NodeId>{2, 3}));
  EXPECT_EQ(same[1].anchor, 3u);
  auto differ = plugin->match(three_blocks(false));
  ASSERT_EQ(differ.size(), 2u);
  EXPECT_EQ(differ[1].scope, "blocks.1");
}

TEST(Plugin, RepeatedBlocksOutermostOnly) {
  // layers.0 and layers.1 are identical, and inside each, sub.0 and sub.1 are too: only
  // the layers are reported.
  GraphMaker g;
  ValueId v = g.input("x", {8});
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < 2; ++s)
      v = g.unary("aten::relu", v, {8}, "layers." + std::to_string(l) + ".sub." + std::to_string(s));
  g.output("y", v);
  auto matches = repeated_block_plugin()->match(g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].scope, "layers.0");
  EXPECT_EQ(matches[1].scope, "layers.1");
}

TEST(Plugin, RepeatedBlocksCompareArgumentsAndTypes) {
  // Same operators, a different constant in the second block: not repeated.
  GraphMaker g;
  ValueId v = g.input("x", {8});
  for (int l = 0; l < 2; ++l)
    v = g.op("aten::leaky_relu", {testing::T(v, "self"), testing::A("negative_slope", l == 0 ? 0.01 : 0.02)}, {8},
             "layers." + std::to_string(l));
  g.output("y", v);
  EXPECT_TRUE(repeated_block_plugin()->match(g.graph).empty());
}

}  // namespace
}  // namespace genie
