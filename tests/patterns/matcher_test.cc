// The matcher on hand-made graphs, one rule of the pattern language at a time: shared
// intermediates (single use), commuted inputs, overlapping candidates, optional nodes
// present and absent, chains and their limits, looking through operators, value
// variables, predicates, output slots, path search, graphs out of order.
#include <gtest/gtest.h>

#include <algorithm>

#include "graph/validate.h"
#include "patterns/graph_index.h"
#include "patterns/graph_maker.h"
#include "patterns/pattern_test_util.h"
#include "support/error.h"

namespace genie {
namespace {

using testing::A;
using testing::GraphMaker;
using testing::Ints;
using testing::T;

const std::vector<int64_t> kImage = {1, 4, 8, 8};

const char* kConvOps = R"({"conv": ["aten::_convolution", "aten::convolution"], "bn": ["aten::native_batch_norm"],
                          "relu": ["aten::relu", {"op": "aten::hardtanh", "args": {"min_val": 0}}]})";
const char* kConvBn = R"({"name": "conv_bn", "description": "d",
    "nodes": {"conv": {"op": "@conv", "single_use": true}, "bn": {"op": "@bn", "inputs": {"0": "conv"}}}})";
const char* kConvBnRelu = R"({"name": "conv_bn_relu", "description": "d",
    "nodes": {"conv": {"op": "@conv", "single_use": true}, "bn": {"op": "@bn", "inputs": {"0": "conv"}, "single_use": true},
              "relu": {"op": "@relu", "inputs": {"0": "bn"}}}})";

std::string conv_patterns() {
  return testing::patterns_file(std::string(kConvBn) + "," + kConvBnRelu, kConvOps);
}

// x -> conv -> bn -> relu, returning the maker for more.
GraphMaker conv_block(ValueId* conv_out = nullptr, ValueId* bn_out = nullptr, ValueId* relu_out = nullptr) {
  GraphMaker g;
  ValueId x = g.input("x", kImage);
  ValueId c = g.conv(x, "conv", 4, kImage);
  ValueId b = g.batch_norm(c, "bn");
  ValueId r = g.unary("aten::relu", b, kImage, "relu");
  if (conv_out) *conv_out = c;
  if (bn_out) *bn_out = b;
  if (relu_out) *relu_out = r;
  return g;
}

TEST(Matcher, ConvBnReluMatchesWithRolesAndScope) {
  ValueId r;
  GraphMaker g = conv_block(nullptr, nullptr, &r);
  g.output("y", r);
  auto matches = testing::run_patterns(conv_patterns(), g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].pattern, "conv_bn");
  const Match& m = matches[1];
  EXPECT_EQ(m.pattern, "conv_bn_relu");
  EXPECT_EQ(testing::role_nodes(m, "conv"), std::vector<NodeId>{0});
  EXPECT_EQ(testing::role_nodes(m, "bn"), std::vector<NodeId>{1});
  EXPECT_EQ(testing::role_nodes(m, "relu"), std::vector<NodeId>{2});
  EXPECT_EQ(m.nodes, (std::vector<NodeId>{0, 1, 2}));
  EXPECT_EQ(m.anchor, 2u);
  EXPECT_EQ(m.scope, "");  // conv, bn and relu share no module
  EXPECT_DOUBLE_EQ(m.confidence, 1.0);
}

TEST(Matcher, SingleUseRefusesASharedIntermediate) {
  // The conv's output is also read elsewhere: fusing conv into bn would lose it.
  ValueId c, r;
  GraphMaker g = conv_block(&c, nullptr, &r);
  ValueId side = g.unary("aten::sigmoid", c, kImage, "side");
  g.output("y", r);
  g.output("side", side);
  auto counts = testing::count_by_pattern(testing::run_patterns(conv_patterns(), g.graph));
  EXPECT_EQ(counts["conv_bn"], 0u);
  EXPECT_EQ(counts["conv_bn_relu"], 0u);

  // Without the constraint the same template matches.
  std::string loose = testing::patterns_file(R"({"name": "conv_bn", "description": "d",
      "nodes": {"conv": {"op": "@conv"}, "bn": {"op": "@bn", "inputs": {"0": "conv"}}}})",
                                             kConvOps);
  EXPECT_EQ(testing::run_patterns(loose, g.graph).size(), 1u);
}

