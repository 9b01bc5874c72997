#include "graph/topo_order.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "graph/json_codec.h"
#include "graph/test_graphs.h"
#include "graph/validate.h"
#include "support/error.h"

namespace genie {
namespace {

// Every producer comes before each of its users.
void expect_topological(const Graph& g, const std::vector<NodeId>& order) {
  ASSERT_EQ(order.size(), g.nodes.size());
  std::vector<size_t> position(g.nodes.size(), SIZE_MAX);
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  for (NodeId n : order) ASSERT_NE(position[n], SIZE_MAX);
  std::vector<NodeId> producer = graph_producers(g);
  for (NodeId n = 0; n < g.nodes.size(); ++n)
    node_for_each_input(g.nodes[n], [&](ValueId v) {
      if (producer[v] != kNoNode) {
        EXPECT_LT(position[producer[v]], position[n]);
      }
    });
}

TEST(TopoOrder, OrderedGraphKeepsItsOrder) {
  Graph g = testing::small_cnn();
  std::vector<NodeId> order = graph_topological_order(g);
  for (NodeId n = 0; n < order.size(); ++n) EXPECT_EQ(order[n], n);
}

TEST(TopoOrder, ShuffledGraphIsSortedStably) {
  Graph g = testing::small_cnn();
  std::reverse(g.nodes.begin(), g.nodes.end());
  std::vector<NodeId> order = graph_topological_order(g);
  expect_topological(g, order);
  EXPECT_EQ(order, graph_topological_order(g));  // same input, same order
  graph_sort(g);
  EXPECT_EQ(graph_to_json(g), graph_to_json(testing::small_cnn()));
}

TEST(TopoOrder, SelfLoopIsACycle) {
  Graph g = testing::chain(3);
  std::get<TensorRef>(g.nodes[1].inputs[0].value).value = 2;  // node 1 reads its own output
  try {
    graph_topological_order(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the graph has a cycle: /nodes/1 -> /nodes/1");
  }
}

// A million nodes; 300,000 under AddressSanitizer, where parsing the 238 MB of JSON takes a
// minute: still deeper than any recursion over nodes could go in an 8 MB stack.
#ifdef __SANITIZE_ADDRESS__
constexpr size_t kLongChain = 300'000;
#else
constexpr size_t kLongChain = 1'000'000;
#endif

// A million-node chain: loading, validation and sorting are iterative, so nothing
// overflows the stack. The chain is stored backwards to force the full sort.
TEST(TopoOrder, MillionNodeChainLoadsValidatesAndSorts) {
  constexpr size_t kLength = kLongChain;
  Graph g = testing::chain(kLength);
  std::reverse(g.nodes.begin(), g.nodes.end());
  std::string text = graph_to_json(g);
  Graph back = graph_from_json(text, "chain.json");  // validates, including acyclicity
  std::vector<NodeId> order = graph_topological_order(back);
  ASSERT_EQ(order.size(), kLength);
  for (size_t i = 0; i < kLength; ++i) ASSERT_EQ(order[i], kLength - 1 - i);
  graph_sort(back);
  graph_validate(back);
  EXPECT_EQ(std::get<TensorRef>(back.nodes.back().inputs[0].value).value, kLength - 1);
}

TEST(TopoOrder, MillionNodeCycleIsReportedWithoutRecursion) {
  Graph g = testing::chain(1'000'000);
  std::get<TensorRef>(g.nodes[0].inputs[0].value).value = static_cast<ValueId>(g.values.size() - 1);
  try {
    graph_topological_order(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u) << "one short line, whatever the cycle's length";
    EXPECT_NE(std::string(e.what()).find("(1000000 nodes in the cycle)"), std::string::npos) << e.what();
  }
}

TEST(Validate, ProgrammaticGraphErrors) {
  Graph g = testing::small_cnn();
  g.nodes[3].op = "relu";
  try {
    graph_validate(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "/nodes/3/op: expected a qualified operator name like \"aten::relu\", found \"relu\"");
  }
  g = testing::small_cnn();
  g.values.push_back(Value{testing::f32({2}), Residency::kActivation});
  EXPECT_THROW(graph_validate(g), Error);  // an activation nobody produces
  g = testing::small_cnn();
  g.nodes[4].outputs[0].is_list = false;  // two values in a single-tensor slot
  EXPECT_THROW(graph_validate(g), Error);
  g = testing::small_cnn();
  g.annotations = 3;
  EXPECT_THROW(graph_validate(g), Error);
}

}  // namespace
}  // namespace genie
