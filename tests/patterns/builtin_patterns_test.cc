// The built-in patterns (patterns/*.json and the repeated_block plugin) on hand-made
// graphs whose expected matches are stated beside them; the matches file, the annotated
// graph and the summary (also written to GENIE_TEST_OUT for the schema checks).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "graph/json_codec.h"
#include "patterns/graph_maker.h"
#include "patterns/pattern_file.h"
#include "patterns/pattern_test_util.h"
#include "support/files.h"

namespace genie {
namespace {

using testing::A;
using testing::GraphMaker;
using testing::Ints;
using testing::T;

using Counts = std::map<std::string, size_t>;

const PatternSet& builtin() {
  static const PatternSet* set = new PatternSet(patterns_load({}));
  return *set;
}

// Counts of every built-in pattern, zeros included.
Counts counts(const std::vector<Match>& matches) {
  Counts out;
  for (const auto& p : builtin().patterns) out[p->name()] = 0;
  for (const Match& m : matches) ++out[m.pattern];
  return out;
}

Counts expected(std::initializer_list<std::pair<const std::string, size_t>> nonzero) {
  Counts out;
  for (const auto& p : builtin().patterns) out[p->name()] = 0;
  for (const auto& [name, n] : nonzero) {
    EXPECT_TRUE(out.count(name)) << name << " is not a built-in pattern";
    out[name] = n;
  }
  return out;
}

std::vector<Match> only(const std::vector<Match>& matches, const std::string& pattern) {
  std::vector<Match> out;
  for (const Match& m : matches)
    if (m.pattern == pattern) out.push_back(m);
  return out;
}

void write_test_file(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("GENIE_TEST_OUT");
  if (!dir) return;
  write_file_atomic(std::string(dir) + "/" + name, [&](std::ostream& out) { out << text; });
}

std::vector<PatternCount> pattern_counts(const std::vector<Match>& matches) {
  std::vector<PatternCount> out;
  Counts c = counts(matches);
  for (const auto& p : builtin().patterns) out.push_back({p->name(), p->source(), c[p->name()]});
  return out;
}

TEST(BuiltinPatterns, AllFilesLoad) {
  std::vector<std::string> names;
  for (const auto& p : builtin().patterns) names.push_back(p->name());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"attention", "conv_bn", "conv_bn_activation", "conv_bn_relu", "embedding_lookup", "layer_norm",
                                      "linear_activation", "matmul_chain", "mlp", "repeated_block", "residual_add"}));
}

// Per layer of the synthetic BERT-like encoder (graph_maker.h): one attention (q/k scaled,
// masked), two layer norms, one linear + gelu (linear_activation) inside one FFN (mlp),
// one value-projection -> attention.V -> output-projection chain (matmul_chain), two
// residual adds; plus three embeddings and their layer norm; every layer is the same
// (repeated_block).
TEST(BuiltinPatterns, SyntheticTransformer) {
  const size_t layers = 3;
  Graph g = testing::synthetic_transformer(layers);
  ASSERT_EQ(g.nodes.size(), 6 + 54 * layers);
  auto matches = patterns_run(builtin(), g);
  EXPECT_EQ(counts(matches), expected({{"attention", layers},
                                       {"layer_norm", 2 * layers + 1},
                                       {"embedding_lookup", 3},
                                       {"linear_activation", layers},
                                       {"mlp", layers},
                                       {"matmul_chain", layers},
                                       {"residual_add", 2 * layers},
                                       {"repeated_block", layers}}));
  auto attention = only(matches, "attention");
  for (size_t l = 0; l < attention.size(); ++l) {
    const Match& m = attention[l];
    EXPECT_EQ(m.variant, "decomposed");
    EXPECT_EQ(m.scope, "encoder." + std::to_string(l) + ".attention.self");
    for (const char* role : {"q_scale", "k_scale", "scores", "mask", "softmax", "output"})
      EXPECT_TRUE(testing::has_role(m, role)) << role;
    EXPECT_FALSE(testing::has_role(m, "scale"));
    EXPECT_FALSE(testing::has_role(m, "dropout"));
    EXPECT_EQ(testing::value_of(m, "mask"), g.inputs[2].value);
  }
  for (const Match& m : only(matches, "matmul_chain")) {
    auto mm = testing::role_nodes(m, "matmuls");
    ASSERT_EQ(mm.size(), 3u);
    EXPECT_EQ(g.nodes[mm[0]].op, "aten::addmm");
    EXPECT_EQ(g.nodes[mm[0]].scope.substr(g.nodes[mm[0]].scope.rfind('.')), ".value");
    EXPECT_EQ(g.nodes[mm[1]].op, "aten::bmm");
    EXPECT_EQ(g.nodes[mm[2]].scope.substr(g.nodes[mm[2]].scope.find(".attention")), ".attention.output.dense");
  }
  std::vector<std::string> residual_scopes;
  for (const Match& m : only(matches, "residual_add")) residual_scopes.push_back(m.scope);
  EXPECT_EQ(residual_scopes, (std::vector<std::string>{"encoder.0.attention", "encoder.0", "encoder.1.attention",
                                                       "encoder.1", "encoder.2.attention", "encoder.2"}));

  write_test_file("synthetic_transformer.matches.json", matches_to_json(matches, pattern_counts(matches), "synthetic"));
  graph_annotate(g, matches);
  write_test_file("synthetic_transformer.annotated.json", graph_to_json(g));
}

