#include "viz/scope_tree.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace genie {

ScopeId ScopeTree::ancestor_at(ScopeId scope, uint32_t depth) const {
  while (scopes[scope].depth > depth) scope = scopes[scope].parent;
  return scope;
}

size_t ScopeTree::boxes_at_depth(uint32_t depth) const {
  if (depth == 0 || depth > max_depth) return scope_of_node.size();
  return nodes_above_depth[depth] + scopes_at_depth[depth];
}

ScopeTree scope_tree_build(const Graph& graph) {
  ScopeTree tree;
  tree.scopes.push_back(Scope{});
  std::unordered_map<std::string, uint32_t> calls_of_path;
  // The calls open at the current node, one per depth: open[0] is the top, open[d] the
  // call d deep that the previous node was in.
  std::vector<ScopeId> open = {kTopScope};
  std::vector<size_t> ends;  // where each component of the current path ends

  tree.scope_of_node.reserve(graph.nodes.size());
  for (const Node& node : graph.nodes) {
    const std::string& path = node.scope;
    ends.clear();
    if (!path.empty()) {
      for (size_t at = path.find('.'); at != std::string::npos; at = path.find('.', at + 1)) ends.push_back(at);
      ends.push_back(path.size());
    }
    // Calls still open are those whose path is this node's path cut at the same depth.
    size_t keep = 1;
    while (keep < open.size() && keep <= ends.size() &&
           tree.scopes[open[keep]].path == std::string_view(path).substr(0, ends[keep - 1]))
      ++keep;
    open.resize(keep);
    for (size_t d = keep; d <= ends.size(); ++d) {
      Scope s;
      s.path = path.substr(0, ends[d - 1]);
      s.depth = static_cast<uint32_t>(d);
      s.parent = open.back();
      s.call = ++calls_of_path[s.path];
      const ScopeId id = static_cast<ScopeId>(tree.scopes.size());
      tree.scopes[s.parent].children.push_back(id);
      tree.max_depth = std::max(tree.max_depth, s.depth);
      tree.scopes.push_back(std::move(s));
      open.push_back(id);
    }
    const ScopeId s = open.back();
    tree.scope_of_node.push_back(s);
    Scope& scope = tree.scopes[s];
    ++scope.own_nodes;
    if (scope.module_type.empty()) scope.module_type = node.module_type;
  }
  tree.paths = calls_of_path.size();
  // Parents come before children in `scopes`, so one backwards pass sums the subtrees.
  for (size_t i = tree.scopes.size(); i-- > 0;) {
    Scope& s = tree.scopes[i];
    s.total_nodes += s.own_nodes;
    if (s.parent != kNoScope) tree.scopes[s.parent].total_nodes += s.total_nodes;
    s.calls = i == kTopScope ? 1 : calls_of_path[s.path];
  }
  // A module type named by one call's nodes holds for its other calls.
  std::unordered_map<std::string, std::string> type_of_path;
  for (const Scope& s : tree.scopes)
    if (!s.module_type.empty()) type_of_path.emplace(s.path, s.module_type);
  for (Scope& s : tree.scopes)
    if (s.module_type.empty())
      if (auto it = type_of_path.find(s.path); it != type_of_path.end()) s.module_type = it->second;

  tree.nodes_above_depth.assign(tree.max_depth + 2, 0);
  tree.scopes_at_depth.assign(tree.max_depth + 2, 0);
  for (const Scope& s : tree.scopes) {
    ++tree.scopes_at_depth[s.depth];
    // A node of a scope `s.depth` deep is drawn alone at every depth d > s.depth.
    tree.nodes_above_depth[s.depth + 1] += s.own_nodes;
  }
  for (size_t d = 1; d < tree.nodes_above_depth.size(); ++d) tree.nodes_above_depth[d] += tree.nodes_above_depth[d - 1];
  return tree;
}

}  // namespace genie
