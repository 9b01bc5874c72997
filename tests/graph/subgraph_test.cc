#include "graph/subgraph.h"

#include <gtest/gtest.h>

#include "graph/test_graphs.h"
#include "graph/validate.h"

namespace genie {
namespace {

// small_cnn's values: x 0, conv.weight 1, conv.bias 2, bn.running_mean 3, conv 4, relu 5,
// sum 6, transposed 7, split parts 8 and 9, misc 10.
std::vector<std::string> ops_of(const Graph& g) {
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) ops.push_back(n.op);
  return ops;
}

std::vector<std::string> names_of(const std::vector<NamedValue>& list) {
  std::vector<std::string> names;
  for (const NamedValue& v : list) names.push_back(v.name);
  return names;
}

TEST(Subgraph, KnownValuesBecomeInputsAndWeightsStayParameters) {
  Graph g = testing::small_cnn();
  Subgraph sub = graph_subgraph(g, {5}, [](ValueId v) { return v <= 3; });
  EXPECT_EQ(ops_of(sub.graph), (std::vector<std::string>{"aten::conv2d", "aten::relu"}));
  EXPECT_EQ(names_of(sub.graph.inputs), std::vector<std::string>{"v0"});
  EXPECT_EQ(names_of(sub.graph.parameters), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(names_of(sub.graph.outputs), std::vector<std::string>{"v5"});
  EXPECT_EQ(sub.inputs, std::vector<ValueId>{0});
  EXPECT_EQ(sub.graph.nodes[0].scope, "conv");  // meaning travels with the nodes
  EXPECT_NO_THROW(graph_validate(sub.graph));
}

TEST(Subgraph, StopsAtComputedValues) {
  Graph g = testing::small_cnn();
  Subgraph sub = graph_subgraph(g, {6}, [](ValueId v) { return v <= 3 || v == 5; });
  EXPECT_EQ(ops_of(sub.graph), std::vector<std::string>{"aten::add"});
  EXPECT_EQ(names_of(sub.graph.inputs), (std::vector<std::string>{"v0", "v5"}));
  EXPECT_TRUE(sub.graph.parameters.empty());
  EXPECT_NO_THROW(graph_validate(sub.graph));
}

TEST(Subgraph, AKnownOutputOfANeededNodeIsRecomputedNotPassedIn) {
  Graph g = testing::small_cnn();
  // part_a (8) is known, part_b (9) wanted: split runs again and produces both.
  Subgraph sub = graph_subgraph(g, {9}, [](ValueId v) { return v <= 3 || v == 8; });
  EXPECT_EQ(ops_of(sub.graph), (std::vector<std::string>{"aten::conv2d", "aten::relu", "aten::add",
                                                         "aten::permute_copy", "aten::split_with_sizes"}));
  EXPECT_EQ(names_of(sub.graph.inputs), std::vector<std::string>{"v0"});
  EXPECT_NO_THROW(graph_validate(sub.graph));
}

}  // namespace
}  // namespace genie