TEST(BuiltinPatterns, AttentionValuesAreTheProjections) {
  Graph g = testing::synthetic_transformer(1);
  auto attention = only(patterns_run(builtin(), g, {"attention"}), "attention");
  ASSERT_EQ(attention.size(), 1u);
  std::vector<NodeId> producer = graph_producers(g);
  for (const char* v : {"q", "k", "v"}) {
    ValueId id = testing::value_of(attention[0], v);
    ASSERT_NE(id, kNoValue) << v;
    EXPECT_EQ(g.nodes[producer[id]].op, "aten::addmm") << v;
  }
}

// A stem and two ResNet basic blocks, the second with a downsampling shortcut.
Graph resnet_like() {
  GraphMaker g;
  const std::vector<int64_t> s = {1, 8, 8, 8};
  ValueId x = g.input("x", {1, 3, 8, 8});
  ValueId v = g.unary("aten::relu", g.batch_norm(g.conv(x, "conv1", 8, s), "bn1"), s, "relu");
  auto block = [&](ValueId in, const std::string& name, bool downsample) {
    ValueId a =
        g.unary("aten::relu", g.batch_norm(g.conv(in, name + ".conv1", 8, s), name + ".bn1"), s, name + ".relu");
    ValueId b = g.batch_norm(g.conv(a, name + ".conv2", 8, s), name + ".bn2");
    ValueId skip = downsample ? g.batch_norm(g.conv(in, name + ".downsample.0", 8, s), name + ".downsample.1") : in;
    return g.unary("aten::relu", g.binary("aten::add.Tensor", b, skip, s, name), s, name + ".relu");
  };
  v = block(v, "layer1.0", false);
  v = block(v, "layer1.1", true);
  g.output("y", v);
  return std::move(g.graph);
}

TEST(BuiltinPatterns, ResNetLikeBlocks) {
  // 6 convs, each with its bn; the stem's and each block's first bn feed a relu (3); two
  // residual adds; the two blocks differ (downsample), so none repeats.
  auto matches = patterns_run(builtin(), resnet_like());
  EXPECT_EQ(counts(matches), expected({{"conv_bn", 6}, {"conv_bn_relu", 3}, {"residual_add", 2}}));
  auto residual = only(matches, "residual_add");
  ASSERT_EQ(residual.size(), 2u);
  EXPECT_FALSE(testing::has_role(residual[0], "shortcut"));
  EXPECT_EQ(testing::role_nodes(residual[1], "shortcut").size(), 2u);
  EXPECT_EQ(residual[1].scope, "layer1.1");
}

TEST(BuiltinPatterns, FusedAttention) {
  GraphMaker g;
  std::vector<int64_t> s = {1, 4, 16, 8};
  ValueId q = g.input("q", s), k = g.input("k", s), v = g.input("v", s);
  g.output("o", g.op("aten::scaled_dot_product_attention",
                     {T(q, "query"), T(k, "key"), T(v, "value"), A("attn_mask", std::monostate{}), A("dropout_p", 0.0),
                      A("is_causal", true), A("scale", std::monostate{}), A("enable_gqa", false)},
                     s, "attn"));
  auto matches = patterns_run(builtin(), g.graph);
  EXPECT_EQ(counts(matches), expected({{"attention", 1}}));
  EXPECT_EQ(matches[0].variant, "fused");
  EXPECT_EQ(testing::value_of(matches[0], "k"), k);
  EXPECT_EQ(matches[0].scope, "attn");
}