TEST(Matcher, SingleUseOfTheMiddleNodeOnly) {
  // The bn's output feeds the relu and an add: conv_bn holds, conv_bn_relu does not.
  ValueId b, r;
  GraphMaker g = conv_block(nullptr, &b, &r);
  ValueId sum = g.binary("aten::add.Tensor", r, b, kImage);
  g.output("y", sum);
  auto counts = testing::count_by_pattern(testing::run_patterns(conv_patterns(), g.graph));
  EXPECT_EQ(counts["conv_bn"], 1u);
  EXPECT_EQ(counts["conv_bn_relu"], 0u);
}

TEST(Matcher, SingleUseRefusesAGraphOutput) {
  ValueId c, r;
  GraphMaker g = conv_block(&c, nullptr, &r);
  g.output("y", r);
  g.output("features", c);  // the conv's output leaves the graph
  EXPECT_TRUE(testing::run_patterns(conv_patterns(), g.graph).empty());
}

TEST(Matcher, OperatorAlternativeWithArguments) {
  // ReLU6 is hardtanh(0, 6) and counts as a relu; hardtanh(-1, 1) does not.
  for (double min_val : {0.0, -1.0}) {
    GraphMaker g;
    ValueId x = g.input("x", kImage);
    ValueId b = g.batch_norm(g.conv(x, "conv", 4, kImage), "bn");
    ValueId y = g.op("aten::hardtanh", {T(b, "self"), A("min_val", min_val), A("max_val", 6.0)}, kImage);
    g.output("y", y);
    auto counts = testing::count_by_pattern(testing::run_patterns(conv_patterns(), g.graph));
    EXPECT_EQ(counts["conv_bn_relu"], min_val == 0.0 ? 1u : 0u) << min_val;
    EXPECT_EQ(counts["conv_bn"], 1u);
  }
}

TEST(Matcher, OutputSlotsAreDistinct) {
  // relu reads the bn's second output (save_mean), not the normalized one: no match.
  GraphMaker g;
  ValueId x = g.input("x", kImage);
  g.batch_norm(g.conv(x, "conv", 4, kImage), "bn");
  ValueId mean = g.output_of(g.last, 1);
  g.output("y", g.unary("aten::relu", mean, {4}));
  auto counts = testing::count_by_pattern(testing::run_patterns(conv_patterns(), g.graph));
  EXPECT_EQ(counts["conv_bn_relu"], 0u);
  EXPECT_EQ(counts["conv_bn"], 1u);
}

const char* kAddOfRelu = R"({"name": "add_of_relu", "description": "d",
    "nodes": {"r": {"op": "aten::relu"}, "add": {"op": "aten::add", "commutative": %s, "inputs": {"0": "r", "1": "$y"}}}})";

std::string add_of_relu(bool commutative) {
  char buf[512];
  std::snprintf(buf, sizeof buf, kAddOfRelu, commutative ? "true" : "false");
  return testing::patterns_file(buf);
}

TEST(Matcher, CommutedInputs) {
  GraphMaker g;
  ValueId x = g.input("x", {8});
  ValueId y = g.input("y", {8});
  ValueId a = g.binary("aten::add.Tensor", g.unary("aten::relu", x, {8}), y, {8});  // add(relu, y)
  ValueId b = g.binary("aten::add.Tensor", y, g.unary("aten::relu", x, {8}), {8});  // add(y, relu)
  g.output("a", a);
  g.output("b", b);
  auto both = testing::run_patterns(add_of_relu(true), g.graph);
  ASSERT_EQ(both.size(), 2u);
  for (const Match& m : both) EXPECT_EQ(testing::value_of(m, "y"), y) << m.anchor;
  auto ordered = testing::run_patterns(add_of_relu(false), g.graph);
  ASSERT_EQ(ordered.size(), 1u);
  EXPECT_EQ(ordered[0].anchor, 1u);
}

