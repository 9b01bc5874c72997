// The module hierarchy of a graph, read from its nodes' scopes: every module call that
// holds nodes, with the calls of its ancestors ("layer1" for "layer1.0.conv1") and the
// module's type where a node names it. genie-viz draws these as nested clusters and, with
// --depth, collapses a subtree into one box.
//
// A module called twice (resnet's ReLU module, once after bn1 and once after the add) is
// two entries: nodes are in execution order, and a call is a run of consecutive nodes of
// that scope or below it. One cluster around both calls would pull the nodes between them
// out of the block's flow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace genie {

using ScopeId = uint32_t;
inline constexpr ScopeId kTopScope = 0;
inline constexpr ScopeId kNoScope = UINT32_MAX;

struct Scope {
  std::string path;         // "layer1.0"; "" for the top module
  std::string module_type;  // "BasicBlock"; "" when no node of this exact scope names it
  uint32_t depth = 0;       // dotted components: 0 for the top, 2 for "layer1.0"
  uint32_t call = 1;        // which call of this module path, from 1
  uint32_t calls = 1;       // how many calls of this module path the graph has
  ScopeId parent = kNoScope;
  std::vector<ScopeId> children;  // in execution order
  size_t own_nodes = 0;           // nodes whose scope is exactly this one
  size_t total_nodes = 0;         // nodes here and in every scope below
};

struct ScopeTree {
  std::vector<Scope> scopes;           // scopes[kTopScope] is the top module; parents before children
  std::vector<ScopeId> scope_of_node;  // per node
  uint32_t max_depth = 0;
  size_t paths = 0;  // distinct module paths, the top excluded (scopes.size() - 1 minus repeated calls)
  // nodes_above_depth[d]: nodes whose scope is shallower than d (drawn one by one at --depth d);
  // scopes_at_depth[d]: scopes exactly d deep (one box each at --depth d). Index 0..max_depth+1.
  std::vector<size_t> nodes_above_depth;
  std::vector<size_t> scopes_at_depth;

  // The ancestor of `scope` that is `depth` deep, or `scope` itself when it is not deeper.
  ScopeId ancestor_at(ScopeId scope, uint32_t depth) const;
  // Boxes for the graph's nodes when drawn at `depth` (0: no collapse, every node a box).
  size_t boxes_at_depth(uint32_t depth) const;
};

// One pass over the nodes in their order (the order genie-capture recorded them).
ScopeTree scope_tree_build(const Graph& graph);

}  // namespace genie
