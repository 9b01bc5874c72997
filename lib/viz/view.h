// What genie-viz draws, decided before Graphviz sees it: the boxes (operators, collapsed
// modules, graph inputs and outputs) with their label lines, the module clusters they sit
// in, the edges between them, and the legend of highlighted patterns. Plain data, so the
// rules (folding, --depth, the node limit, match colours) are tested without a layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "patterns/match.h"
#include "viz/scope_tree.h"

namespace genie {

// Boxes above which a graph is collapsed (or refused): dot's layout grows faster than
// linearly (about 1.3 s at 2,000 boxes, 7 s at 5,000 and over 2 minutes at 20,000 on the
// development machine; docs/genie-viz.md says how it was chosen).
inline constexpr size_t kVizDefaultMaxNodes = 2000;

// Boxes reading one tensor above which its edges are left out and each reader's label names
// it instead ("<- masked_fill"): such edges cross the whole picture and slow the layout most.
inline constexpr uint32_t kVizMaxFanOut = 8;

struct VizOptions {
  // 0: no --depth given (every node drawn, collapsed automatically above max_nodes).
  // N >= 1: scopes N deep and below are each drawn as one box; refused above max_nodes.
  uint32_t depth = 0;
  size_t max_nodes = kVizDefaultMaxNodes;  // 0: no limit
  bool shapes = true;                      // output shapes and dtypes in the labels
  std::vector<std::string> only;           // patterns to highlight; empty: every one
  std::string source;                      // the graph's name: the picture's title, and in messages
};

enum class VizBoxKind : uint8_t { kOperator, kModule, kInput, kOutput };

inline constexpr uint32_t kNoCluster = UINT32_MAX;

struct VizBox {
  VizBoxKind kind = VizBoxKind::kOperator;
  std::string id;                    // stable name: "n12", "m:layer1.0" ("#2" for a second call), "input:x"
  std::string title;                 // short operator name, module path, or input/output name
  std::string subtitle;              // a collapsed module's type (and which call it is)
  std::vector<std::string> details;  // smaller lines: shape and dtype, folded parameters, counts
  std::string tooltip;               // full operator name, module path and type, matches
  uint32_t cluster = kNoCluster;     // index into VizView::clusters
  std::vector<uint32_t> patterns;    // indices into VizView::legend, for the fill colours
  NodeId node = kNoNode;             // an operator's node
  ScopeId scope = kNoScope;          // a collapsed module's scope
  size_t ops = 0;                    // nodes drawn as this box (1 for an operator)
};

// A module scope drawn as a Graphviz cluster around its boxes and sub-clusters.
struct VizCluster {
  ScopeId scope = kNoScope;
  uint32_t parent = kNoCluster;
  std::string id;  // "m:layer1.0"; "m:layer1.0.relu#2" for a module's second call
  std::string path;
  std::string module_type;
  uint32_t depth = 0;
  uint32_t call = 1;   // of `calls` calls of this module path (scope_tree.h)
  uint32_t calls = 1;
};

struct VizEdge {
  uint32_t from = 0;
  uint32_t to = 0;
  uint32_t tensors = 1;  // distinct tensors it carries (more than one between collapsed modules)
};

struct VizLegendEntry {
  std::string pattern;
  size_t matches = 0;
};

struct VizView {
  std::vector<VizBox> boxes;  // inputs first, then operators and modules in node order, then outputs
  std::vector<VizCluster> clusters;  // parents before children
  std::vector<VizEdge> edges;
  std::vector<VizLegendEntry> legend;  // patterns in the order of their first match
  std::string source;  // the graph's name, the picture's title
  uint32_t depth = 0;          // the depth drawn (0: every node, also for a --depth deeper than any module)
  bool auto_collapsed = false;  // the graph was above max_nodes and no --depth was given
  std::string note;             // why and how it was collapsed, for stderr
  size_t graph_nodes = 0;
  size_t folded = 0;  // stored tensors (parameters, buffers, constants) shown in their readers' labels
  size_t fanned_out = 0;  // tensors read by more than kVizMaxFanOut boxes, named in their readers' labels
};

// Builds the view. Throws Error(kUnsupported) when the graph does not fit max_nodes at the
// asked depth (or, without --depth, at any depth); the message names the depth that fits.
VizView viz_view(const Graph& graph, const std::vector<Match>& matches, const VizOptions& options);

// "aten::native_batch_norm" -> "native_batch_norm"; other namespaces are kept.
std::string viz_short_op(const Node& node);
// "m:layer1.0", or "m:layer1.0.relu#2" for the second call of a module called twice.
std::string viz_scope_id(const Scope& scope);
// "ReLU, call 2 of 2" for a module called more than once; the type alone otherwise.
std::string viz_scope_subtitle(const Scope& scope);
// "1×64×56×56 float32"; "scalar float32" for no dimensions.
std::string viz_type_text(const TensorType& type);

}  // namespace genie