TEST(Matcher, ANodeBindsOneRoleOnly) {
  // add(relu(x), relu(x)) with the same relu node on both sides: "r" and "s" need two nodes.
  std::string two = testing::patterns_file(R"({"name": "two_relus", "description": "d",
      "nodes": {"r": {"op": "aten::relu"}, "s": {"op": "aten::relu"},
                "add": {"op": "aten::add", "inputs": {"0": "r", "1": "s"}}}})");
  GraphMaker g;
  ValueId x = g.input("x", {8});
  ValueId r = g.unary("aten::relu", x, {8});
  g.output("same", g.binary("aten::add.Tensor", r, r, {8}));
  ValueId r2 = g.unary("aten::relu", x, {8});
  ValueId r3 = g.unary("aten::relu", x, {8});
  g.output("different", g.binary("aten::add.Tensor", r2, r3, {8}));
  auto matches = testing::run_patterns(two, g.graph);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].anchor, 4u);
}

TEST(Matcher, OverlappingCandidatesGiveDisjointMatches) {
  // relu^5 and a two-relu pattern: from the last node backwards, (3,4) then (1,2); node 0
  // is left over. A match never shares a role node with another match of its pattern.
  std::string pair = testing::patterns_file(R"({"name": "pair", "description": "d",
      "nodes": {"a": {"op": "aten::relu"}, "b": {"op": "aten::relu", "inputs": {"0": "a"}}}})");
  GraphMaker g;
  ValueId v = g.input("x", {8});
  for (int i = 0; i < 5; ++i) v = g.unary("aten::relu", v, {8});
  g.output("y", v);
  auto matches = testing::run_patterns(pair, g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].nodes, (std::vector<NodeId>{1, 2}));
  EXPECT_EQ(matches[1].nodes, (std::vector<NodeId>{3, 4}));
}

TEST(Matcher, DifferentPatternsMayShareNodes) {
  ValueId r;
  GraphMaker g = conv_block(nullptr, nullptr, &r);
  g.output("y", r);
  auto matches = testing::run_patterns(conv_patterns(), g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(testing::role_nodes(matches[0], "conv"), testing::role_nodes(matches[1], "conv"));
}

// mm chains: x @ w0 @ w1 @ ... (length n).
Graph mm_chain(int n) {
  GraphMaker g;
  ValueId v = g.input("x", {4, 4});
  for (int i = 0; i < n; ++i) v = g.binary("aten::mm", v, g.param("w" + std::to_string(i), {4, 4}), {4, 4});
  g.output("y", v);
  return std::move(g.graph);
}

std::string chain_pattern(int min, int max) {
  return testing::patterns_file(R"({"name": "chain", "description": "d", "nodes": {"mm": {"op": "aten::mm",
      "repeat": {"min": )" + std::to_string(min) +
                                R"(, "max": )" + std::to_string(max) + "}}}}");
}

TEST(Matcher, ChainMinAndMax) {
  struct Case {
    int length, min, max;
    std::vector<size_t> sizes;  // of the matches, by anchor
  };
  for (const Case& c : std::vector<Case>{{1, 2, 8, {}},
                                         {2, 2, 8, {2}},
                                         {4, 2, 8, {4}},     // maximal: one chain, not three overlapping
                                         {4, 2, 3, {3}},     // the last three; one left, under min
                                         {5, 2, 3, {2, 3}},  // the last three, then the first two
                                         {6, 1, 2, {2, 2, 2}},
                                         {3, 3, 3, {3}}}) {
    auto matches = testing::run_patterns(chain_pattern(c.min, c.max), mm_chain(c.length));
    std::vector<size_t> sizes;
    for (const Match& m : matches) sizes.push_back(testing::role_nodes(m, "mm").size());
    EXPECT_EQ(sizes, c.sizes) << "length " << c.length << ", min " << c.min << ", max " << c.max;
  }
}

TEST(Matcher, ChainLinkAnyFollowsTheFirstArgumentThatContinues) {
  // A chain through the second argument (w @ x): link 0 stops, link "*" continues.
  GraphMaker g;
  ValueId v = g.input("x", {4, 4});
  for (int i = 0; i < 3; ++i) v = g.binary("aten::mm", g.param("w" + std::to_string(i), {4, 4}), v, {4, 4});
  g.output("y", v);
  EXPECT_TRUE(testing::run_patterns(chain_pattern(3, 3), g.graph).empty());
  std::string any = testing::patterns_file(R"({"name": "chain", "description": "d",
      "nodes": {"mm": {"op": "aten::mm", "repeat": {"min": 3, "max": 3, "link": "*"}}}})");
  EXPECT_EQ(testing::run_patterns(any, g.graph).size(), 1u);
}

