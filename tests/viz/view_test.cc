// What genie-viz decides to draw: boxes, clusters per module, edges, folding of stored
// tensors, --depth collapse, match colours and the legend, --only, the node limit.
#include <gtest/gtest.h>

#include <algorithm>

#include "support/error.h"
#include "viz/view.h"
#include "viz/viz_graphs.h"

namespace genie {
namespace {

const VizBox* box_named(const VizView& view, const std::string& id) {
  for (const VizBox& b : view.boxes)
    if (b.id == id) return &b;
  return nullptr;
}

uint32_t index_of(const VizView& view, const std::string& id) {
  for (uint32_t i = 0; i < view.boxes.size(); ++i)
    if (view.boxes[i].id == id) return i;
  ADD_FAILURE() << "no box " << id;
  return 0;
}

std::vector<std::pair<std::string, std::string>> edge_ids(const VizView& view) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const VizEdge& e : view.edges) out.emplace_back(view.boxes[e.from].id, view.boxes[e.to].id);
  return out;
}

std::vector<std::string> cluster_ids(const VizView& view) {
  std::vector<std::string> out;
  for (const VizCluster& c : view.clusters) out.push_back(c.id);
  return out;
}

std::string cluster_of(const VizView& view, const std::string& box) {
  const VizBox* b = box_named(view, box);
  if (!b) return "<no box>";
  return b->cluster == kNoCluster ? "" : view.clusters[b->cluster].id;
}

Match match(const std::string& pattern, std::vector<NodeId> nodes, std::vector<NodeId> role_nodes = {}) {
  Match m;
  m.pattern = pattern;
  m.anchor = nodes.back();
  m.roles = {{"node", role_nodes.empty() ? nodes : role_nodes}};
  m.nodes = std::move(nodes);
  return m;
}

TEST(VizView, EveryNodeABoxInItsModulesCluster) {
  VizView view = viz_view(testing::mlp_blocks(2), {}, VizOptions{});
  ASSERT_EQ(view.boxes.size(), 7u);  // x, 5 operators, y
  EXPECT_EQ(view.boxes.front().kind, VizBoxKind::kInput);
  EXPECT_EQ(view.boxes.front().id, "input:x");
  EXPECT_EQ(view.boxes.back().kind, VizBoxKind::kOutput);
  EXPECT_EQ(view.boxes.back().id, "output:y");
  EXPECT_EQ(view.depth, 0u);
  EXPECT_FALSE(view.auto_collapsed);
  // One cluster per module scope, parents before children.
  EXPECT_EQ(cluster_ids(view), (std::vector<std::string>{"m:blocks", "m:blocks.0", "m:blocks.0.fc", "m:blocks.0.act",
                                                         "m:blocks.1", "m:blocks.1.fc", "m:blocks.1.act", "m:head"}));
  EXPECT_EQ(view.clusters[1].parent, 0u);
  EXPECT_EQ(view.clusters[2].parent, 1u);
  EXPECT_EQ(view.clusters[0].parent, kNoCluster);
  EXPECT_EQ(view.clusters[2].module_type, "Linear");
  EXPECT_EQ(cluster_of(view, "n0"), "m:blocks.0.fc");
  EXPECT_EQ(cluster_of(view, "n3"), "m:blocks.1.act");
  EXPECT_EQ(cluster_of(view, "n4"), "m:head");
  EXPECT_EQ(cluster_of(view, "input:x"), "");
  using Edges = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(edge_ids(view),
            (Edges{{"input:x", "n0"}, {"n0", "n1"}, {"n1", "n2"}, {"n2", "n3"}, {"n3", "n4"}, {"n4", "output:y"}}));
}

