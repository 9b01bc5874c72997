// A VizView as a Graphviz graph (libcgraph), with the styling that makes it readable:
// HTML labels, module clusters, pattern colours and the legend, and the faster layout
// settings for large views. Internal to lib/viz: only render.cc and the tests see cgraph.
#pragma once

#include <string>
#include <string_view>

#include "viz/view.h"

struct Agraph_s;

namespace genie {

// Boxes above which the layout trades some quality for time (docs/genie-viz.md).
inline constexpr size_t kVizFastLayoutAbove = 400;

enum class VizRankDir : uint8_t { kTopBottom, kLeftRight };

// Fill colour of the legend entry `index` (cycles through a palette of light colours).
std::string_view viz_pattern_color(size_t index);

// Owns a cgraph graph; closes it when destroyed.
class DotGraph {
 public:
  DotGraph(const VizView& view, VizRankDir rankdir);
  ~DotGraph();
  DotGraph(const DotGraph&) = delete;
  DotGraph& operator=(const DotGraph&) = delete;

  Agraph_s* get() const { return graph_; }
  // The graph in the DOT language, as written before any layout.
  std::string dot_text() const;

 private:
  Agraph_s* graph_ = nullptr;
};

}  // namespace genie