TEST(Matcher, ChainLooksThroughViewsBetweenLinks) {
  GraphMaker g;
  ValueId v = g.input("x", {4, 4});
  v = g.binary("aten::mm", v, g.param("w0", {4, 4}), {4, 4});
  v = g.op("aten::view", {T(v, "self"), Ints("size", {16})}, {16});
  v = g.op("aten::view", {T(v, "self"), Ints("size", {4, 4})}, {4, 4});
  v = g.binary("aten::mm", v, g.param("w1", {4, 4}), {4, 4});
  g.output("y", v);
  std::string through = testing::patterns_file(R"({"name": "chain", "description": "d",
      "nodes": {"mm": {"op": "aten::mm", "repeat": {"min": 2, "max": 8, "through": "aten::view", "max_through": %d}}}})");
  for (int max_through : {2, 1}) {
    char buf[1024];
    std::snprintf(buf, sizeof buf, through.c_str(), max_through);
    auto matches = testing::run_patterns(buf, g.graph);
    ASSERT_EQ(matches.size(), max_through == 2 ? 1u : 0u) << max_through;
    if (!matches.empty()) {
      EXPECT_EQ(matches[0].nodes, (std::vector<NodeId>{0, 1, 2, 3}));  // views included
    }
  }
  EXPECT_TRUE(testing::run_patterns(chain_pattern(2, 8), g.graph).empty());  // without looking through
}

// The decomposed layer norm of patterns/normalization.json, on (x - mean) / sqrt(var + eps)
// [* w] [+ b]: optional nodes present and absent, and the same $x on both sides.
const char* kLayerNorm = R"({"name": "layer_norm", "description": "d", "anchor": "norm", "nodes": {
    "mean": {"op": "aten::mean", "args": {"keepdim": true}, "inputs": {"0": "$x"}},
    "center": {"op": "aten::sub", "inputs": {"0": "$x", "1": "mean"}},
    "square": {"op": [{"op": "aten::pow", "args": {"1": 2}}, "aten::square"], "inputs": {"0": "center"}},
    "variance": {"op": "aten::mean", "args": {"keepdim": true}, "inputs": {"0": "square"}},
    "eps": {"op": "aten::add", "optional": true, "inputs": {"0": "variance"}},
    "std": {"op": "aten::sqrt", "inputs": {"0": "eps"}},
    "norm": {"op": "aten::div", "inputs": {"0": "center", "1": "std"}},
    "scale": {"op": "aten::mul", "optional": true, "commutative": true, "inputs": {"0": "norm", "1": "$weight"}},
    "shift": {"op": "aten::add", "optional": true, "commutative": true, "inputs": {"0": "scale", "1": "$bias"}}}})";

struct LayerNormGraph {
  bool eps = true, scale = true, shift = true, same_x = true, weight_first = false;
};

Graph layer_norm_graph(const LayerNormGraph& o) {
  GraphMaker g;
  const std::vector<int64_t> s = {2, 8}, r = {2, 1};
  ValueId x = g.input("x", s);
  ValueId other = g.input("other", s);
  ValueId mean =
      g.op("aten::mean.dim", {T(x, "self"), Ints("dim", {-1}), A("keepdim", true), A("dtype", std::monostate{})}, r);
  ValueId center = g.binary("aten::sub.Tensor", o.same_x ? x : other, mean, s);
  ValueId sq = g.op("aten::pow.Tensor_Scalar", {T(center, "self"), A("exponent", int64_t{2})}, s);
  ValueId var =
      g.op("aten::mean.dim", {T(sq, "self"), Ints("dim", {-1}), A("keepdim", true), A("dtype", std::monostate{})}, r);
  if (o.eps) var = g.op("aten::add.Scalar", {T(var, "self"), A("other", 1e-5), A("alpha", int64_t{1})}, r);
  ValueId y = g.binary("aten::div.Tensor", center, g.unary("aten::sqrt", var, r), s);
  if (o.scale) {
    ValueId w = g.param("w", {8});
    y = o.weight_first ? g.binary("aten::mul.Tensor", w, y, s) : g.binary("aten::mul.Tensor", y, w, s);
  }
  if (o.shift) y = g.binary("aten::add.Tensor", y, g.param("b", {8}), s);
  g.output("y", y);
  return std::move(g.graph);
}

