#include "viz/view.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "support/error.h"

namespace genie {
namespace {

// Label lines stay short enough to read at a glance; the rest is in the tooltip.
constexpr size_t kMaxShapesShown = 2;
constexpr size_t kMaxParamsListed = 2;
constexpr size_t kMaxPatternsListed = 3;

std::string last_component(const std::string& path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += "\u00d7";  // ×
    out += std::to_string(shape[i]);
  }
  return out;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The shapes of the values a box hands on: at most kMaxShapesShown, then a count.
std::vector<std::string> shape_lines(const Graph& graph, const std::vector<ValueId>& values) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < values.size() && i < kMaxShapesShown; ++i)
    lines.push_back(viz_type_text(graph.values[values[i]].type));
  if (values.size() > kMaxShapesShown)
    lines.back() += " +" + std::to_string(values.size() - kMaxShapesShown) + " more";
  return lines;
}

// Depth to draw at, by the node limit; fills the note or throws (view.h).
uint32_t choose_depth(const ScopeTree& tree, size_t io_boxes, const VizOptions& options, VizView& view) {
  auto boxes = [&](uint32_t d) { return tree.boxes_at_depth(d) + io_boxes; };
  const size_t asked = boxes(options.depth);
  if (options.max_nodes == 0 || asked <= options.max_nodes) return options.depth;
  const std::string limit = "--max-nodes " + std::to_string(options.max_nodes);
  const std::string where = options.source.empty() ? "" : options.source + ": ";
  // Collapsing one level less never draws more boxes, so the deepest fit is found going up.
  uint32_t from = options.depth == 0 || options.depth > tree.max_depth ? tree.max_depth : options.depth - 1;
  uint32_t fit = 0;
  for (uint32_t d = from; d >= 1; --d)
    if (boxes(d) <= options.max_nodes) {
      fit = d;
      break;
    }
  if (fit == 0) {
    std::string shallowest = tree.max_depth == 0
                                 ? "no node is inside a module, so collapsing cannot help"
                                 : "even --depth 1 draws " + std::to_string(boxes(1)) +
                                       " boxes (the nodes outside any module stay one box each)";
    fail(ErrorKind::kUnsupported, where + std::to_string(tree.scope_of_node.size()) + " nodes are more than " +
                                      limit + ", and " + shallowest + "; raise --max-nodes (0: no limit)");
  }
  if (options.depth != 0)
    fail(ErrorKind::kUnsupported, where + "--depth " + std::to_string(options.depth) + " draws " +
                                      std::to_string(asked) + " boxes, more than " + limit + "; --depth " +
                                      std::to_string(fit) + " draws " + std::to_string(boxes(fit)) +
                                      " (or raise --max-nodes; 0: no limit)");
  view.auto_collapsed = true;
  view.note = where + std::to_string(tree.scope_of_node.size()) + " nodes are more than " + limit +
              ": drawn collapsed at --depth " + std::to_string(fit) + " (" + std::to_string(boxes(fit)) +
              " boxes); choose with --depth N, or --max-nodes 0 to draw every node";
  return fit;
}

class ViewBuilder {
 public:
  ViewBuilder(const Graph& graph, const VizOptions& options)
      : graph_(graph), options_(options), tree_(scope_tree_build(graph)) {}

  VizView build(const std::vector<Match>& matches) {
    view_.source = options_.source;
    view_.graph_nodes = graph_.nodes.size();
    view_.depth = choose_depth(tree_, graph_.inputs.size() + graph_.outputs.size(), options_, view_);
    if (view_.depth > tree_.max_depth) view_.depth = 0;  // deeper than any module: nothing to collapse
    producers_ = graph_producers(graph_);
    add_inputs();
    add_nodes();
    add_edges();
    add_outputs();
    for (uint32_t b = 0; b < graph_.inputs.size(); ++b) add_fan_lines(b, view_.boxes[b], {graph_.inputs[b].value});
    add_clusters();
    label_operators();
    label_modules();
    highlight(matches);
    return std::move(view_);
  }

 private:
  uint32_t add_box(VizBox box) {
    view_.boxes.push_back(std::move(box));
    return static_cast<uint32_t>(view_.boxes.size() - 1);
  }

