// Reading genie.patterns files: every invalid file is refused with one message naming the
// file, the JSON Pointer of the problem and what was expected; the plan a template gets.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "patterns/pattern_file.h"
#include "patterns/pattern_test_util.h"
#include "support/error.h"

namespace genie {
namespace {

// The message of the error reading `text` fails with, and its kind.
std::pair<ErrorKind, std::string> load_error(const std::string& text) {
  try {
    patterns_from_json(text, "bad.json");
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::kInternal, "(no error)"};
}

std::string one(const std::string& pattern, const std::string& op_sets = "{}") {
  return testing::patterns_file(pattern, op_sets);
}

struct BadFile {
  const char* what;
  std::string text;
  std::string message;  // the whole message
};

TEST(PatternFile, InvalidFilesNameFilePointerAndProblem) {
  const std::vector<BadFile> cases = {
      {"not JSON", "{\"format\": ",
       "bad.json: invalid JSON: line 1, column 12: syntax error while parsing value - unexpected end of input; "
       "expected '[', '{', or a literal"},
      {"another format", R"({"format": "genie.graph", "version": {"major": 1, "minor": 0}})",
       "bad.json: /format: expected \"genie.patterns\", found the string \"genie.graph\""},
      {"no version", R"({"format": "genie.patterns"})", "bad.json: /: missing required key \"version\""},
      {"no patterns", R"({"format": "genie.patterns", "version": {"major": 1, "minor": 0}})",
       "bad.json: /: missing required key \"patterns\""},
      {"a typo at the top", R"({"format": "genie.patterns", "version": {"major": 1, "minor": 0}, "pattern": []})",
       "bad.json: /: unknown key \"pattern\" (expected one of format, version, description, op_sets, patterns)"},
      {"bad name", one(R"({"name": "Conv-BN", "description": "d", "nodes": {"a": {"op": "aten::relu"}}})"),
       "bad.json: /patterns/0/name: expected a pattern name of lower case letters, digits and _ ([a-z][a-z0-9_]*), "
       "found the string \"Conv-BN\""},
      {"no description", one(R"({"name": "p", "nodes": {"a": {"op": "aten::relu"}}})"),
       "bad.json: /patterns/0: missing required key \"description\""},
      {"a typo in a node",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "aten::relu", "input": {}}}})"),
       "bad.json: /patterns/0/nodes/a: unknown key \"input\" (expected one of op, inputs, args, dtype, rank, shape, "
       "module_type, commutative, single_use, same_shape, optional, repeat)"},
      {"no op", one(R"({"name": "p", "description": "d", "nodes": {"a": {}}})"),
       "bad.json: /patterns/0/nodes/a: missing required key \"op\""},
      {"bad operator", one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": ["aten::relu", "relu"]}}})"),
       "bad.json: /patterns/0/nodes/a/op/1: expected an operator name such as \"aten::relu\" or \"aten::add.Tensor\", "
       "or {\"op\": ..., \"args\": ...}, found the string \"relu\""},
      {"unknown operator set",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "@convs"}}})", R"({"conv": ["aten::conv2d"]})"),
       "bad.json: /patterns/0/nodes/a/op: unknown operator set \"@convs\" (this file defines: conv)"},
      {"empty op list", one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": []}}})"),
       "bad.json: /patterns/0/nodes/a/op: expected an operator (\"aten::relu\"), an operator set (\"@name\"), \"*\" or "
       "a "
       "non-empty array of them, found an array of 0"},
      {"unknown role",
       one(R"({"name": "p", "description": "d", "nodes": {"conv": {"op": "*"}, "bn": {"op": "*", "inputs": {"0": "conv2"}}}})"),
       "bad.json: /patterns/0/nodes/bn/inputs/0: \"conv2\" is not a role of this pattern (roles: conv, bn; a value "
       "variable is written \"$conv2\")"},
      {"bad argument key",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"-1": "$x"}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/-1: expected an argument index (\"0\"), an argument name (\"self\") or "
       "\"*\", "
       "found \"-1\""},
      {"bad output slot",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*"}, "b": {"op": "*", "inputs": {"0": "a:x"}}}})"),
       "bad.json: /patterns/0/nodes/b/inputs/0: expected a role with an output index such as \"bn:1\", found the "
       "string \"a:x\""},
      {"reads itself", one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": "a"}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/0: a role cannot read its own output"},
      {"a cycle",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": "b"}}, "b": {"op": "*", "inputs": {"0": "a"}}}})"),
       "bad.json: /patterns/0/nodes: the roles' inputs form a cycle: a <- b <- a"},
      {"two outputs", one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*"}, "b": {"op": "*"}}})"),
       "bad.json: /patterns/0: the pattern has several outputs (a, b): name the role to start from with \"anchor\""},
      {"optional output",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*"}, "b": {"op": "*", "optional": true, "inputs": {"0": "a"}}}})"),
       "bad.json: /patterns/0: the pattern's output \"b\" is optional: name a role that is always present with "
       "\"anchor\""},
      {"optional anchor",
       one(R"({"name": "p", "description": "d", "anchor": "a", "nodes": {"a": {"op": "*", "optional": true}}})"),
       "bad.json: /patterns/0/anchor: the anchor \"a\" must not be optional"},
      {"repeat min > max",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "repeat": {"min": 3, "max": 2}}}})"),
       "bad.json: /patterns/0/nodes/a/repeat: \"min\" is greater than \"max\""},
      {"repeat without max",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "repeat": {"min": 2}}}})"),
       "bad.json: /patterns/0/nodes/a/repeat: missing required key \"max\""},
      {"optional and repeat",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "optional": true, "repeat": {"max": 2}}}})"),
       "bad.json: /patterns/0/nodes/a: \"optional\" and \"repeat\" together: write \"repeat\": {\"min\": 0, ...}"},
      {"chain reads a second input",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "repeat": {"max": 3}, "inputs": {"1": "$w"}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/1: a repeated role (\"max\" > 1) can only name its link input (argument "
       "0)"},
      {"optional's other input is a role",
       one(R"({"name": "p", "description": "d", "anchor": "b", "nodes": {"a": {"op": "*"}, "b": {"op": "*"}, "c": {"op": "*", "optional": true, "inputs": {"0": "b", "1": "a"}}}})"),
       "bad.json: /patterns/0/nodes/c/inputs/1: when the optional node is absent this input is not read: it may only "
       "name a "
       "value variable that no other input reads (its link, argument 0, passes the value on)"},
      {"through options without through",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": {"from": "$x", "max": 3}}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/0: \"max\" applies only with \"through\""},
      {"follow any with min 2",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": {"from": "$x", "through": "*", "follow": "any", "min": 2}}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/0/min: expected an integer from 0 to 1, found 2"},
      {"follow any from an unbound source",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": {"from": "$x", "through": "*", "follow": "any"}}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/0: this input looks along any path (\"follow\": \"any\"), so its source "
       "\"$x\" "
       "must be matched through another input first; no other input reaches it"},
      {"looking through downstream of the anchor",
       one(R"({"name": "p", "description": "d", "anchor": "a", "nodes": {"a": {"op": "*"}, "b": {"op": "*", "inputs": {"0": {"from": "a", "through": "*"}}}}})"),
       "bad.json: /patterns/0/nodes/b/inputs/0: \"b\" reads \"a\" downstream of the anchor, where inputs are followed "
       "to their "
       "readers: this input cannot look through operators and a repeated role can only be reached through its link; "
       "choose "
       "another \"anchor\""},
      {"disconnected",
       one(R"({"name": "p", "description": "d", "anchor": "a", "nodes": {"a": {"op": "*"}, "b": {"op": "*"}}})"),
       "bad.json: /patterns/0/nodes/b: \"b\" is not connected to the anchor \"a\" through inputs"},
      {"declared value nobody reads",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*"}}, "values": {"w": {"rank": 2}}})"),
       "bad.json: /patterns/0/values/w: no input reads \"$w\""},
      {"bad residency",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": "$w"}}}, "values": {"w": {"residency": "weight"}}})"),
       "bad.json: /patterns/0/values/w/residency: \"weight\" is not a residency (input, parameter, buffer, constant, "
       "activation)"},
      {"bad dtype",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "dtype": ["float32", "float33"]}}})"),
       "bad.json: /patterns/0/nodes/a/dtype: \"float33\" is not a dtype name (float32, int64, bfloat16, ...)"},
      {"bad comparison",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "args": {"dim": {"below": 1}}}}})"),
       "bad.json: /patterns/0/nodes/a/args/dim: unknown comparison \"below\" (expected one of eq, ne, lt, le, gt, ge, "
       "in)"},
      {"non-numeric bound",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "args": {"dim": {"lt": "1"}}}}})"),
       "bad.json: /patterns/0/nodes/a/args/dim/lt: expected a number, found the string \"1\""},
      {"bad literal", one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "args": {"dim": [[1]]}}}})"),
       "bad.json: /patterns/0/nodes/a/args/dim: expected a literal (null, true/false, a number, a string, or an array "
       "of numbers "
       "or booleans), found an array of 1"},
      {"confidence", one(R"({"name": "p", "description": "d", "confidence": 1.5, "nodes": {"a": {"op": "*"}}})"),
       "bad.json: /patterns/0/confidence: expected a number in (0, 1], found 1.5"},
      {"nodes beside variants", one(R"({"name": "p", "description": "d", "nodes": {}, "variants": []})"),
       "bad.json: /patterns/0: \"nodes\" belongs in each of \"variants\" when a pattern has variants"},
      {"variant twice",
       one(R"({"name": "p", "description": "d", "variants": [{"name": "v", "nodes": {"a": {"op": "*"}}}, {"name": "v", "nodes": {"a": {"op": "*"}}}]})"),
       "bad.json: /patterns/0/variants/1/name: variant \"v\" is defined twice"},
      {"error inside a variant",
       one(R"({"name": "p", "description": "d", "variants": [{"name": "v", "nodes": {"a": {"op": 3}}}]})"),
       "bad.json: /patterns/0/variants/0/nodes/a/op: expected an operator (\"aten::relu\"), an operator set "
       "(\"@name\"), \"*\" "
       "or a non-empty array of them, found 3"},
      {"pattern twice",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*"}}}, {"name": "p", "description": "d", "nodes": {"a": {"op": "*"}}})"),
       "bad.json: /patterns/1/name: pattern \"p\" is defined twice in this file"},
      {"as names a role",
       one(R"({"name": "p", "description": "d", "nodes": {"a": {"op": "*", "inputs": {"0": {"from": "$x", "through": "*", "as": "a"}}}}})"),
       "bad.json: /patterns/0/nodes/a/inputs/0/as: \"a\" names a role already"},
      {"pointer escaping", one(R"({"name": "p", "description": "d", "nodes": {"a/b": {"op": "*"}}})"),
       "bad.json: /patterns/0/nodes/a~1b: a role's name is a word ([A-Za-z_][A-Za-z0-9_]*)"},
  };
  for (const BadFile& c : cases) {
    auto [kind, message] = load_error(c.text);
    EXPECT_EQ(kind, ErrorKind::kBadInput) << c.what;
    EXPECT_EQ(message, c.message) << c.what;
  }
}