TEST(VizView, LabelsTellOperatorShapeAndFoldedParameters) {
  VizView view = viz_view(testing::mlp_blocks(1), {}, VizOptions{});
  const VizBox* fc = box_named(view, "n0");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->title, "linear");  // aten:: dropped
  EXPECT_EQ(fc->details, (std::vector<std::string>{"2\u00d716 float32", "weight 16\u00d78, bias 16"}));
  EXPECT_NE(fc->tooltip.find("aten::linear (node 0) in blocks.0.fc (Linear)"), std::string::npos) << fc->tooltip;
  EXPECT_NE(fc->tooltip.find("blocks.0.fc.weight: 16\u00d78 float32"), std::string::npos) << fc->tooltip;
  // Parameters are folded: no box of their own, no edges.
  EXPECT_EQ(view.folded, 4u);
  EXPECT_EQ(view.boxes.size(), 5u);
  EXPECT_EQ(box_named(view, "input:x")->details, (std::vector<std::string>{"2\u00d78 float32"}));
  EXPECT_EQ(box_named(view, "output:y")->details, (std::vector<std::string>{"2\u00d74 float32"}));

  VizOptions no_shapes;
  no_shapes.shapes = false;
  VizView bare = viz_view(testing::mlp_blocks(1), {}, no_shapes);
  EXPECT_EQ(box_named(bare, "n0")->details, (std::vector<std::string>{"weight 16\u00d78, bias 16"}));
  EXPECT_TRUE(box_named(bare, "input:x")->details.empty());
}

TEST(VizView, ManyParametersAndOutputsAreCounted) {
  testing::GraphMaker g;
  ValueId x = g.input("x", {1, 4, 8, 8});
  ValueId bn = g.batch_norm(x, "bn");  // 4 stored tensors of [4]; 3 outputs, only the first read
  g.output("y", g.unary("aten::relu", bn, {1, 4, 8, 8}));
  VizView view = viz_view(g.graph, {}, VizOptions{});
  EXPECT_EQ(box_named(view, "n0")->details,
            (std::vector<std::string>{"1\u00d74\u00d78\u00d78 float32", "4 params, each 4"}));

  testing::GraphMaker split;
  ValueId s = split.input("s", {6});
  split.op("aten::unbind.int", {testing::T(s, "self")}, {2}, "", 3);
  for (uint32_t i = 0; i < 3; ++i) split.output("o" + std::to_string(i), split.output_of(0, i));
  EXPECT_EQ(box_named(viz_view(split.graph, {}, VizOptions{}), "n0")->details,
            (std::vector<std::string>{"2 float32", "2 float32 +1 more"}));
  EXPECT_EQ(viz_type_text(TensorType{DType::kInt64, {}, {}}), "scalar int64");
}

TEST(VizView, DepthCollapsesModulesIntoBoxes) {
  VizOptions options;
  options.depth = 2;
  VizView view = viz_view(testing::mlp_blocks(2), {}, options);
  EXPECT_EQ(view.depth, 2u);
  ASSERT_EQ(view.boxes.size(), 5u);  // x, blocks.0, blocks.1, head's linear, y
  const VizBox* block = box_named(view, "m:blocks.0");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->kind, VizBoxKind::kModule);
  EXPECT_EQ(block->ops, 2u);
  EXPECT_EQ(block->title, "blocks.0");
  EXPECT_EQ(block->details, (std::vector<std::string>{"2 ops \u00b7 2 params", "\u2192 2\u00d716 float32"}));
  EXPECT_EQ(cluster_ids(view), (std::vector<std::string>{"m:blocks", "m:head"}));
  EXPECT_EQ(cluster_of(view, "m:blocks.1"), "m:blocks");
  EXPECT_EQ(cluster_of(view, "n4"), "m:head");
  EXPECT_EQ(edge_ids(view), (std::vector<std::pair<std::string, std::string>>{{"input:x", "m:blocks.0"},
                                                                               {"m:blocks.0", "m:blocks.1"},
                                                                               {"m:blocks.1", "n4"},
                                                                               {"n4", "output:y"}}));
  options.depth = 1;
  VizView top = viz_view(testing::mlp_blocks(2), {}, options);
  EXPECT_EQ(top.boxes.size(), 4u);  // x, blocks, head, y
  EXPECT_EQ(box_named(top, "m:blocks")->ops, 4u);
  EXPECT_EQ(box_named(top, "m:head")->ops, 1u);
  EXPECT_TRUE(top.clusters.empty());
  options.depth = 4;  // deeper than any module: every node
  VizView deep = viz_view(testing::mlp_blocks(2), {}, options);
  EXPECT_EQ(deep.depth, 0u);
  EXPECT_EQ(deep.boxes.size(), 7u);
}

