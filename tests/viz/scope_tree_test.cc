// The module hierarchy genie-viz clusters by: scopes and their prefixes, depths, node
// counts, repeated calls, and the number of boxes each --depth draws.
#include <gtest/gtest.h>

#include "viz/scope_tree.h"
#include "viz/viz_graphs.h"

namespace genie {
namespace {

std::vector<std::string> paths(const ScopeTree& tree) {
  std::vector<std::string> out;
  for (const Scope& s : tree.scopes) out.push_back(s.path);
  return out;
}

TEST(VizScopeTree, PrefixesBecomeScopesInExecutionOrder) {
  ScopeTree tree = scope_tree_build(testing::mlp_blocks(2));
  EXPECT_EQ(paths(tree), (std::vector<std::string>{"", "blocks", "blocks.0", "blocks.0.fc", "blocks.0.act",
                                                   "blocks.1", "blocks.1.fc", "blocks.1.act", "head"}));
  EXPECT_EQ(tree.max_depth, 3u);
  EXPECT_EQ(tree.paths, 8u);
  const Scope& block = tree.scopes[2];
  EXPECT_EQ(block.depth, 2u);
  EXPECT_EQ(block.parent, 1u);
  EXPECT_EQ(block.children, (std::vector<ScopeId>{3, 4}));
  EXPECT_EQ(block.own_nodes, 0u);
  EXPECT_EQ(block.total_nodes, 2u);
  EXPECT_EQ(block.module_type, "");  // no node of "blocks.0" itself names its type
  EXPECT_EQ(tree.scopes[3].module_type, "Linear");
  EXPECT_EQ(tree.scopes[1].total_nodes, 4u);
  EXPECT_EQ(tree.scopes[kTopScope].total_nodes, 5u);
  EXPECT_EQ(tree.scope_of_node, (std::vector<ScopeId>{3, 4, 6, 7, 8}));
  EXPECT_EQ(tree.ancestor_at(7, 2), 5u);
  EXPECT_EQ(tree.ancestor_at(7, 1), 1u);
  EXPECT_EQ(tree.ancestor_at(8, 2), 8u);  // head is 1 deep: its own ancestor at depth 2
}

TEST(VizScopeTree, BoxesPerDepth) {
  // depth 1: blocks, head; depth 2: blocks.0, blocks.1, head's node; depth 3 and 0: every node.
  ScopeTree tree = scope_tree_build(testing::mlp_blocks(2));
  EXPECT_EQ(tree.boxes_at_depth(1), 2u);
  EXPECT_EQ(tree.boxes_at_depth(2), 3u);
  EXPECT_EQ(tree.boxes_at_depth(3), 5u);
  EXPECT_EQ(tree.boxes_at_depth(0), 5u);
  EXPECT_EQ(tree.boxes_at_depth(9), 5u);
  ScopeTree big = scope_tree_build(testing::mlp_blocks(50));
  EXPECT_EQ(big.boxes_at_depth(1), 2u);
  EXPECT_EQ(big.boxes_at_depth(2), 51u);
  EXPECT_EQ(big.boxes_at_depth(3), 101u);
}

TEST(VizScopeTree, ModuleCalledTwiceIsTwoCalls) {
  ScopeTree tree = scope_tree_build(testing::relu_called_twice());
  EXPECT_EQ(paths(tree), (std::vector<std::string>{"", "fc1", "act", "fc2", "act"}));
  EXPECT_EQ(tree.paths, 3u);
  EXPECT_EQ(tree.scopes[2].call, 1u);
  EXPECT_EQ(tree.scopes[4].call, 2u);
  EXPECT_EQ(tree.scopes[2].calls, 2u);
  EXPECT_EQ(tree.scopes[4].calls, 2u);
  EXPECT_EQ(tree.scopes[1].calls, 1u);
  EXPECT_EQ(tree.scopes[4].module_type, "ReLU");
}

TEST(VizScopeTree, NestedNodesStayInTheirParentsCall) {
  // a, a.b, a: the second "a" node is in the same call of "a" as the first (a.b is inside it).
  Graph g;
  ValueId x = g.add_input("x", TensorType{DType::kFloat32, {2}, {}});
  for (const char* scope : {"a", "a.b", "a", "c", "a"}) {
    Node n;
    n.op = "aten::relu";
    n.scope = scope;
    n.inputs.push_back(Argument{"self", TensorRef{x}});
    x = g.add_value(TensorType{DType::kFloat32, {2}, {}});
    n.outputs.push_back({{x}, false});
    g.add_node(std::move(n));
  }
  ScopeTree tree = scope_tree_build(g);
  EXPECT_EQ(paths(tree), (std::vector<std::string>{"", "a", "a.b", "c", "a"}));
  EXPECT_EQ(tree.scope_of_node, (std::vector<ScopeId>{1, 2, 1, 3, 4}));
  EXPECT_EQ(tree.scopes[1].total_nodes, 3u);
  EXPECT_EQ(tree.scopes[4].call, 2u);
}

TEST(VizScopeTree, EmptyGraphAndTopOnly) {
  ScopeTree empty = scope_tree_build(Graph{});
  EXPECT_EQ(empty.scopes.size(), 1u);
  EXPECT_EQ(empty.boxes_at_depth(1), 0u);
  testing::GraphMaker g;
  ValueId x = g.input("x", {2});
  for (int i = 0; i < 3; ++i) x = g.unary("aten::relu", x, {2});
  ScopeTree top = scope_tree_build(g.graph);
  EXPECT_EQ(top.max_depth, 0u);
  EXPECT_EQ(top.boxes_at_depth(1), 3u);
}

}  // namespace
}  // namespace genie
