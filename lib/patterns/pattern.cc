#include "patterns/pattern.h"

#include <algorithm>

#include "patterns/graph_index.h"
#include "patterns/matcher.h"
#include "support/error.h"

namespace genie {

TemplatePattern::TemplatePattern(std::string name, std::string description, std::string source,
                                 std::vector<Template> templates)
    : Pattern(std::move(name), std::move(description), std::move(source)), templates_(std::move(templates)) {}

std::vector<std::string> TemplatePattern::variants() const {
  std::vector<std::string> out;
  for (const Template& t : templates_)
    if (!t.variant.empty()) out.push_back(t.variant);
  return out;
}

std::vector<Match> TemplatePattern::match(const GraphIndex& index) const {
  return PatternMatcher(*this, index).take();
}

const Pattern* PatternSet::find(const std::string& name) const {
  for (const auto& p : patterns)
    if (p->name() == name) return p.get();
  return nullptr;
}

void PatternSet::add(std::unique_ptr<Pattern> pattern) {
  if (const Pattern* other = find(pattern->name()))
    fail(ErrorKind::kBadInput,
         pattern->source() + ": pattern \"" + pattern->name() + "\" is already defined in " + other->source());
  patterns.push_back(std::move(pattern));
}

std::vector<Match> patterns_run(const PatternSet& set, const Graph& graph, const std::vector<std::string>& only) {
  GraphIndex index(graph);
  std::vector<const Pattern*> selected;
  for (const auto& p : set.patterns)
    if (only.empty() || std::find(only.begin(), only.end(), p->name()) != only.end()) selected.push_back(p.get());

  // One search state for all file patterns: it is left as found after every attempt.
  MatchScratch scratch(index);
  std::vector<Match> out;
  for (const Pattern* p : selected) {
    const auto* t = dynamic_cast<const TemplatePattern*>(p);
    std::vector<Match> found = t ? PatternMatcher(*t, index, &scratch).take() : p->match(index);
    out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
  }
  return out;
}

}  // namespace genie