  void add_inputs() {
    input_box_.assign(graph_.values.size(), UINT32_MAX);
    for (const NamedValue& in : graph_.inputs) {
      VizBox box;
      box.kind = VizBoxKind::kInput;
      box.id = "input:" + in.name;
      box.title = in.name;
      if (options_.shapes) box.details.push_back(viz_type_text(graph_.values[in.value].type));
      box.tooltip = "graph input " + in.name + ": " + viz_type_text(graph_.values[in.value].type);
      input_box_[in.value] = add_box(std::move(box));
    }
  }

  // One box per node, or per collapsed module for the nodes at or below --depth.
  void add_nodes() {
    node_box_.reserve(graph_.nodes.size());
    std::unordered_map<ScopeId, uint32_t> module_box;
    for (NodeId n = 0; n < graph_.nodes.size(); ++n) {
      const ScopeId s = tree_.scope_of_node[n];
      if (view_.depth != 0 && tree_.scopes[s].depth >= view_.depth) {
        const ScopeId m = tree_.ancestor_at(s, view_.depth);
        auto [it, inserted] = module_box.emplace(m, 0);
        if (inserted) {
          VizBox box;
          box.kind = VizBoxKind::kModule;
          box.scope = m;
          box.id = viz_scope_id(tree_.scopes[m]);
          box.title = tree_.scopes[m].path;
          box.subtitle = viz_scope_subtitle(tree_.scopes[m]);
          box.cluster = cluster_for(tree_.scopes[m].parent);
          it->second = add_box(std::move(box));
        }
        ++view_.boxes[it->second].ops;
        node_box_.push_back(it->second);
        continue;
      }
      VizBox box;
      box.kind = VizBoxKind::kOperator;
      box.node = n;
      box.ops = 1;
      box.id = "n" + std::to_string(n);
      box.title = viz_short_op(graph_.nodes[n]);
      box.cluster = cluster_for(s);
      node_box_.push_back(add_box(std::move(box)));
    }
  }

  // Clusters are made for a box's scope and its ancestors once every box is known.
  uint32_t cluster_for(ScopeId s) {
    if (s == kTopScope) return kNoCluster;
    auto [it, inserted] = cluster_of_scope_.emplace(s, kNoCluster);
    if (inserted) needed_scopes_.push_back(s);
    return s;  // a scope id for now; add_clusters turns it into a cluster index
  }

  void add_clusters() {
    // Every ancestor of a needed scope is needed too.
    for (size_t i = 0; i < needed_scopes_.size(); ++i) {
      for (ScopeId p = tree_.scopes[needed_scopes_[i]].parent; p != kTopScope && p != kNoScope;
           p = tree_.scopes[p].parent)
        if (cluster_of_scope_.emplace(p, kNoCluster).second) needed_scopes_.push_back(p);
    }
    std::sort(needed_scopes_.begin(), needed_scopes_.end());  // parents before children
    for (ScopeId s : needed_scopes_) {
      const Scope& scope = tree_.scopes[s];
      VizCluster c;
      c.scope = s;
      c.id = viz_scope_id(scope);
      c.path = scope.path;
      c.module_type = scope.module_type;
      c.depth = scope.depth;
      c.call = scope.call;
      c.calls = scope.calls;
      c.parent = scope.parent == kTopScope ? kNoCluster : cluster_of_scope_.at(scope.parent);
      cluster_of_scope_[s] = static_cast<uint32_t>(view_.clusters.size());
      view_.clusters.push_back(std::move(c));
    }
    for (VizBox& box : view_.boxes)
      if (box.cluster != kNoCluster) box.cluster = cluster_of_scope_.at(box.cluster);
  }

  // The box a tensor comes from: its producer's, or its input box; UINT32_MAX for a stored one.
  uint32_t source_box(ValueId v) const {
    if (producers_[v] != kNoNode) return node_box_[producers_[v]];
    return input_box_[v];
  }

