// Bad input gets one clear line naming the file, the JSON Pointer and what was expected.
#include <gtest/gtest.h>

#include "graph/json_codec.h"
#include "graph/test_graphs.h"
#include "support/error.h"

namespace genie {
namespace {

std::string good() { return graph_to_json(testing::small_cnn()); }

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "fixture text not found: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The error's kind and message, from reading `text` as "bad.json".
std::pair<ErrorKind, std::string> read_error(const std::string& text) {
  try {
    graph_from_json(text, "bad.json");
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    return {e.kind(), message};
  }
  ADD_FAILURE() << "no error for:\n" << text.substr(0, 300);
  return {ErrorKind::kInternal, ""};
}

void expect_bad(const std::string& text, const std::string& message) {
  auto [kind, what] = read_error(text);
  EXPECT_EQ(kind, ErrorKind::kBadInput) << what;
  EXPECT_EQ(what, message);
}

TEST(GraphJsonErrors, TruncatedFileAtEveryLength) {
  std::string text = good();
  // Every prefix must fail cleanly: no crash, no hang, one line naming the file.
  for (size_t len = 0; len < text.size(); len += 7) {
    auto [kind, what] = read_error(text.substr(0, len));
    EXPECT_EQ(kind, ErrorKind::kBadInput);
    EXPECT_EQ(what.rfind("bad.json: ", 0), 0u) << what;
  }
  expect_bad(text.substr(0, 20), "bad.json: invalid JSON: line 2, column 19: syntax error while parsing value - "
                                 "invalid string: missing closing quote; last read: '\"genie'");
}

TEST(GraphJsonErrors, NotAGraph) {
  expect_bad("[1, 2]", "bad.json: /: expected an object, found an array of 2");
  expect_bad("{\"format\": \"onnx\"}", "bad.json: /format: expected \"genie.graph\", found the string \"onnx\"");
  expect_bad("{}", "bad.json: /: missing required key \"format\"");
}

TEST(GraphJsonErrors, UnknownMajorVersionIsUnsupported) {
  auto [kind, what] = read_error(replace(good(), "\"major\": 1", "\"major\": 2"));
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_EQ(what, "bad.json: /version: graph format version 2.0 is not supported (this build reads 1.x)");
}

TEST(GraphJsonErrors, WrongTypes) {
  expect_bad(replace(good(), "\"shape\": [1, 4, 8, 8], \"residency\": \"input\"",
                     "\"shape\": [1, \"4\", 8, 8], \"residency\": \"input\""),
             "bad.json: /values/0/shape/1: expected an integer, found the string \"4\"");
  expect_bad(replace(good(), "\"dtype\": \"float32\"", "\"dtype\": \"float33\""),
             "bad.json: /values/0/dtype: expected a dtype name such as \"float32\", found the string \"float33\"");
  expect_bad(replace(good(), "{\"name\": \"groups\", \"int\": 1}", "{\"name\": \"groups\", \"int\": 1.5}"),
             "bad.json: /nodes/0/inputs/6/int: expected an integer, found 1.5");
  expect_bad(replace(good(), "{\"name\": \"groups\", \"int\": 1}", "{\"name\": \"groups\", \"int\": 1, \"float\": 1.0}"),
             "bad.json: /nodes/0/inputs/6: an argument holds exactly one value; found a second (\"int\")");
  expect_bad(replace(good(), "{\"name\": \"groups\", \"int\": 1}", "{\"name\": \"groups\", \"integer\": 1}"),
             "bad.json: /nodes/0/inputs/6: unknown argument kind \"integer\" (expected one of tensor, tensors, int, "
             "ints, float, floats, bool, bools, string, dtype, layout, device, memory_format, complex, none)");
  expect_bad(replace(good(), "\"residency\": \"input\"", "\"residency\": \"weight\""),
             "bad.json: /values/0/residency: expected one of \"input\", \"parameter\", \"buffer\", \"constant\", "
             "\"activation\", found the string \"weight\"");
  expect_bad(replace(good(), "{\"id\": 1, \"op\"", "{\"id\": 7, \"op\""),
             "bad.json: /nodes/1/id: expected 1 (ids are positions in \"nodes\"), found 7");
  expect_bad(replace(good(), "\"scope\": \"conv\", ", ""), "bad.json: /nodes/0: missing required key \"scope\"");
  expect_bad(replace(good(), "\"scope\": \"conv\"", "\"scope\": \"conv\", \"scoep\": \"x\""),
             "bad.json: /nodes/0: unknown key \"scoep\"");
}

TEST(GraphJsonErrors, DanglingReferences) {
  expect_bad(replace(good(), "{\"name\": \"self\", \"tensor\": 5}", "{\"name\": \"self\", \"tensor\": 99}"),
             "bad.json: /nodes/2/inputs/0/tensor: value 99 does not exist (the graph has 11 values)");
  expect_bad(replace(good(), "{\"name\": \"out\", \"value\": 9}", "{\"name\": \"out\", \"value\": 11}"),
             "bad.json: /outputs/0/value: value 11 does not exist (the graph has 11 values)");
  expect_bad(replace(good(), "\"tensors\": [8, null, 3]", "\"tensors\": [8, null, -3]"),
             "bad.json: /nodes/5/inputs/1/tensors/2: expected a value id (an integer >= 0), found -3");
}

TEST(GraphJsonErrors, ProducersAndResidency) {
  // Node 1 (relu) claims the value node 0 produces.
  expect_bad(replace(good(), "\"outputs\": [5]", "\"outputs\": [4]"),
             "bad.json: /nodes/1/outputs/0: value 4 is already produced by /nodes/0");
  expect_bad(replace(good(), "\"outputs\": [4]", "\"outputs\": [0]"),
             "bad.json: /nodes/0/outputs/0: value 0 has residency \"input\"; only activations are produced by nodes");
  expect_bad(replace(good(), "{\"name\": \"conv.bias\", \"value\": 2}", "{\"name\": \"conv.weight\", \"value\": 2}"),
             "bad.json: /parameters/1/name: duplicate name \"conv.weight\"");
  expect_bad(replace(good(), "\"inputs\": [\n    {\"name\": \"x\", \"value\": 0}\n  ]", "\"inputs\": []"),
             "bad.json: /values/0: value with residency \"input\" is missing from \"inputs\"");
}

TEST(GraphJsonErrors, Cycle) {
  // relu reads the add's output: conv -> relu -> add -> relu.
  expect_bad(replace(good(), "\"inputs\": [{\"name\": \"self\", \"tensor\": 4}]",
                     "\"inputs\": [{\"name\": \"self\", \"tensor\": 6}]"),
             "bad.json: the graph has a cycle: /nodes/2 -> /nodes/1 -> /nodes/2");
}

TEST(GraphJsonErrors, HugeDimensions) {
  expect_bad(replace(good(), "\"shape\": [1, 4, 8, 8], \"residency\": \"input\"",
                     "\"shape\": [4611686018427387904, 4], \"residency\": \"input\""),
             "bad.json: /values/0/shape: a tensor of this shape and dtype would hold more than 2^63 bytes");
  expect_bad(replace(good(), "\"shape\": [1, 4, 8, 8], \"residency\": \"input\"",
                     "\"shape\": [18446744073709551615], \"residency\": \"input\""),
             "bad.json: /values/0/shape/0: expected an integer within 64 bits, found 18446744073709551615");
  expect_bad(replace(good(), "\"shape\": [1, 4, 8, 8], \"residency\": \"input\"",
                     "\"shape\": [-1, 4], \"residency\": \"input\""),
             "bad.json: /values/0/shape/0: expected a size >= 0, found -1");
  expect_bad(replace(good(), "\"strides\": [256, 1, 32, 4]", "\"strides\": [1, 1]"),
             "bad.json: /values/7/strides: expected 4 strides (one per dimension), found 2");
}

TEST(GraphJsonErrors, DeeplyNestedJsonDoesNotCrash) {
  std::string deep(200000, '[');
  auto [kind, what] = read_error("{\"format\": \"genie.graph\", \"version\": {\"major\": 1, \"minor\": 0}, "
                                 "\"annotations\": " + deep);
  EXPECT_EQ(kind, ErrorKind::kBadInput);
}

TEST(GraphJsonErrors, AnnotationsNestedTooDeep) {
  std::string deep = std::string(100, '[') + std::string(100, ']');
  expect_bad(replace(good(), "\"annotations\": {\"producer\": \"test\"}", "\"annotations\": {\"x\": " + deep + "}"),
             "bad.json: /annotations: annotations nest deeper than 64 levels");
}

TEST(GraphJsonErrors, InvalidUtf8InANameIsRefusedWhenWriting) {
  Graph g = testing::small_cnn();
  g.nodes[0].scope = "bad\xff";
  EXPECT_THROW(graph_to_json(g), Error);
}

}  // namespace
}  // namespace genie