TEST(VizView, EdgesBetweenCollapsedModulesCountTheirTensors) {
  // Two tensors flow from module "a" to module "b": one edge carrying 2.
  testing::GraphMaker g;
  ValueId x = g.input("x", {2});
  ValueId p = g.unary("aten::relu", x, {2}, "a.one");
  ValueId q = g.unary("aten::tanh", x, {2}, "a.two");
  g.output("y", g.binary("aten::add.Tensor", p, q, {2}, "b.sum"));
  VizOptions options;
  options.depth = 1;
  VizView view = viz_view(g.graph, {}, options);
  ASSERT_EQ(view.edges.size(), 3u);  // x -> a (x read twice inside a: one tensor), a -> b, b -> y
  EXPECT_EQ(view.edges[0].tensors, 1u);
  EXPECT_EQ(view.edges[1].tensors, 2u);
  EXPECT_EQ(box_named(view, "m:a")->details,
            (std::vector<std::string>{"2 ops", "\u2192 2 float32", "\u2192 2 float32"}));
}

TEST(VizView, ModuleCalledTwiceIsTwoClustersOrTwoBoxes) {
  VizView view = viz_view(testing::relu_called_twice(), {}, VizOptions{});
  EXPECT_EQ(cluster_ids(view), (std::vector<std::string>{"m:fc1", "m:act#1", "m:fc2", "m:act#2"}));
  EXPECT_EQ(view.clusters[3].call, 2u);
  EXPECT_EQ(view.clusters[3].calls, 2u);
  VizOptions options;
  options.depth = 1;
  VizView collapsed = viz_view(testing::relu_called_twice(), {}, options);
  ASSERT_NE(box_named(collapsed, "m:act#2"), nullptr);
  EXPECT_EQ(box_named(collapsed, "m:act#2")->subtitle, "ReLU, call 2 of 2");
  EXPECT_EQ(edge_ids(collapsed)[2], (std::pair<std::string, std::string>{"m:act#1", "m:fc2"}));
}