  // Edges carry activations and graph inputs; stored tensors are folded into their readers'
  // labels, and so is a tensor read by more than kVizMaxFanOut boxes (an attention mask read
  // by every layer): its edges would cross the whole picture and, being long, multiply
  // dot's work (each spans many ranks, and dot lays out a virtual node per rank crossed).
  void add_edges() {
    std::unordered_map<uint64_t, bool> reads;  // (value, reading box) pairs, each once
    reads.reserve(graph_.nodes.size() * 2);
    std::vector<uint32_t> readers(graph_.values.size(), 0);
    for (NodeId n = 0; n < graph_.nodes.size(); ++n) {
      const uint32_t to = node_box_[n];
      node_for_each_input(graph_.nodes[n], [&](ValueId v) {
        const uint32_t from = source_box(v);
        if (from != UINT32_MAX && from != to && reads.emplace((uint64_t(v) << 32) | to, true).second) ++readers[v];
      });
    }
    std::unordered_map<uint64_t, uint32_t> edge_index;
    std::unordered_map<uint64_t, bool> seen;
    folded_.assign(view_.boxes.size(), {});
    fanned_in_.assign(view_.boxes.size(), {});
    std::vector<bool> folded_value(graph_.values.size(), false);
    for (NodeId n = 0; n < graph_.nodes.size(); ++n) {
      const uint32_t to = node_box_[n];
      node_for_each_input(graph_.nodes[n], [&](ValueId v) {
        const uint32_t from = source_box(v);
        if (from == UINT32_MAX) {
          auto& list = folded_[to];
          if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
          if (!folded_value[v]) ++view_.folded;
          folded_value[v] = true;
          return;
        }
        if (from == to || !seen.emplace((uint64_t(v) << 32) | to, true).second) return;
        if (view_.boxes[from].kind == VizBoxKind::kModule) note_module_output(from, v);
        if (readers[v] > kVizMaxFanOut) {
          fanned_in_[to].push_back(v);
          if (fanned_out_.emplace(v, readers[v]).second) ++view_.fanned_out;
          return;
        }
        connect(edge_index, from, to);
      });
    }
    edge_index_ = std::move(edge_index);
  }

  void connect(std::unordered_map<uint64_t, uint32_t>& edge_index, uint32_t from, uint32_t to) {
    auto [it, inserted] = edge_index.emplace((uint64_t(from) << 32) | to, static_cast<uint32_t>(view_.edges.size()));
    if (inserted)
      view_.edges.push_back(VizEdge{from, to, 1});
    else
      ++view_.edges[it->second].tensors;
  }

  void note_module_output(uint32_t box, ValueId v) {
    auto& outs = module_outputs_[box];
    if (std::find(outs.begin(), outs.end(), v) == outs.end()) outs.push_back(v);
  }

  void add_outputs() {
    for (const NamedValue& out : graph_.outputs) {
      VizBox box;
      box.kind = VizBoxKind::kOutput;
      box.id = "output:" + out.name;
      box.title = out.name;
      const TensorType& type = graph_.values[out.value].type;
      if (options_.shapes) box.details.push_back(viz_type_text(type));
      box.tooltip = "graph output " + out.name + ": " + viz_type_text(type);
      const uint32_t to = add_box(std::move(box));
      uint32_t from = UINT32_MAX;
      if (producers_[out.value] != kNoNode)
        from = node_box_[producers_[out.value]];
      else if (input_box_[out.value] != UINT32_MAX)
        from = input_box_[out.value];
      if (from == UINT32_MAX) {  // a stored tensor returned as it is
        view_.boxes[to].tooltip += " (a stored tensor)";
        continue;
      }
      if (view_.boxes[from].kind == VizBoxKind::kModule) note_module_output(from, out.value);
      connect(edge_index_, from, to);
    }
  }

  std::string scope_text(ScopeId s) const {
    const Scope& scope = tree_.scopes[s];
    std::string text = scope.path.empty() ? "the top module" : scope.path;
    if (!scope.module_type.empty()) text += " (" + scope.module_type + ")";
    if (scope.calls > 1) text += ", call " + std::to_string(scope.call) + " of " + std::to_string(scope.calls);
    return text;
  }

  std::string stored_name(ValueId v) const {
    if (stored_names_.empty()) {
      stored_names_.assign(graph_.values.size(), std::string());
      for (const NamedValue& p : graph_.parameters) stored_names_[p.value] = p.name;
    }
    return stored_names_[v];
  }