TEST(PatternFile, VersionsAndUnknownKeys) {
  auto [kind, message] =
      load_error(R"({"format": "genie.patterns", "version": {"major": 2, "minor": 1}, "patterns": []})");
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_EQ(message, "bad.json: /version: patterns format version 2.1 is not supported (this build reads 1.x)");
  // A newer minor version may add keys: ignored, not refused.
  auto newer = patterns_from_json(
      R"({"format": "genie.patterns", "version": {"major": 1, "minor": 7}, "future": 1,
          "patterns": [{"name": "p", "description": "d", "later": true, "nodes": {"a": {"op": "aten::relu", "hint": 2}}}]})",
      "newer.json");
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer[0]->name(), "p");
  EXPECT_EQ(newer[0]->source(), "newer.json");
}

TEST(PatternFile, PlanGoesUpstreamFirst) {
  auto patterns =
      patterns_from_json(testing::patterns_file(R"({"name": "p", "description": "d", "anchor": "b", "nodes": {
          "a": {"op": "*"}, "b": {"op": "*", "inputs": {"0": "a", "1": "$x"}}, "c": {"op": "*", "inputs": {"0": "b", "1": "$x"}}}})"),
                         "p.json");
  const auto& t = dynamic_cast<const TemplatePattern&>(*patterns[0]).templates()[0];
  EXPECT_EQ(t.anchor, 1u);
  ASSERT_EQ(t.plan.size(), 4u);
  // b's inputs (producers: a, then $x), then c downstream (a reader), then c's $x (a check).
  EXPECT_EQ(t.plan[0].kind, StepKind::kProducer);
  EXPECT_EQ(t.plan[1].kind, StepKind::kProducer);
  EXPECT_EQ(t.plan[2].kind, StepKind::kConsumer);
  EXPECT_EQ(t.plan[2].role, 2u);
  EXPECT_EQ(t.plan[3].kind, StepKind::kCheck);
}