TEST(Matcher, OptionalNodesPresentAndAbsent) {
  const std::string file = testing::patterns_file(kLayerNorm);
  struct Case {
    LayerNormGraph graph;
    std::vector<std::string> present, absent;
  };
  for (const Case& c :
       std::vector<Case>{{{}, {"eps", "scale", "shift"}, {}},
                         {{false, true, true}, {"scale", "shift"}, {"eps"}},
                         {{true, false, true}, {"eps", "shift"}, {"scale"}},  // shift reads norm directly
                         {{true, true, false}, {"eps", "scale"}, {"shift"}},
                         {{false, false, false}, {}, {"eps", "scale", "shift"}},
                         {{true, true, true, true, true}, {"scale", "shift"}, {}}}) {  // w * norm: commuted
    Graph g = layer_norm_graph(c.graph);
    auto matches = testing::run_patterns(file, g);
    ASSERT_EQ(matches.size(), 1u);
    for (const auto& role : c.present) EXPECT_TRUE(testing::has_role(matches[0], role)) << role;
    for (const auto& role : c.absent) EXPECT_FALSE(testing::has_role(matches[0], role)) << role;
    EXPECT_EQ(testing::value_of(matches[0], "x"), 0u);
    EXPECT_EQ(matches[0].nodes.size(), g.nodes.size());  // every node of the graph is the layer norm
  }
}

TEST(Matcher, ValueVariableIsOneValue) {
  // sub(other, mean(x)): $x differs on the two sides, so it is not a layer norm.
  LayerNormGraph o;
  o.same_x = false;
  EXPECT_TRUE(testing::run_patterns(testing::patterns_file(kLayerNorm), layer_norm_graph(o)).empty());
}

TEST(Matcher, LookingThroughOperators) {
  // linear -> view -> transpose -> relu; the through limit decides.
  GraphMaker g;
  ValueId x = g.input("x", {2, 8});
  ValueId v = g.linear(x, "fc", 8);
  v = g.op("aten::view", {T(v, "self"), Ints("size", {8, 2})}, {8, 2});
  v = g.op("aten::t", {T(v, "self")}, {2, 8});
  g.output("y", g.unary("aten::relu", v, {2, 8}));
  auto pattern = [](const std::string& edge) {
    return testing::patterns_file(R"({"name": "lin_act", "description": "d", "nodes": {"linear": {"op": "aten::linear"},
        "act": {"op": "aten::relu", "inputs": {"0": )" +
                                  edge + "}}}}");
  };
  EXPECT_TRUE(testing::run_patterns(pattern(R"("linear")"), g.graph).empty());
  auto m = testing::run_patterns(pattern(R"({"from": "linear", "through": ["aten::view", "aten::t"]})"), g.graph);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].nodes, (std::vector<NodeId>{0, 1, 2, 3}));
  EXPECT_EQ(m[0].roles.size(), 2u);  // looked-through nodes are in "nodes", not a role
  EXPECT_TRUE(testing::run_patterns(pattern(R"({"from": "linear", "through": "aten::view"})"), g.graph).empty());
  EXPECT_TRUE(
      testing::run_patterns(pattern(R"({"from": "linear", "through": ["aten::view", "aten::t"], "max": 1})"), g.graph)
          .empty());
  EXPECT_TRUE(
      testing::run_patterns(pattern(R"({"from": "linear", "through": ["aten::view", "aten::t"], "min": 3})"), g.graph)
          .empty());
  // "*" looks through anything, up to the first node the source role accepts.
  auto named = testing::run_patterns(pattern(R"({"from": "linear", "through": "*", "as": "reshape"})"), g.graph);
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(testing::role_nodes(named[0], "reshape"), (std::vector<NodeId>{1, 2}));
}