// softmax(q @ k^T [* scale] [masked_fill]) [dropout] @ v with matmul and transpose.
Graph plain_attention(bool scale, bool mask, bool dropout) {
  GraphMaker g;
  std::vector<int64_t> s = {2, 16, 8}, st = {2, 8, 16}, ss = {2, 16, 16};
  ValueId q = g.input("q", s), k = g.input("k", s), v = g.input("v", s);
  ValueId kt = g.op("aten::transpose.int", {T(k, "self"), A("dim0", int64_t{-2}), A("dim1", int64_t{-1})}, st, "attn");
  ValueId x = g.binary("aten::matmul", q, kt, ss, "attn");
  if (scale) x = g.op("aten::div.Scalar", {T(x, "self"), A("other", 2.8284271247461903)}, ss, "attn");
  if (mask) {
    ValueId m = g.input("causal", ss, DType::kBool);
    x = g.op("aten::masked_fill.Scalar", {T(x, "self"), T(m, "mask"), A("value", -1e9)}, ss, "attn");
  }
  x = g.op("aten::softmax.int", {T(x, "self"), A("dim", int64_t{-1}), A("dtype", std::monostate{})}, ss, "attn");
  if (dropout) x = g.op("aten::dropout", {T(x, "input"), A("p", 0.1), A("train", false)}, ss, "attn.drop");
  g.output("o", g.binary("aten::matmul", x, v, s, "attn"));
  return std::move(g.graph);
}

TEST(BuiltinPatterns, AttentionOptionalParts) {
  for (int bits = 0; bits < 8; ++bits) {
    const bool scale = bits & 1, mask = bits & 2, dropout = bits & 4;
    auto matches = patterns_run(builtin(), plain_attention(scale, mask, dropout));
    auto attention = only(matches, "attention");
    ASSERT_EQ(attention.size(), 1u) << bits;
    const Match& m = attention[0];
    EXPECT_EQ(testing::has_role(m, "scale"), scale) << bits;
    EXPECT_EQ(testing::has_role(m, "mask"), mask) << bits;
    EXPECT_EQ(testing::has_role(m, "dropout"), dropout) << bits;
    EXPECT_FALSE(testing::has_role(m, "q_scale"));
    EXPECT_EQ(testing::value_of(m, "v"), 2u);
    EXPECT_EQ(m.scope, "attn");
    // matmul, softmax, matmul is no dependent matmul chain (softmax between).
    EXPECT_EQ(only(matches, "matmul_chain").size(), 0u);
  }
}

// Swin's shifted windows: q K^T, + relative position bias, reshaped per window, + the shift
// mask, reshaped back, softmax, V. Without the shift only the bias is added (bound as mask).
TEST(BuiltinPatterns, AttentionWithPositionBiasAndMask) {
  for (bool shifted : {false, true}) {
    GraphMaker g;
    const std::vector<int64_t> s = {4, 2, 49, 16}, st = {4, 2, 16, 49}, ss = {4, 2, 49, 49}, sw = {1, 4, 2, 49, 49};
    ValueId q = g.input("q", s), k = g.input("k", s), v = g.input("v", s);
    ValueId bias = g.input("bias", {1, 2, 49, 49}), shift = g.input("shift", {1, 4, 1, 49, 49});
    ValueId kt = g.op("aten::transpose.int", {T(k, "self"), A("dim0", int64_t{-2}), A("dim1", int64_t{-1})}, st, "attn");
    ValueId x = g.binary("aten::matmul", g.op("aten::mul.Scalar", {T(q, "self"), A("other", 0.25)}, s, "attn"), kt, ss,
                         "attn");
    x = g.binary("aten::add.Tensor", x, bias, ss, "attn");
    if (shifted) {
      x = g.op("aten::view", {T(x, "self"), Ints("size", sw)}, sw, "attn");
      x = g.binary("aten::add.Tensor", x, shift, sw, "attn");
      x = g.op("aten::view", {T(x, "self"), Ints("size", ss)}, ss, "attn");
    }
    x = g.op("aten::softmax.int", {T(x, "self"), A("dim", int64_t{-1}), A("dtype", std::monostate{})}, ss, "attn");
    g.output("o", g.binary("aten::matmul", x, v, s, "attn"));
    auto attention = only(patterns_run(builtin(), g.graph), "attention");
    ASSERT_EQ(attention.size(), 1u) << shifted;
    EXPECT_EQ(attention[0].variant, "decomposed");
    EXPECT_TRUE(testing::has_role(attention[0], "mask"));
    EXPECT_EQ(testing::has_role(attention[0], "bias"), shifted);
    EXPECT_EQ(testing::value_of(attention[0], "mask"), shifted ? shift : bias);
    if (shifted) {
      EXPECT_EQ(testing::value_of(attention[0], "bias"), bias);
    }
  }
}

