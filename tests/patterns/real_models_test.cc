// Every built-in pattern on the real models (testdata/models/make_models.py: torchvision
// resnet18 and mobilenet_v2, a 2-layer nn.TransformerEncoder, a 2-layer BERT), traced and
// scripted, as graphs.capture captured them into GENIE_TEST_GRAPHS (a path compiled in, as
// is GENIE_TEST_MODELS, where the manifest says which variants exist): exact counts per pattern
// (derived from each architecture in docs/patterns.md), the scopes they sit in, and checks
// against what the graph itself says (every convolution, every layer norm...).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "graph/json_codec.h"
#include "patterns/match.h"
#include "patterns/pattern_file.h"
#include "support/files.h"

namespace genie {
namespace {

using Counts = std::map<std::string, size_t>;

struct Expectation {
  std::string model;
  Counts counts;                                           // every built-in pattern not listed: 0
  std::map<std::string, std::vector<std::string>> scopes;  // per pattern, in anchor order
};

// Derivations: docs/patterns.md, "Expected counts on the real models". genie-capture may
// record attention as the one operator scaled_dot_product_attention or decomposed (bmm,
// softmax, bmm): the counts differ only in matmul_chain, whose per-layer chain (value
// projection -> P.V -> output projection) exists only when P.V is a matmul of its own.
std::vector<Expectation> expectations(bool fused_attention) {
  const size_t chains = fused_attention ? 0 : 2;
  std::vector<Expectation> all = {
      {"resnet18",
       {{"conv_bn", 20}, {"conv_bn_relu", 9}, {"residual_add", 8}, {"repeated_block", 2}},
       {{"conv_bn_relu",
         {"", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"}},
        {"residual_add",
         {"layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"}},
        {"repeated_block", {"layer1.0", "layer1.1"}}}},
      {"mobilenet_v2",
       {{"conv_bn", 52}, {"conv_bn_relu", 35}, {"residual_add", 10}, {"repeated_block", 9}},
       {{"residual_add",
         {"features.3", "features.5", "features.6", "features.8", "features.9", "features.10", "features.12",
          "features.13", "features.15", "features.16"}},
        {"repeated_block",
         {"features.5", "features.6", "features.8", "features.9", "features.10", "features.12", "features.13",
          "features.15", "features.16"}}}},
      {"transformer_encoder",
       {{"attention", 2},
        {"layer_norm", 4},
        {"linear_activation", 2},
        {"mlp", 2},
        {"matmul_chain", chains},
        {"residual_add", 4},
        {"repeated_block", 2}},
       {{"residual_add", {"layers.0", "layers.0", "layers.1", "layers.1"}},
        {"mlp", {"layers.0", "layers.1"}},
        {"repeated_block", {"layers.0", "layers.1"}}}},
      {"bert",
       {{"attention", 2},
        {"embedding_lookup", 3},
        {"layer_norm", 5},
        {"linear_activation", 3},
        {"mlp", 2},
        {"matmul_chain", chains},
        {"residual_add", 4},
        {"repeated_block", 2}},
       {{"attention", {"encoder.layer.0.attention.self", "encoder.layer.1.attention.self"}},
        {"residual_add",
         {"encoder.layer.0.attention", "encoder.layer.0", "encoder.layer.1.attention", "encoder.layer.1"}},
        {"linear_activation", {"encoder.layer.0.intermediate", "encoder.layer.1.intermediate", "pooler"}},
        {"mlp", {"encoder.layer.0", "encoder.layer.1"}},
        {"repeated_block", {"encoder.layer.0", "encoder.layer.1"}}}},
  };
  if (!fused_attention) all[3].scopes["matmul_chain"] = {"encoder.layer.0.attention", "encoder.layer.1.attention"};
  return all;
}

const char* const kModels[] = {"resnet18", "mobilenet_v2", "transformer_encoder", "bert"};

const PatternSet& builtin() {
  static const PatternSet* set = new PatternSet(patterns_load({}));
  return *set;
}

class RealModel : public ::testing::TestWithParam<std::tuple<size_t, std::string>> {
 protected:
  // Loads the graph, or skips when the model has no such variant (scripting fails for BERT).
  bool load() {
    const auto& [index, variant] = GetParam();
    const std::string model = kModels[index];
    const std::string models = GENIE_TEST_MODELS, graphs = GENIE_TEST_GRAPHS;
    auto manifest = nlohmann::json::parse(read_file(models + "/manifest.json"));
    if (!manifest[model]["files"].contains(variant)) return false;
    name_ = model + "." + variant;
    graph_ = graph_read(graphs + "/" + name_ + ".json");
    fused_attention_ = !nodes_where([](const Node& n) { return n.op == "aten::scaled_dot_product_attention"; }).empty();
    for (const Expectation& e : expectations(fused_attention_))
      if (e.model == model) expectation_ = e;
    matches_ = patterns_run(builtin(), graph_);
    return true;
  }

  std::vector<const Match*> of(const std::string& pattern) const {
    std::vector<const Match*> out;
    for (const Match& m : matches_)
      if (m.pattern == pattern) out.push_back(&m);
    return out;
  }
  std::vector<NodeId> role(const std::string& pattern, const std::string& role) const {
    std::vector<NodeId> out;
    for (const Match* m : of(pattern))
      for (const auto& [name, ids] : m->roles)
        if (name == role) out.insert(out.end(), ids.begin(), ids.end());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<NodeId> nodes_where(const std::function<bool(const Node&)>& pred) const {
    std::vector<NodeId> out;
    for (NodeId n = 0; n < graph_.nodes.size(); ++n)
      if (pred(graph_.nodes[n])) out.push_back(n);
    return out;
  }

  Expectation expectation_;
  bool fused_attention_ = false;
  std::string name_;
  Graph graph_;
  std::vector<Match> matches_;
};

TEST_P(RealModel, ExactCountsAndScopes) {
  if (!load()) GTEST_SKIP() << "no such variant in the manifest";
  Counts got, want;
  for (const auto& p : builtin().patterns) got[p->name()] = want[p->name()] = 0;
  for (const Match& m : matches_) ++got[m.pattern];
  for (const auto& [name, n] : expectation_.counts) want[name] = n;
  EXPECT_EQ(got, want) << name_;
  for (const auto& [pattern, scopes] : expectation_.scopes) {
    std::vector<std::string> found;
    for (const Match* m : of(pattern)) found.push_back(m->scope);
    EXPECT_EQ(found, scopes) << name_ << ": " << pattern;
  }
  const char* out = std::getenv("GENIE_TEST_OUT");
  if (out) {
    std::vector<PatternCount> counts;
    for (const auto& p : builtin().patterns) counts.push_back({p->name(), p->source(), got[p->name()]});
    write_file_atomic(std::string(out) + "/" + name_ + ".matches.json",
                      [&](std::ostream& o) { o << matches_to_json(matches_, counts, name_ + ".json"); });
  }
}

// The counts above, checked against the graph by other means.
TEST_P(RealModel, AgreesWithTheGraph) {
  if (!load()) GTEST_SKIP() << "no such variant in the manifest";
  std::vector<NodeId> producer = graph_producers(graph_);
  std::vector<std::vector<NodeId>> readers(graph_.values.size());
  for (NodeId n = 0; n < graph_.nodes.size(); ++n)
    node_for_each_input(graph_.nodes[n], [&](ValueId v) { readers[v].push_back(n); });
  auto is_conv = [](const Node& n) { return n.op.find("convolution") != std::string::npos; };
  auto is_relu = [](const Node& n) {
    if (n.op == "aten::relu" || n.op == "aten::relu_") return true;
    if (n.op != "aten::hardtanh" && n.op != "aten::hardtanh_") return false;
    for (const Argument& a : n.inputs)
      if (a.name == "min_val") return std::get<double>(a.value) == 0.0;
    return false;
  };

  // conv_bn: every convolution; conv_bn_relu: those whose batch norm's output only feeds a relu.
  std::vector<NodeId> convs = nodes_where(is_conv), fused;
  EXPECT_EQ(role("conv_bn", "conv"), convs);
  for (NodeId c : convs) {
    const auto& r = readers[graph_.nodes[c].outputs[0].values[0]];
    if (r.size() != 1 || graph_.nodes[r[0]].op != "aten::batch_norm") continue;
    const auto& bn_readers = readers[graph_.nodes[r[0]].outputs[0].values[0]];
    if (bn_readers.size() == 1 && is_relu(graph_.nodes[bn_readers[0]])) fused.push_back(c);
  }
  EXPECT_EQ(role("conv_bn_relu", "conv"), fused);

  // Fused layer norms and embeddings are single operators: each one, and nothing else.
  EXPECT_EQ(role("layer_norm", "norm"), nodes_where([](const Node& n) { return n.op == "aten::native_layer_norm"; }));
  EXPECT_EQ(role("embedding_lookup", "lookup"), nodes_where([](const Node& n) { return n.op == "aten::embedding"; }));

  // Residual adds: operands of one shape, and the skip value x reads as one of them (or
  // through the projection shortcut).
  for (const Match* m : of("residual_add")) {
    const Node& add = graph_.nodes[m->anchor];
    EXPECT_EQ(add.op, "aten::add");
    ValueId x = kNoValue;
    for (const auto& [name, v] : m->values)
      if (name == "x") x = v;
    ASSERT_NE(x, kNoValue);
    bool direct =
        std::get<TensorRef>(add.inputs[0].value).value == x || std::get<TensorRef>(add.inputs[1].value).value == x;
    bool projected = false;
    for (const auto& [name, ids] : m->roles) projected = projected || name == "shortcut";
    EXPECT_TRUE(direct != projected) << name_ << ": residual_add at node " << m->anchor;
  }

  // Attention: the variant the capture's lowering implies (the fused operator, or batched
  // matmuls around a softmax); its q, k, v are the projections' outputs (linear or addmm),
  // the reshapes between looked through.
  for (const Match* m : of("attention")) {
    EXPECT_EQ(m->variant, fused_attention_ ? "fused" : "decomposed");
    for (const auto& [name, ids] : m->roles) {
      if (name == "scores" || name == "output") { EXPECT_EQ(graph_.nodes[ids[0]].op, "aten::bmm"); }
    }
    for (const auto& [name, v] : m->values) {
      if (name == "mask") continue;
      const std::string& op = graph_.nodes[producer[v]].op;
      EXPECT_TRUE(op == "aten::addmm" || op == "aten::linear") << name << " is made by " << op;
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<RealModel::ParamType>& info) {
  return std::string(kModels[std::get<0>(info.param)]) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Models, RealModel,
                         ::testing::Combine(::testing::Range<size_t>(0, 4), ::testing::Values("traced", "scripted")),
                         test_name);

}  // namespace
}  // namespace genie