TEST(Matcher, ArgumentTypeAndModulePredicates) {
  GraphMaker g;
  ValueId x = g.input("x", {2, 8});
  ValueId h = g.input("h", {2, 8}, DType::kFloat16);
  g.output("a", g.op("aten::softmax.int", {T(x, "self"), A("dim", int64_t{-1}), A("half_to_float", false)}, {2, 8},
                     "attn", 1));
  g.output("b", g.op("aten::softmax.int", {T(x, "self"), A("dim", int64_t{0}), A("half_to_float", false)}, {2, 8}));
  g.output("c", g.op("aten::softmax.int", {T(h, "self"), A("dim", int64_t{1}), A("half_to_float", false)}, {2, 8}, "",
                     1, DType::kFloat16));
  g.graph.nodes[0].module_type = "Softmax";
  auto count = [&](const std::string& spec) {
    return testing::run_patterns(
               testing::patterns_file(R"({"name": "s", "description": "d", "nodes": {"s": )" + spec + "}}"), g.graph)
        .size();
  };
  EXPECT_EQ(count(R"({"op": "aten::softmax"})"), 3u);
  EXPECT_EQ(count(R"({"op": "aten::softmax.int"})"), 3u);
  EXPECT_EQ(count(R"({"op": "aten::softmax.Dimname"})"), 0u);
  EXPECT_EQ(count(R"({"op": "*", "args": {"dim": -1}})"), 1u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "args": {"dim": {"ge": 0}}})"), 2u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "args": {"1": {"in": [-1, 1]}}})"), 2u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "args": {"dim": {"ne": 0}, "half_to_float": false}})"), 2u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "args": {"missing": 1}})"), 0u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "dtype": "float16"})"), 1u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "dtype": ["float32", "bfloat16"], "rank": 2, "shape": [2, null]})"), 2u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "rank": {"min": 3}})"), 0u);
  EXPECT_EQ(count(R"({"op": "aten::softmax", "module_type": "Softmax"})"), 1u);
}

TEST(Matcher, ValueVariablePredicates) {
  // An embedding reads a stored table; the same op on an activation is not a lookup.
  GraphMaker g;
  ValueId ids = g.input("ids", {1, 4}, DType::kInt64);
  ValueId table = g.param("emb.weight", {10, 8});
  ValueId computed = g.unary("aten::relu", table, {10, 8});
  for (ValueId t : {table, computed})
    g.output("e" + std::to_string(t), g.op("aten::embedding", {T(t, "weight"), T(ids, "indices")}, {1, 4, 8}));
  std::string file = testing::patterns_file(R"({"name": "lookup", "description": "d",
      "nodes": {"e": {"op": "aten::embedding", "inputs": {"0": "$table"}}},
      "values": {"table": {"residency": "parameter", "rank": 2, "dtype": "float32", "shape": [10, null]}}})");
  auto matches = testing::run_patterns(file, g.graph);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(testing::value_of(matches[0], "table"), table);
}

// residual_add of patterns/residual.json.
const char* kResidual = R"({"name": "residual_add", "description": "d", "nodes": {
    "shortcut": {"op": ["aten::_convolution", "aten::native_batch_norm"], "repeat": {"min": 0, "max": 2}, "inputs": {"0": "$x"}},
    "add": {"op": "aten::add", "commutative": true, "same_shape": true,
            "inputs": {"0": {"from": "$x", "through": "*", "follow": "any", "min": 1, "max": %d, "as": "branch"}, "1": "shortcut"}}}})";

std::string residual(int max = 64) {
  char buf[2048];
  std::snprintf(buf, sizeof buf, kResidual, max);
  return testing::patterns_file(buf);
}