// nn.MultiheadAttention's fused path under no_grad (torchvision's ViT): one operator, q = k = v.
TEST(BuiltinPatterns, FusedMultiHeadAttention) {
  GraphMaker g;
  ValueId x = g.input("x", {1, 17, 64});
  ValueId w = g.param("attn.in_proj_weight", {192, 64}), b = g.param("attn.in_proj_bias", {192});
  ValueId pw = g.param("attn.out_proj.weight", {64, 64}), pb = g.param("attn.out_proj.bias", {64});
  g.output("o", g.op("aten::_native_multi_head_attention",
                     {T(x, "query"), T(x, "key"), T(x, "value"), A("embed_dim", int64_t{64}), A("num_head", int64_t{4}),
                      T(w, "qkv_weight"), T(b, "qkv_bias"), T(pw, "proj_weight"), T(pb, "proj_bias"),
                      A("mask", std::monostate{}), A("need_weights", false), A("average_attn_weights", true),
                      A("mask_type", std::monostate{})},
                     {1, 17, 64}, "encoder.layers.0.self_attention"));
  auto attention = only(patterns_run(builtin(), g.graph), "attention");
  ASSERT_EQ(attention.size(), 1u);
  EXPECT_EQ(attention[0].variant, "fused_multi_head");
  EXPECT_EQ(testing::value_of(attention[0], "q"), x);
  EXPECT_EQ(testing::value_of(attention[0], "v"), x);
  EXPECT_EQ(attention[0].scope, "encoder.layers.0.self_attention");
}

// conv -> bn -> SiLU (EfficientNet) or Hardswish (MobileNetV3): conv_bn_activation, not
// conv_bn_relu; a ReLU stays conv_bn_relu's alone.
TEST(BuiltinPatterns, ConvBnOtherActivations) {
  for (const char* act : {"aten::silu", "aten::hardswish", "aten::relu"}) {
    GraphMaker g;
    ValueId x = g.input("x", {1, 3, 8, 8});
    ValueId y = g.batch_norm(g.conv(x, "c", 4, {1, 4, 8, 8}), "bn");
    g.output("y", g.unary(act, y, {1, 4, 8, 8}, "act"));
    auto matches = patterns_run(builtin(), g.graph);
    const bool relu = std::string(act) == "aten::relu";
    EXPECT_EQ(counts(matches), expected({{"conv_bn", 1}, {relu ? "conv_bn_relu" : "conv_bn_activation", 1}})) << act;
  }
}

TEST(BuiltinPatterns, LayerNormVariants) {
  GraphMaker g;
  const std::vector<int64_t> s = {2, 8}, r = {2, 1};
  // var_mean form: (x - mean) * rsqrt(var + eps) * w + b
  ValueId x = g.input("x", s);
  g.op("aten::var_mean.correction", {T(x, "self"), Ints("dim", {-1}), A("correction", int64_t{0}), A("keepdim", true)},
       r, "ln", 2);
  ValueId var = g.output_of(g.last, 0), mean = g.output_of(g.last, 1);
  ValueId c = g.binary("aten::sub.Tensor", x, mean, s, "ln");
  ValueId e = g.op("aten::add.Scalar", {T(var, "self"), A("other", 1e-5), A("alpha", int64_t{1})}, r, "ln");
  ValueId y = g.binary("aten::mul.Tensor", g.unary("aten::rsqrt", e, r, "ln"), c, s, "ln");  // commuted
  y = g.binary("aten::mul.Tensor", y, g.param("ln.weight", {8}), s, "ln");
  y = g.binary("aten::add.Tensor", y, g.param("ln.bias", {8}), s, "ln");
  g.output("y", y);
  // the fused op
  g.output("z", g.op("aten::layer_norm",
                     {T(x, "input"), Ints("normalized_shape", {8}), A("weight", std::monostate{}),
                      A("bias", std::monostate{}), A("eps", 1e-5), A("cudnn_enable", true)},
                     s, "ln2"));
  auto matches = only(patterns_run(builtin(), g.graph), "layer_norm");
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].variant, "var_mean");
  EXPECT_EQ(matches[0].nodes.size(), 7u);
  EXPECT_EQ(matches[1].variant, "fused");
  EXPECT_EQ(matches[1].scope, "ln2");

  // The center reading var_mean's first output (the variance) is no layer norm.
  g.graph.nodes[1].inputs[1] = T(var, "other");
  EXPECT_EQ(only(patterns_run(builtin(), g.graph), "layer_norm").size(), 1u);
}

