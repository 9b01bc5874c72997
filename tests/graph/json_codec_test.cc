#include "graph/json_codec.h"

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "graph/test_graphs.h"
#include "support/error.h"

namespace genie {
namespace {

using testing::small_cnn;

// Every file this test writes lands in GENIE_TEST_OUT too, where the Python test checks
// it against schemas/graph.schema.json with a real validator.
void keep_for_schema_check(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("GENIE_TEST_OUT");
  if (!dir) return;
  std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << text;
}

TEST(GraphJson, RoundTripGivesIdenticalBytes) {
  std::string first = graph_to_json(small_cnn());
  keep_for_schema_check("small_cnn.json", first);
  Graph back = graph_from_json(first, "first.json");
  std::string second = graph_to_json(back);
  EXPECT_EQ(first, second);
}

TEST(GraphJson, RoundTripKeepsEveryField) {
  Graph g = small_cnn();
  Graph back = graph_from_json(graph_to_json(g), "g.json");
  ASSERT_EQ(back.values.size(), g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i) {
    EXPECT_EQ(back.values[i].type, g.values[i].type) << "value " << i;
    EXPECT_EQ(back.values[i].residency, g.values[i].residency) << "value " << i;
  }
  ASSERT_EQ(back.nodes.size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& a = g.nodes[i];
    const Node& b = back.nodes[i];
    EXPECT_EQ(b.op, a.op);
    EXPECT_EQ(b.overload, a.overload);
    EXPECT_EQ(b.scope, a.scope);
    EXPECT_EQ(b.module_type, a.module_type);
    EXPECT_EQ(b.annotations, a.annotations);
    ASSERT_EQ(b.inputs.size(), a.inputs.size());
    for (size_t k = 0; k < a.inputs.size(); ++k) EXPECT_EQ(b.inputs[k], a.inputs[k]) << "node " << i << " arg " << k;
    ASSERT_EQ(b.outputs.size(), a.outputs.size());
    for (size_t k = 0; k < a.outputs.size(); ++k) {
      EXPECT_EQ(b.outputs[k].values, a.outputs[k].values);
      EXPECT_EQ(b.outputs[k].is_list, a.outputs[k].is_list);
    }
  }
  EXPECT_EQ(back.annotations, g.annotations);
  ASSERT_EQ(back.outputs.size(), 3u);
  EXPECT_EQ(back.outputs[2].name, "out_again");
  EXPECT_EQ(back.parameters[2].name, "bn.running_mean");
  EXPECT_EQ(back.values[back.parameters[2].value].residency, Residency::kBuffer);
}

TEST(GraphJson, IntKeepsItsKindAcrossTheFile) {
  // An int stays an int and a float a float: type promotion on replay depends on it.
  Graph g = graph_from_json(graph_to_json(small_cnn()), "g.json");
  EXPECT_EQ(g.nodes[0].inputs[6].kind(), ArgKind::kInt);
  EXPECT_EQ(g.nodes[5].inputs[2].kind(), ArgKind::kFloat);
  EXPECT_EQ(std::get<double>(g.nodes[5].inputs[2].value), 0.1);
  EXPECT_TRUE(std::isinf(std::get<double>(g.nodes[5].inputs[4].value)));
  EXPECT_EQ(std::get<int64_t>(g.nodes[5].inputs[13].value), -9007199254740993);
}

TEST(GraphJson, LayoutIsOneRecordPerLineWithFixedKeyOrder) {
  std::string text = graph_to_json(small_cnn());
  EXPECT_EQ(text.rfind("{\n  \"format\": \"genie.graph\",\n  \"version\": {\"major\": 1, \"minor\": 0},\n", 0), 0u);
  EXPECT_NE(text.find("\n    {\"id\": 2, \"op\": \"aten::add\", \"overload\": \"Tensor\", \"scope\": \"\", "
                      "\"module_type\": \"\", \"inputs\": [{\"name\": \"self\", \"tensor\": 5}, "
                      "{\"name\": \"other\", \"tensor\": 0}, {\"name\": \"alpha\", \"int\": 1}], \"outputs\": [6]},\n"),
            std::string::npos)
      << text;
  // Strides appear only where they are not the contiguous ones.
  EXPECT_NE(text.find("\"shape\": [1, 4, 8, 8], \"strides\": [256, 1, 32, 4]"), std::string::npos);
  EXPECT_EQ(text.find("\"strides\": [256, 64, 8, 1]"), std::string::npos);
}

TEST(GraphJson, ContiguousStridesWrittenOutAreDroppedStably) {
  Graph g = small_cnn();
  g.values[0].type.strides = {256, 64, 8, 1};  // explicit but contiguous
  std::string once = graph_to_json(g);
  EXPECT_EQ(once, graph_to_json(graph_from_json(once, "g.json")));
}

TEST(GraphJson, EmptyGraph) {
  Graph g;
  std::string text = graph_to_json(g);
  keep_for_schema_check("empty.json", text);
  Graph back = graph_from_json(text, "empty.json");
  EXPECT_TRUE(back.nodes.empty());
  EXPECT_EQ(graph_to_json(back), text);
}

TEST(GraphJson, MinorVersionAheadIsReadAndUnknownKeysIgnored) {
  std::string text = graph_to_json(small_cnn());
  text.replace(text.find("\"minor\": 0"), 10, "\"minor\": 7");
  text.replace(text.find("\"scope\": \"conv\""), 15, "\"scope\": \"conv\", \"future_field\": 1");
  EXPECT_EQ(graph_from_json(text, "g.json").nodes.size(), 6u);
}

}  // namespace
}  // namespace genie