  // "weight 64×3×7×7, bias 64", or "4 params, each 64" when there are more.
  std::string folded_text(const std::vector<ValueId>& values) const {
    if (values.size() <= kMaxParamsListed) {
      std::string out;
      for (ValueId v : values) {
        if (!out.empty()) out += ", ";
        out += last_component(stored_name(v)) + " " + shape_text(graph_.values[v].type.shape);
      }
      return out;
    }
    bool same = std::all_of(values.begin(), values.end(), [&](ValueId v) {
      return graph_.values[v].type.shape == graph_.values[values[0]].type.shape;
    });
    return plural(values.size(), "param", "params") +
           (same ? ", each " + shape_text(graph_.values[values[0]].type.shape) : "");
  }

  // The outputs a node hands on (read by another node or returned); its first if none is.
  std::vector<ValueId> used_outputs(NodeId n) const {
    if (used_.empty()) {
      used_.assign(graph_.values.size(), false);
      for (const Node& node : graph_.nodes) node_for_each_input(node, [&](ValueId v) { used_[v] = true; });
      for (const NamedValue& out : graph_.outputs) used_[out.value] = true;
    }
    std::vector<ValueId> out;
    node_for_each_output(graph_.nodes[n], [&](ValueId v) {
      if (used_[v]) out.push_back(v);
    });
    if (out.empty()) node_for_each_output(graph_.nodes[n], [&](ValueId v) {
        if (out.empty()) out.push_back(v);
      });
    return out;
  }

  // "<- masked_fill" on a reader of a fanned-out tensor, "-> 370 readers" on its source.
  void add_fan_lines(uint32_t b, VizBox& box, const std::vector<ValueId>& outs) {
    if (b < fanned_in_.size() && !fanned_in_[b].empty()) {
      std::string line;
      for (ValueId v : fanned_in_[b]) line += (line.empty() ? "" : ", ") + view_.boxes[source_box(v)].title;
      box.details.push_back("\u2190 " + line);  // ←
    }
    for (ValueId v : outs)
      if (auto it = fanned_out_.find(v); it != fanned_out_.end())
        box.details.push_back("\u2192 " + std::to_string(it->second) + " readers, edges not drawn");
  }

  void label_operators() {
    for (uint32_t b = 0; b < view_.boxes.size(); ++b) {
      VizBox& box = view_.boxes[b];
      if (box.kind != VizBoxKind::kOperator) continue;
      const Node& node = graph_.nodes[box.node];
      std::vector<ValueId> outs = used_outputs(box.node);
      if (options_.shapes) {
        for (std::string& line : shape_lines(graph_, outs)) box.details.push_back(std::move(line));
      }
      if (b < folded_.size() && !folded_[b].empty()) box.details.push_back(folded_text(folded_[b]));
      add_fan_lines(b, box, outs);
      box.tooltip = node.qualified_name() + " (node " + std::to_string(box.node) + ") in " +
                    scope_text(tree_.scope_of_node[box.node]);
      for (ValueId v : outs) box.tooltip += "\n-> " + viz_type_text(graph_.values[v].type);
      if (b < folded_.size())
        for (ValueId v : folded_[b])
          box.tooltip += "\n" + stored_name(v) + ": " + viz_type_text(graph_.values[v].type);
    }
  }

  void label_modules() {
    for (uint32_t b = 0; b < view_.boxes.size(); ++b) {
      VizBox& box = view_.boxes[b];
      if (box.kind != VizBoxKind::kModule) continue;
      std::string counts = plural(box.ops, "op", "ops");
      size_t params = b < folded_.size() ? folded_[b].size() : 0;
      if (params) counts += " \u00b7 " + plural(params, "param", "params");  // ·
      box.details.push_back(counts);
      auto outs = module_outputs_.find(b);
      if (options_.shapes && outs != module_outputs_.end()) {
        std::vector<ValueId> values = outs->second;
        std::sort(values.begin(), values.end());
        for (std::string& line : shape_lines(graph_, values)) box.details.push_back("\u2192 " + line);  // →
      }
      add_fan_lines(b, box, outs != module_outputs_.end() ? outs->second : std::vector<ValueId>{});
      box.tooltip = scope_text(box.scope) + ": " + plural(box.ops, "operator", "operators") +
                    " collapsed at --depth " + std::to_string(view_.depth);
    }
  }