TEST(VizView, MatchesColourTheirBoxesWithALegend) {
  const Graph g = testing::mlp_blocks(2);
  // fc+act of each block; the head alone; and one that spans both blocks.
  std::vector<Match> matches = {match("linear_relu", {0, 1}), match("linear_relu", {2, 3}), match("head", {4}),
                                match("chain", {1, 2})};
  VizView view = viz_view(g, matches, VizOptions{});
  ASSERT_EQ(view.legend.size(), 3u);
  EXPECT_EQ(view.legend[0].pattern, "linear_relu");
  EXPECT_EQ(view.legend[0].matches, 2u);
  EXPECT_EQ(view.legend[1].pattern, "head");
  EXPECT_EQ(view.legend[2].pattern, "chain");
  EXPECT_EQ(box_named(view, "n0")->patterns, (std::vector<uint32_t>{0}));
  EXPECT_EQ(box_named(view, "n1")->patterns, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(box_named(view, "n4")->patterns, (std::vector<uint32_t>{1}));
  EXPECT_TRUE(box_named(view, "input:x")->patterns.empty());
  EXPECT_NE(box_named(view, "n1")->tooltip.find("match: chain (node)"), std::string::npos);

  // Collapsed: a module box lists the matches inside it, whole or in part.
  VizOptions options;
  options.depth = 2;
  VizView blocks = viz_view(g, matches, options);
  EXPECT_EQ(box_named(blocks, "m:blocks.0")->patterns, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(box_named(blocks, "m:blocks.0")->details.back(), "linear_relu, part of chain");
  options.depth = 1;
  VizView top = viz_view(g, matches, options);
  EXPECT_EQ(box_named(top, "m:blocks")->details.back(), "linear_relu \u00d72, chain");
}

TEST(VizView, OnlyShowsTheNamedPatterns) {
  std::vector<Match> matches = {match("linear_relu", {0, 1}), match("head", {2})};
  VizOptions options;
  options.only = {"head"};
  VizView view = viz_view(testing::mlp_blocks(1), matches, options);
  ASSERT_EQ(view.legend.size(), 1u);
  EXPECT_EQ(view.legend[0].pattern, "head");
  EXPECT_TRUE(box_named(view, "n0")->patterns.empty());
  EXPECT_EQ(box_named(view, "n2")->patterns, (std::vector<uint32_t>{0}));
}

TEST(VizView, AboveTheLimitCollapsesToTheDeepestDepthThatFits) {
  // 10 blocks: every node is 23 boxes (with x and y); --depth 2 is 13, --depth 1 is 4.
  const Graph g = testing::mlp_blocks(10);
  VizOptions options;
  options.max_nodes = 13;
  options.source = "g.json";
  VizView view = viz_view(g, {}, options);
  EXPECT_TRUE(view.auto_collapsed);
  EXPECT_EQ(view.depth, 2u);
  EXPECT_EQ(view.boxes.size(), 13u);
  EXPECT_EQ(view.note,
            "g.json: 21 nodes are more than --max-nodes 13: drawn collapsed at --depth 2 (13 boxes); choose with "
            "--depth N, or --max-nodes 0 to draw every node");
  options.max_nodes = 12;
  EXPECT_EQ(viz_view(g, {}, options).depth, 1u);
  options.max_nodes = 23;
  EXPECT_EQ(viz_view(g, {}, options).depth, 0u);
  options.max_nodes = 0;  // no limit
  EXPECT_EQ(viz_view(g, {}, options).boxes.size(), 23u);
}

TEST(VizView, AnExplicitDepthAboveTheLimitIsRefusedNamingOneThatFits) {
  VizOptions options;
  options.max_nodes = 12;
  options.depth = 3;
  options.source = "g.json";
  try {
    viz_view(testing::mlp_blocks(10), {}, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_STREQ(e.what(),
                 "g.json: --depth 3 draws 23 boxes, more than --max-nodes 12; --depth 1 draws 4 (or raise "
                 "--max-nodes; 0: no limit)");
  }
  options.depth = 1;
  EXPECT_EQ(viz_view(testing::mlp_blocks(10), {}, options).boxes.size(), 4u);
}

TEST(VizView, NothingToCollapseIsRefused) {
  testing::GraphMaker g;
  ValueId x = g.input("x", {2});
  for (int i = 0; i < 30; ++i) x = g.unary("aten::relu", x, {2});
  VizOptions options;
  options.max_nodes = 10;
  try {
    viz_view(g.graph, {}, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_STREQ(e.what(),
                 "30 nodes are more than --max-nodes 10, and no node is inside a module, so collapsing cannot help; "
                 "raise --max-nodes (0: no limit)");
  }
}

TEST(VizView, ATensorReadEverywhereIsNamedNotDrawn) {
  // The mask is read by 9 layer boxes at --depth 2 (> kVizMaxFanOut = 8): no edges from it.
  VizOptions options;
  options.depth = 2;
  VizView view = viz_view(testing::mask_read_by_every_layer(kVizMaxFanOut + 1), {}, options);
  const uint32_t mask = index_of(view, "input:mask");
  for (const VizEdge& e : view.edges) EXPECT_NE(e.from, mask);
  EXPECT_EQ(view.fanned_out, 1u);
  EXPECT_EQ(box_named(view, "input:mask")->details.back(), "\u2192 9 readers, edges not drawn");
  EXPECT_EQ(box_named(view, "m:layers.4")->details.back(), "\u2190 mask");
  // At the limit, the edges are drawn.
  VizView few = viz_view(testing::mask_read_by_every_layer(kVizMaxFanOut), {}, options);
  const uint32_t few_mask = index_of(few, "input:mask");
  EXPECT_EQ(std::count_if(few.edges.begin(), few.edges.end(), [&](const VizEdge& e) { return e.from == few_mask; }),
            static_cast<long>(kVizMaxFanOut));
  EXPECT_EQ(few.fanned_out, 0u);
}

TEST(VizView, ShortOperatorNames) {
  Node n;
  n.op = "aten::native_batch_norm";
  EXPECT_EQ(viz_short_op(n), "native_batch_norm");
  n.op = "prim::ListConstruct";
  EXPECT_EQ(viz_short_op(n), "prim::ListConstruct");
}

}  // namespace
}  // namespace genie
