// Matching one template (a variant of a file pattern) against a graph: candidates for the
// anchor role come from the index by operator; from each, the template's plan binds the
// other roles by backtracking (a chain's lengths, an optional node present or absent,
// the two orders of a commutative node's inputs). The first binding that satisfies every
// constraint is the match. Work per candidate is bounded by the template's size and its
// chain and look-through limits, so matching is linear in the graph's size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "patterns/graph_index.h"
#include "patterns/match.h"
#include "patterns/pattern.h"

namespace genie {

class TemplateMatcher;  // one template's backtracking search (matcher.cc)

// Per-graph arrays the search uses and always leaves as it found them: one set serves every
// pattern matched on a graph, one after the other (not from several threads at once).
struct MatchScratch {
  explicit MatchScratch(const GraphIndex& index);
  std::vector<uint32_t> used;  // per node: bound to a role, or looked through, in this attempt
  // Breadth-first search ("follow": "any"), allocated when first needed.
  std::vector<uint32_t> seen;  // per value: the epoch of the search that reached it
  std::vector<NodeId> via_node;
  std::vector<ValueId> via_value;
  uint32_t epoch = 0;
};

// Matching one file pattern, all its variants, on an indexed graph. Candidates for the
// anchors are tried from the last node in topological order backwards, so a chain anchored
// at its last node is found whole before its tail could be taken as a shorter chain; at
// each candidate node the variants are tried in order. A node bound to a role by one match
// is not bound by another match of the pattern.
class PatternMatcher {
 public:
  // `scratch`: shared search state; null: the matcher has its own.
  PatternMatcher(const TemplatePattern& pattern, const GraphIndex& index, MatchScratch* scratch = nullptr);
  ~PatternMatcher();
  PatternMatcher(const PatternMatcher&) = delete;
  PatternMatcher& operator=(const PatternMatcher&) = delete;

  // Every match, sorted by anchor; the matcher is spent.
  std::vector<Match> take();

 private:
  struct Candidate {
    NodeId node;
    uint32_t variant;
  };
  const TemplatePattern& pattern_;
  std::unique_ptr<MatchScratch> own_scratch_;
  std::vector<uint8_t> claimed_;
  std::vector<std::unique_ptr<TemplateMatcher>> variants_;
  std::vector<Candidate> candidates_;  // ascending position, then variant order reversed
};

}  // namespace genie
