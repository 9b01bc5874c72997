// Named structures in a graph (conv-bn-relu, attention, residual add...): the Pattern
// interface that file patterns and C++ plugins share, so users see one list of names, and
// the compiled form of a genie.patterns template (docs/patterns.md) that the matcher runs.
// Reading pattern files is pattern_file.h; matching a template is matcher.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/graph.h"
#include "patterns/match.h"

namespace genie {

class GraphIndex;

// Which argument of a node: by position, by schema name, or any tensor argument ("*").
struct ArgKey {
  int32_t index = 0;  // used when name is empty and !any
  std::string name;
  bool any = false;

  // Written the same way (argument 0 and its name "self" are different keys).
  bool operator==(const ArgKey& o) const {
    return any == o.any && name == o.name && (any || !name.empty() || index == o.index);
  }
};

enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn };
struct ArgTest {
  CompareOp op = CompareOp::kEq;
  nlohmann::json operand;  // a literal; an array of literals for kIn
};
// A test on a constant argument ("min_val": 0, "groups": {"gt": 1}).
struct ArgPredicate {
  ArgKey key;
  std::vector<ArgTest> tests;
};

// One operator an OpSet accepts: "aten::add" (any overload) or "aten::add.Tensor", with
// predicates that apply when a node is this operator.
struct OpAlternative {
  std::string name;
  std::vector<ArgPredicate> args;
};
struct OpSet {
  bool any = false;  // "*"
  std::vector<OpAlternative> alternatives;
};

// Tests on a tensor's type: a role's first output, or a value variable.
struct TypePredicate {
  std::vector<DType> dtypes;  // empty: any
  int64_t rank_min = -1;      // -1: no bound
  int64_t rank_max = -1;
  bool has_shape = false;
  std::vector<int64_t> shape;          // -1: any size
  std::vector<Residency> residencies;  // value variables only; empty: any
};

// Where an input comes from: a role's output or a value variable, directly or by looking
// through a run of operators (views, reshapes...) or along any path ("follow": "any").
struct Ref {
  enum class Kind : uint8_t { kRole, kVar };
  Kind kind = Kind::kRole;
  uint32_t index = 0;   // into Template::roles or Template::vars
  uint32_t output = 0;  // output slot of the role's node
  bool through = false;
  OpSet through_ops;
  bool follow_any = false;  // a path along any tensor argument (a search), not the first argument
  uint32_t min_hops = 0;
  uint32_t max_hops = 0;
  int32_t as_group = -1;  // index into Template::as_names: report the nodes looked through
  std::string text;       // as written, for messages
};

struct InputSpec {
  ArgKey key;
  Ref ref;
  std::string pointer;  // JSON Pointer in its file
};

// One named node of a template; a chain of nodes when repeated; possibly absent when optional.
struct RoleSpec {
  std::string name;
  std::string pointer;
  OpSet ops;
  std::vector<InputSpec> inputs;
  std::vector<ArgPredicate> args;
  TypePredicate type;  // of output 0
  std::vector<std::string> module_types;
  bool commutative = false;  // arguments 0 and 1 may be swapped
  bool single_use = false;   // outputs read only inside the match, not graph outputs
  bool same_shape = false;   // every tensor argument has the shape of output 0 (no broadcasting)
  uint32_t min = 1;          // 0: optional
  uint32_t max = 1;          // > 1: a chain, each node reading the previous through `link`
  ArgKey link;               // argument 0 by default; "*" any tensor argument
  bool link_through = false;
  OpSet link_through_ops;
  uint32_t link_max_through = 0;

  bool repeated() const { return min != 1 || max != 1; }
};

struct VarSpec {
  std::string name;
  TypePredicate type;
  bool declared = false;
};

// The order the matcher binds roles in, fixed when the file is read: start at the anchor,
// prefer steps with one candidate (the producer of a value) over steps with several (its
// consumers).
enum class StepKind : uint8_t {
  kProducer,  // the consumer role is bound: bind the source (role or variable) of its input
  kConsumer,  // the source is bound: bind the role that reads it
  kCheck,     // both bound: check the edge
};
struct PlanStep {
  StepKind kind;
  uint32_t role;   // the reading role
  uint32_t input;  // index into roles[role].inputs
};

struct Template {
  std::string variant;  // "" when the pattern has a single template
  double confidence = 1.0;
  std::vector<RoleSpec> roles;
  std::vector<VarSpec> vars;
  std::vector<std::string> as_names;
  uint32_t anchor = 0;
  std::vector<PlanStep> plan;
};

// A named pattern, whatever implements it.
class Pattern {
 public:
  Pattern(std::string name, std::string description, std::string source)
      : name_(std::move(name)), description_(std::move(description)), source_(std::move(source)) {}
  virtual ~Pattern() = default;
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  const std::string& name() const { return name_; }
  const std::string& description() const { return description_; }
  // The file it came from, or "<plugin>".
  const std::string& source() const { return source_; }
  // Variant names ("fused", "decomposed"); empty for a single template or a plugin.
  virtual std::vector<std::string> variants() const { return {}; }

  // Every match in the graph, sorted by anchor. No match is an empty list.
  virtual std::vector<Match> match(const GraphIndex& index) const = 0;

 private:
  std::string name_, description_, source_;
};

// A pattern from a genie.patterns file: one or more templates (variants), tried in order;
// a node bound to a role by one match is not bound again by another match of the pattern.
class TemplatePattern : public Pattern {
 public:
  TemplatePattern(std::string name, std::string description, std::string source, std::vector<Template> templates);
  std::vector<std::string> variants() const override;
  std::vector<Match> match(const GraphIndex& index) const override;
  const std::vector<Template>& templates() const { return templates_; }

 private:
  std::vector<Template> templates_;
};

// What genie-patterns runs: file patterns and plugins, in a fixed order, names unique.
struct PatternSet {
  std::vector<std::unique_ptr<Pattern>> patterns;

  const Pattern* find(const std::string& name) const;
  // Throws Error(kBadInput) if the name is taken, naming both sources.
  void add(std::unique_ptr<Pattern> pattern);
};

// Matches of each pattern of `set` (only those named in `only`, if not empty), in the set's
// order, each pattern's sorted by anchor. Builds one GraphIndex for all of them.
std::vector<Match> patterns_run(const PatternSet& set, const Graph& graph, const std::vector<std::string>& only = {});

}  // namespace genie