TEST(Matcher, ResidualSkipOnEitherSide) {
  for (bool skip_first : {false, true}) {
    GraphMaker g;
    ValueId x = g.input("x", kImage);
    ValueId branch = g.batch_norm(g.conv(x, "block.conv", 4, kImage), "block.bn");
    ValueId y = skip_first ? g.binary("aten::add.Tensor", x, branch, kImage, "block")
                           : g.binary("aten::add.Tensor", branch, x, kImage, "block");
    g.output("y", y);
    auto matches = testing::run_patterns(residual(), g.graph);
    ASSERT_EQ(matches.size(), 1u) << skip_first;
    EXPECT_EQ(testing::value_of(matches[0], "x"), x);
    EXPECT_EQ(testing::role_nodes(matches[0], "branch"), (std::vector<NodeId>{0, 1}));
    EXPECT_FALSE(testing::has_role(matches[0], "shortcut"));
    EXPECT_EQ(matches[0].scope, "block");
  }
}

TEST(Matcher, ResidualWithProjectionShortcut) {
  // ResNet's downsampling block: add(bn(conv(relu(bn(conv(x))))), bn(conv(x))).
  GraphMaker g;
  ValueId x = g.input("x", kImage);
  ValueId a = g.unary("aten::relu", g.batch_norm(g.conv(x, "b.conv1", 4, kImage), "b.bn1"), kImage, "b.relu");
  ValueId main = g.batch_norm(g.conv(a, "b.conv2", 4, kImage), "b.bn2");
  ValueId skip = g.batch_norm(g.conv(x, "b.down.0", 4, kImage), "b.down.1");
  g.output("y", g.binary("aten::add.Tensor", main, skip, kImage, "b"));
  auto matches = testing::run_patterns(residual(), g.graph);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(testing::value_of(matches[0], "x"), x);
  EXPECT_EQ(testing::role_nodes(matches[0], "shortcut"), (std::vector<NodeId>{5, 6}));
  EXPECT_EQ(testing::role_nodes(matches[0], "branch"), (std::vector<NodeId>{0, 1, 2, 3, 4}));
}

TEST(Matcher, ResidualSkipThatIsItselfABatchNorm) {
  // MobileNetV2: the block input x is the previous block's bn output. The longest shortcut
  // (that bn and its conv) would make a path through x itself; a path may not go through
  // the match's own role nodes, so the shortcut shrinks to none and x is the skip.
  GraphMaker g;
  ValueId in = g.input("in", kImage);
  ValueId x = g.batch_norm(g.conv(in, "prev.conv", 4, kImage), "prev.bn");
  ValueId branch = g.batch_norm(g.conv(g.unary("aten::relu", x, kImage), "b.conv", 4, kImage), "b.bn");
  g.output("y", g.binary("aten::add.Tensor", x, branch, kImage, "b"));
  auto matches = testing::run_patterns(residual(), g.graph);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(testing::value_of(matches[0], "x"), x);
  EXPECT_FALSE(testing::has_role(matches[0], "shortcut"));
}

TEST(Matcher, ResidualNeedsACommonSourceAndNoBroadcast) {
  GraphMaker g;
  ValueId x = g.input("x", kImage);
  ValueId y = g.input("y", kImage);
  ValueId mask = g.input("mask", {1, 1, 8, 8});
  g.output("unrelated", g.binary("aten::add.Tensor", g.unary("aten::relu", x, kImage), y, kImage));
  // mask feeds the other side, but the add broadcasts it: not a skip connection.
  ValueId masked = g.binary("aten::add.Tensor", x, mask, kImage);
  g.output("broadcast", g.binary("aten::add.Tensor", g.unary("aten::relu", masked, kImage), mask, kImage));
  EXPECT_TRUE(testing::run_patterns(residual(), g.graph).empty());
}

TEST(Matcher, PathSearchIsBoundedByMax) {
  for (int length : {3, 4}) {
    GraphMaker g;
    ValueId x = g.input("x", {8});
    ValueId v = x;
    for (int i = 0; i < length; ++i) v = g.unary("aten::relu", v, {8});
    g.output("y", g.binary("aten::add.Tensor", v, x, {8}));
    EXPECT_EQ(testing::run_patterns(residual(3), g.graph).size(), length <= 3 ? 1u : 0u) << length;
  }
}