TEST(PatternFile, DuplicateNamesAcrossFilesAndMissingPaths) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("genie_patterns_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string text =
      testing::patterns_file(R"({"name": "same", "description": "d", "nodes": {"a": {"op": "*"}}})");
  for (const char* name : {"a.json", "b.json"}) std::ofstream(dir / name) << text;
  std::ofstream(dir / "notes.txt") << "not a pattern file";
  try {
    patterns_load({dir.string()});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_EQ(std::string(e.what()),
              (dir / "b.json").string() + ": pattern \"same\" is already defined in " + (dir / "a.json").string());
  }
  // One file alone loads, with the plugins after it.
  PatternSet set = patterns_load({(dir / "a.json").string()});
  ASSERT_GE(set.patterns.size(), 2u);
  EXPECT_EQ(set.patterns[0]->name(), "same");
  EXPECT_NE(set.find("repeated_block"), nullptr);
  try {
    patterns_load({(dir / "missing.json").string()});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  fs::remove_all(dir);
}

TEST(PatternFile, BuiltinDirectoryFromEnvironment) {
  ::setenv("GENIE_PATTERNS_DIR", "/nonexistent-genie-patterns", 1);
  EXPECT_EQ(patterns_builtin_dir(), "/nonexistent-genie-patterns");
  try {
    patterns_load({});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent-genie-patterns: the built-in pattern directory is missing (set GENIE_PATTERNS_DIR or pass "
              "--patterns)");
  }
  ::unsetenv("GENIE_PATTERNS_DIR");
  EXPECT_NE(patterns_builtin_dir(), "/nonexistent-genie-patterns");
}

}  // namespace
}  // namespace genie