TEST(BuiltinPatterns, EmbeddingByIndexSelect) {
  GraphMaker g;
  ValueId ids = g.input("ids", {6}, DType::kInt64);
  ValueId table = g.param("emb", {100, 8});
  g.output("a", g.op("aten::index_select", {T(table, "self"), A("dim", int64_t{0}), T(ids, "index")}, {6, 8}, "emb"));
  g.output("b", g.op("aten::index_select", {T(table, "self"), A("dim", int64_t{1}), T(ids, "index")}, {100, 6}));
  auto matches = patterns_run(builtin(), g.graph);
  EXPECT_EQ(counts(matches), expected({{"embedding_lookup", 1}}));
  EXPECT_EQ(matches[0].variant, "index_select");
  EXPECT_EQ(testing::value_of(matches[0], "table"), table);
}

TEST(BuiltinPatterns, TinyMlpFixture) {
  // testdata/graphs/tiny_mlp.json: Linear(8, 16), ReLU, Linear(16, 4).
  Graph g = graph_read(std::string(GENIE_SOURCE_DIR) + "/testdata/graphs/tiny_mlp.json");
  auto matches = patterns_run(builtin(), g);
  EXPECT_EQ(counts(matches), expected({{"linear_activation", 1}, {"mlp", 1}}));
  EXPECT_EQ(testing::role_nodes(only(matches, "mlp")[0], "down"), std::vector<NodeId>{2});
}

TEST(BuiltinPatterns, MatchesFileIsDeterministicJson) {
  Graph g = resnet_like();
  auto a = patterns_run(builtin(), g);
  auto b = patterns_run(builtin(), g);
  std::string text = matches_to_json(a, pattern_counts(a), "resnet_like.json");
  EXPECT_EQ(text, matches_to_json(b, pattern_counts(b), "resnet_like.json"));
  auto doc = nlohmann::json::parse(text);
  EXPECT_EQ(doc["format"], "genie.matches");
  EXPECT_EQ(doc["version"]["major"], 1);
  EXPECT_EQ(doc["graph"], "resnet_like.json");
  EXPECT_EQ(doc["matches"].size(), a.size());
  EXPECT_EQ(doc["patterns"].size(), builtin().patterns.size());
  // One match a line.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), static_cast<long>(a.size() + builtin().patterns.size() + 9));
  write_test_file("resnet_like.matches.json", text);
  write_test_file("empty.matches.json", matches_to_json({}, {}, "empty.json"));
}

TEST(BuiltinPatterns, AnnotateIsAValidGraphAndReplacesEarlierMatches) {
  Graph g = resnet_like();
  g.nodes[0].annotations = {{"phase", "prefill"}};
  auto matches = patterns_run(builtin(), g);
  graph_annotate(g, matches);
  graph_annotate(g, matches);  // a second run replaces, it does not append
  const std::string text = graph_to_json(g);
  Graph back = graph_from_json(text, "annotated.json");
  EXPECT_EQ(back.annotations["matches"].size(), matches.size());
  EXPECT_EQ(back.nodes[0].annotations["phase"], "prefill");
  // The stem conv: conv_bn and conv_bn_relu, as role "conv".
  const auto& conv = back.nodes[0].annotations["matches"];
  ASSERT_EQ(conv.size(), 2u);
  for (const auto& entry : conv) EXPECT_EQ(entry["role"], "conv");
  const size_t index = conv[1]["match"].get<size_t>();
  EXPECT_EQ(back.annotations["matches"][index]["pattern"], conv[1]["pattern"]);
  // Re-annotating with nothing removes the node entries.
  graph_annotate(back, {});
  EXPECT_FALSE(back.nodes[3].annotations.is_object() && back.nodes[3].annotations.contains("matches"));
  EXPECT_EQ(back.nodes[0].annotations.size(), 1u);
  write_test_file("resnet_like.annotated.json", text);
}

TEST(BuiltinPatterns, SummaryTable) {
  Graph g = resnet_like();
  auto matches = patterns_run(builtin(), g);
  std::string text = matches_summary(matches, pattern_counts(matches), "resnet_like.json", g.nodes.size());
  EXPECT_NE(text.find("resnet_like.json: 19 nodes, 11 matches of 11 patterns\n"), std::string::npos) << text;
  EXPECT_NE(text.find("conv_bn_relu            3  (top), layer1.0, layer1.1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("conv_bn                 6  (top), layer1.0 (x2), layer1.1 (x2), layer1.1.downsample\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("attention               0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace genie