TEST(Matcher, GraphOutOfTopologicalOrder) {
  // The same conv block with its nodes stored backwards: ids differ, matches do not.
  ValueId r;
  GraphMaker g = conv_block(nullptr, nullptr, &r);
  g.output("y", r);
  std::reverse(g.graph.nodes.begin(), g.graph.nodes.end());
  graph_validate(g.graph);
  auto matches = testing::run_patterns(conv_patterns(), g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(testing::role_nodes(matches[1], "relu"), std::vector<NodeId>{0});
  EXPECT_EQ(testing::role_nodes(matches[1], "conv"), std::vector<NodeId>{2});
}

TEST(Matcher, ConsumerDirectionReachesReaders) {
  // Anchored at "a", the pattern finds the node that reads it (downstream).
  std::string file = testing::patterns_file(R"({"name": "p", "description": "d", "anchor": "a",
      "nodes": {"a": {"op": "aten::relu"}, "b": {"op": "aten::sigmoid", "inputs": {"0": "a"}}}})");
  GraphMaker g;
  ValueId x = g.input("x", {8});
  ValueId a = g.unary("aten::relu", x, {8});
  g.output("t", g.unary("aten::tanh", a, {8}));
  g.output("s", g.unary("aten::sigmoid", a, {8}));
  auto matches = testing::run_patterns(file, g.graph);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(testing::role_nodes(matches[0], "b"), std::vector<NodeId>{2});
  EXPECT_EQ(matches[0].anchor, 0u);
}

TEST(Matcher, VariantsShareClaims) {
  // A node taken by the first variant is not taken again by the second.
  std::string file = testing::patterns_file(R"({"name": "act", "description": "d", "variants": [
      {"name": "pair", "nodes": {"a": {"op": "aten::relu"}, "b": {"op": "aten::relu", "inputs": {"0": "a"}}}},
      {"name": "single", "nodes": {"a": {"op": "aten::relu"}}}]})");
  GraphMaker g;
  ValueId v = g.input("x", {8});
  for (int i = 0; i < 3; ++i) v = g.unary("aten::relu", v, {8});
  g.output("y", v);
  auto matches = testing::run_patterns(file, g.graph);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].variant, "single");
  EXPECT_EQ(matches[0].nodes, std::vector<NodeId>{0});
  EXPECT_EQ(matches[1].variant, "pair");
  EXPECT_EQ(matches[1].nodes, (std::vector<NodeId>{1, 2}));
}

TEST(Matcher, WildcardAnchorAndEmptyGraph) {
  std::string file = testing::patterns_file(R"({"name": "any", "description": "d", "nodes": {"n": {"op": "*"}}})");
  EXPECT_TRUE(testing::run_patterns(file, Graph{}).empty());
  EXPECT_EQ(testing::run_patterns(file, mm_chain(3)).size(), 3u);
}

TEST(Matcher, MatchScopeIsTheCommonModulePath) {
  GraphMaker g;
  auto scope_of = [&](std::vector<std::string> scopes) {
    g.graph.nodes.clear();
    std::vector<NodeId> ids;
    for (const auto& s : scopes) {
      Node n;
      n.op = "aten::relu";
      n.scope = s;
      ids.push_back(g.graph.add_node(n));
    }
    return match_scope(g.graph, ids);
  };
  EXPECT_EQ(scope_of({"layer1.0.conv1", "layer1.0.bn1"}), "layer1.0");
  EXPECT_EQ(scope_of({"layer1.0", "layer1.0.bn1"}), "layer1.0");
  EXPECT_EQ(scope_of({"layer1.0.bn1", "layer1.0"}), "layer1.0");
  EXPECT_EQ(scope_of({"layer1", "layer10"}), "");
  EXPECT_EQ(scope_of({"encoder.1.attention", "encoder.10.attention"}), "encoder");
  EXPECT_EQ(scope_of({"a.b", ""}), "");
  EXPECT_EQ(scope_of({"a.b.c"}), "a.b.c");
}

}  // namespace
}  // namespace genie
