// Patterns written in C++, for what a template cannot say (a property of whole module
// scopes, a count, a numeric check). A plugin has a name and a match(graph) that returns
// every place it applies; "does not apply" is an empty list, not an error. Registered by
// name, a plugin appears to users exactly as a file pattern does: in genie-patterns --list,
// selectable with --only, its matches in the same files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "patterns/graph_index.h"
#include "patterns/match.h"
#include "patterns/pattern.h"

namespace genie {

class PatternPlugin {
 public:
  virtual ~PatternPlugin() = default;
  // A pattern name: lower case letters, digits and '_', starting with a letter.
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Matches sorted by anchor; each names this plugin as its pattern.
  virtual std::vector<Match> match(const Graph& graph) const = 0;
  // The same, with the index genie-patterns built for all patterns at hand (producers,
  // readers, topological order); a plugin that needs those overrides this to share them.
  virtual std::vector<Match> match_indexed(const GraphIndex& index) const { return match(index.graph()); }
};

// Registers a plugin for every PatternSet loaded afterwards. Throws Error(kUsage) if its
// name is not a valid pattern name or another plugin has it. Thread-safe.
void pattern_plugin_register(std::unique_ptr<PatternPlugin> plugin);

// The registered plugins, built-in ones first (repeated_block), then in registration order.
std::vector<const PatternPlugin*> pattern_plugins();

// A plugin as a Pattern of a PatternSet; its source is "<plugin>".
std::unique_ptr<Pattern> pattern_from_plugin(const PatternPlugin& plugin);

// True for a valid pattern name: [a-z][a-z0-9_]*.
bool pattern_name_valid(const std::string& name);

// The built-in plugin: sibling module scopes ("encoder.0", "encoder.1"; "layer1.0",
// "layer1.1") whose nodes compute the same thing (same operators, arguments and types,
// wired the same way), each reported as a match with role "block". Only the outermost
// such scopes are reported.
std::unique_ptr<PatternPlugin> repeated_block_plugin();

}  // namespace genie