  // Colours come from the legend's order; a collapsed module lists the matches inside it.
  void highlight(const std::vector<Match>& matches) {
    std::map<std::string, uint32_t> legend_index;
    // Per module box: pattern -> (matches wholly inside, matches partly inside).
    std::map<uint32_t, std::vector<std::pair<uint32_t, std::pair<size_t, size_t>>>> inside;
    for (const Match& m : matches) {
      const auto& only = options_.only;
      if (!only.empty() && std::find(only.begin(), only.end(), m.pattern) == only.end()) continue;
      auto [it, inserted] = legend_index.emplace(m.pattern, static_cast<uint32_t>(view_.legend.size()));
      if (inserted) view_.legend.push_back(VizLegendEntry{m.pattern, 0});
      const uint32_t p = it->second;
      ++view_.legend[p].matches;
      std::vector<uint32_t> boxes;
      for (NodeId n : m.nodes)
        if (n < node_box_.size()) boxes.push_back(node_box_[n]);
      std::sort(boxes.begin(), boxes.end());
      boxes.erase(std::unique(boxes.begin(), boxes.end()), boxes.end());
      for (uint32_t b : boxes) {
        VizBox& box = view_.boxes[b];
        if (std::find(box.patterns.begin(), box.patterns.end(), p) == box.patterns.end()) box.patterns.push_back(p);
        if (box.kind == VizBoxKind::kOperator) {
          std::string role;
          for (const auto& [name, ids] : m.roles)
            if (std::find(ids.begin(), ids.end(), box.node) != ids.end()) role = name;
          box.tooltip += "\nmatch: " + m.pattern + (role.empty() ? "" : " (" + role + ")");
          continue;
        }
        auto& list = inside[b];
        auto entry = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.first == p; });
        if (entry == list.end()) {
          list.push_back({p, {0, 0}});
          entry = list.end() - 1;
        }
        if (boxes.size() == 1)
          ++entry->second.first;
        else
          ++entry->second.second;
      }
    }
    for (auto& [b, list] : inside) {
      VizBox& box = view_.boxes[b];
      std::string line;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string& name = view_.legend[list[i].first].pattern;
        auto [whole, part] = list[i].second;
        std::string item = whole ? name + (whole > 1 ? " \u00d7" + std::to_string(whole) : "") : "part of " + name;
        box.tooltip += "\nmatches: " + item + (whole && part ? " (and part of " + std::to_string(part) + " more)" : "");
        if (i < kMaxPatternsListed) line += (line.empty() ? "" : ", ") + item;
      }
      if (list.size() > kMaxPatternsListed) line += " +" + std::to_string(list.size() - kMaxPatternsListed);
      box.details.push_back(line);
    }
  }

  const Graph& graph_;
  const VizOptions& options_;
  ScopeTree tree_;
  VizView view_;
  std::vector<NodeId> producers_;
  std::vector<uint32_t> input_box_;
  std::vector<uint32_t> node_box_;
  std::vector<std::vector<ValueId>> folded_;     // per box: stored tensors it reads
  std::vector<std::vector<ValueId>> fanned_in_;  // per box: fanned-out tensors it reads
  std::unordered_map<ValueId, uint32_t> fanned_out_;  // tensor -> its number of reading boxes
  std::unordered_map<uint64_t, uint32_t> edge_index_;
  std::map<uint32_t, std::vector<ValueId>> module_outputs_;
  std::unordered_map<ScopeId, uint32_t> cluster_of_scope_;
  std::vector<ScopeId> needed_scopes_;
  mutable std::vector<std::string> stored_names_;
  mutable std::vector<bool> used_;
};

}  // namespace

std::string viz_short_op(const Node& node) {
  constexpr std::string_view kAten = "aten::";
  if (node.op.compare(0, kAten.size(), kAten) == 0) return node.op.substr(kAten.size());
  return node.op;
}

std::string viz_scope_id(const Scope& scope) {
  return "m:" + scope.path + (scope.calls > 1 ? "#" + std::to_string(scope.call) : "");
}

std::string viz_scope_subtitle(const Scope& scope) {
  if (scope.calls == 1) return scope.module_type;
  std::string call = "call " + std::to_string(scope.call) + " of " + std::to_string(scope.calls);
  return scope.module_type.empty() ? call : scope.module_type + ", " + call;
}

std::string viz_type_text(const TensorType& type) {
  return shape_text(type.shape) + " " + std::string(dtype_name(type.dtype));
}

VizView viz_view(const Graph& graph, const std::vector<Match>& matches, const VizOptions& options) {
  return ViewBuilder(graph, options).build(matches);
}

}  // namespace genie
