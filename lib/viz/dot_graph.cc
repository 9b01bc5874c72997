#include "viz/dot_graph.h"

#include <graphviz/cgraph.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <vector>

#include "support/error.h"

namespace genie {
namespace {

// Tableau 10 and two more: saturated enough to tell apart in a thin band, never behind text.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                                    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"};
constexpr const char* kFont = "Helvetica";
constexpr const char* kDetailColor = "#4a5563";
// Cluster fills darken with nesting so that a module's extent is visible at a glance.
constexpr const char* kClusterFills[] = {"#f3f6fa", "#e8eef6", "#dde6f1", "#d2ddec"};

// cgraph's API predates const.
char* c(const char* s) { return const_cast<char*>(s); }
char* c(const std::string& s) { return const_cast<char*>(s.c_str()); }

// Text inside an HTML-like label is XML. Graphviz's grammar has no empty <b></b> or
// <font></font> (it would draw the graph's name instead), so "" becomes a space.
std::string html(std::string_view text) {
  if (text.empty()) return " ";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(ch);
    }
  }
  return out;
}

// Graphviz reads backslash escapes (\N, \G, \n) in plain string attributes such as tooltips.
std::string plain(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    if (ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

// A table: a band of the box's pattern colours on top (one cell each), then the title and
// the detail lines. Rows, not <br/>, so descenders (the _ of native_batch_norm) keep clear
// of the next line.
std::string box_label(const VizBox& box) {
  const size_t columns = std::max<size_t>(1, box.patterns.size());
  const std::string span = columns > 1 ? " colspan=\"" + std::to_string(columns) + "\"" : "";
  std::string out = "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\">";
  if (!box.patterns.empty()) {
    out += "<tr>";
    for (uint32_t p : box.patterns)
      out += "<td height=\"7\" width=\"12\" bgcolor=\"" + std::string(viz_pattern_color(p)) + "\"></td>";
    out += "</tr>";
  }
  out += "<tr><td" + span + "><b>" + html(box.title) + "</b></td></tr>";
  if (!box.subtitle.empty())
    out += "<tr><td" + span + "><font color=\"" + std::string(kDetailColor) + "\">" + html(box.subtitle) +
           "</font></td></tr>";
  for (const std::string& line : box.details)
    out += "<tr><td" + span + "><font point-size=\"8.5\" color=\"" + std::string(kDetailColor) + "\">" +
           html(line) + "</font></td></tr>";
  return out + "</table>";
}

std::string cluster_label(const VizCluster& cluster) {
  std::string type = cluster.module_type;
  if (cluster.calls > 1)
    type += (type.empty() ? "" : ", ") + std::string("call ") + std::to_string(cluster.call) + " of " +
            std::to_string(cluster.calls);
  std::string out = "<b>" + html(cluster.path) + "</b>";
  if (!type.empty()) out += " <font color=\"" + std::string(kDetailColor) + "\">" + html(type) + "</font>";
  return out;
}

// The title (the graph's file name, what was drawn) and the legend of pattern colours.
std::string graph_label(const VizView& view) {
  std::string summary = std::to_string(view.graph_nodes) + (view.graph_nodes == 1 ? " node" : " nodes");
  if (view.depth) summary += ", collapsed at --depth " + std::to_string(view.depth);
  const std::string name = view.source.substr(view.source.rfind('/') + 1);
  std::string out = "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\">";
  out += "<tr><td align=\"left\"><b>" + html(name) + "</b>  <font color=\"" + std::string(kDetailColor) + "\">" +
         html(summary) + "</font></td></tr>";
  // One row per pattern: a square of its colour (U+25A0), its name, its number of matches.
  for (size_t i = 0; i < view.legend.size(); ++i) {
    const VizLegendEntry& e = view.legend[i];
    out += "<tr><td align=\"left\"><font color=\"" + std::string(viz_pattern_color(i)) +
           "\" point-size=\"14\">\u25a0</font> " + html(e.pattern) + " (" + std::to_string(e.matches) +
           ")</td></tr>";
  }
  return out + "</table>";
}

// cgraph's default ID discipline identifies a named object by the address of its interned
// name and keeps subgraphs ordered by ID, so the order of clusters (in the DOT text and in
// the layout) followed wherever malloc had put the strings: the same graph drawn from two
// command lines came out differently. These IDs count up in creation order instead, and the
// discipline keeps the names itself (cgraph's fallback name map would leak its entries).
class SequentialIds {
 public:
  explicit SequentialIds(Agraph_t* g) : graph_(g) {}

  // The ID of `name` for an object of `type`: a known name's, or a new one if `create`.
  bool map(int type, const char* name, IDTYPE* id, bool create) {
    if (!name) {  // an anonymous object (edges)
      if (!create) return false;
      *id = fresh();
      return true;
    }
    std::string key = std::to_string(type) + ":" + name;
    if (auto it = ids_.find(key); it != ids_.end()) {
      *id = it->second;
      return true;
    }
    if (!create) return false;
    *id = fresh();
    ids_.emplace(std::move(key), *id);
    // cgraph reads flags stored before a name (is it HTML?): names must be its own strings.
    names_.emplace(*id, agstrdup(graph_, const_cast<char*>(name)));
    return true;
  }
  char* name(IDTYPE id) const {
    auto it = names_.find(id);
    return it == names_.end() ? nullptr : it->second;
  }
  void erase(int type, IDTYPE id) {
    auto it = names_.find(id);
    if (it == names_.end()) return;
    ids_.erase(std::to_string(type) + ":" + it->second);
    agstrfree(graph_, it->second);
    names_.erase(it);
  }

 private:
  IDTYPE fresh() {
    IDTYPE id = next_;
    next_ += 2;  // odd, as cgraph's own anonymous IDs are
    return id;
  }
  Agraph_t* graph_;
  IDTYPE next_ = 1;
  std::unordered_map<std::string, IDTYPE> ids_;
  std::unordered_map<IDTYPE, char*> names_;  // strings of the graph's dictionary
};

SequentialIds* ids_of(void* state) { return static_cast<SequentialIds*>(state); }
void* ids_open(Agraph_t* g, Agdisc_t*) { return new SequentialIds(g); }
long ids_map(void* state, int type, char* name, IDTYPE* id, int create) {
  return ids_of(state)->map(type, name, id, create != 0);
}
long ids_alloc(void*, int, IDTYPE) { return 0; }  // no IDs chosen by callers
void ids_free(void* state, int type, IDTYPE id) { ids_of(state)->erase(type, id); }
char* ids_print(void* state, int, IDTYPE id) { return ids_of(state)->name(id); }
// Called before cgraph frees its string dictionary, which takes the names with it.
void ids_close(void* state) { delete ids_of(state); }
void ids_register(void*, int, void*) {}
Agiddisc_t kSequentialIds = {ids_open, ids_map, ids_alloc, ids_free, ids_print, ids_close, ids_register};
Agdisc_t kDiscipline = {&AgMemDisc, &kSequentialIds, &AgIoDisc};

// Sets a string attribute; HTML-like values go through agstrdup_html so they are drawn as
// markup, and the reference this function took is given back.
class Attrs {
 public:
  Attrs(Agraph_t* g, int kind) : g_(g), kind_(kind) {}
  Agsym_t* sym(const char* name, const char* fallback = "") {
    Agsym_t* s = agattr(g_, kind_, c(name), nullptr);
    return s ? s : agattr(g_, kind_, c(name), c(fallback));
  }
  void set(void* obj, const char* name, const std::string& value) { agxset(obj, sym(name), c(value)); }
  void set_html(void* obj, const char* name, const std::string& value) {
    char* h = agstrdup_html(g_, c(value));
    agxset(obj, sym(name), h);
    agstrfree(g_, h);
  }

 private:
  Agraph_t* g_;
  int kind_;
};

void set_defaults(Agraph_t* g, const VizView& view, VizRankDir rankdir) {
  auto graph = [&](const char* k, const char* v) { agattr(g, AGRAPH, c(k), c(v)); };
  auto node = [&](const char* k, const char* v) { agattr(g, AGNODE, c(k), c(v)); };
  auto edge = [&](const char* k, const char* v) { agattr(g, AGEDGE, c(k), c(v)); };
  graph("rankdir", rankdir == VizRankDir::kLeftRight ? "LR" : "TB");
  graph("fontname", kFont);
  graph("fontsize", "11");
  graph("nodesep", "0.18");
  graph("ranksep", "0.28");
  graph("labelloc", "t");
  graph("labeljust", "l");
  graph("outputorder", "edgesfirst");
  graph("bgcolor", "white");
  graph("pad", "0.2");
  // Cluster attributes, set per cluster below, need graph-level declarations.
  graph("style", "");
  graph("fillcolor", "");
  graph("color", "");
  graph("id", "");
  graph("class", "");
  graph("tooltip", "");
  graph("margin", "");
  node("shape", "box");
  node("style", "rounded,filled");
  node("fillcolor", "white");
  node("color", "#7b8794");
  node("fontname", kFont);
  node("fontsize", "10");
  node("margin", "0.07,0.025");
  node("height", "0.3");
  node("penwidth", "0.8");
  edge("color", "#5f6b7a");
  edge("arrowsize", "0.5");
  edge("penwidth", "0.8");
  if (view.boxes.size() > kVizFastLayoutAbove) {
    // Measured in docs/performance.md#genie-viz. dot's time goes to network simplex: the
    // x-coordinate pass runs it on an auxiliary graph of every node, every rank an edge
    // crosses and every cluster's sides. newrank ranks all clusters in one pass (smaller
    // auxiliary graphs here); nslimit/nslimit1 cap its iterations.
    graph("newrank", "true");
    graph("nslimit", "2");
    graph("nslimit1", "2");
  }
}

}  // namespace

std::string_view viz_pattern_color(size_t index) {
  return kPalette[index % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

DotGraph::DotGraph(const VizView& view, VizRankDir rankdir) {
  graph_ = agopen(c("genie"), Agdirected, &kDiscipline);
  if (!graph_) fail(ErrorKind::kRuntime, "Graphviz could not create a graph (out of memory?)");
  Agraph_t* g = graph_;
  set_defaults(g, view, rankdir);
  Attrs graph_attrs(g, AGRAPH), node_attrs(g, AGNODE), edge_attrs(g, AGEDGE);

  std::vector<Agraph_t*> clusters(view.clusters.size(), nullptr);
  for (size_t i = 0; i < view.clusters.size(); ++i) {
    const VizCluster& cl = view.clusters[i];
    Agraph_t* parent = cl.parent == kNoCluster ? g : clusters[cl.parent];
    Agraph_t* sub = agsubg(parent, c("cluster_" + cl.id), 1);
    clusters[i] = sub;
    graph_attrs.set_html(sub, "label", cluster_label(cl));
    graph_attrs.set(sub, "id", cl.id);
    graph_attrs.set(sub, "class", "module");
    graph_attrs.set(sub, "style", "rounded,filled");
    graph_attrs.set(sub, "fillcolor", kClusterFills[(cl.depth - 1) % 4]);
    graph_attrs.set(sub, "color", "#a9b4c4");
    graph_attrs.set(sub, "margin", "6");
    graph_attrs.set(sub, "tooltip", plain(cl.path + (cl.module_type.empty() ? "" : " (" + cl.module_type + ")") +
                                          (cl.calls > 1 ? ", call " + std::to_string(cl.call) : "")));
  }

  std::vector<Agnode_t*> nodes(view.boxes.size(), nullptr);
  std::vector<Agnode_t*> inputs, outputs;
  for (size_t i = 0; i < view.boxes.size(); ++i) {
    const VizBox& box = view.boxes[i];
    Agraph_t* parent = box.cluster == kNoCluster ? g : clusters[box.cluster];
    Agnode_t* n = agnode(parent, c(box.id), 1);
    nodes[i] = n;
    node_attrs.set_html(n, "label", box_label(box));
    node_attrs.set(n, "id", box.id);
    node_attrs.set(n, "tooltip", plain(box.tooltip));
    std::string cls;
    std::string fill;
    switch (box.kind) {
      case VizBoxKind::kOperator: cls = "op"; break;
      case VizBoxKind::kModule:
        cls = "module";
        fill = "#dfe7f2";
        node_attrs.set(n, "penwidth", "1.6");
        node_attrs.set(n, "color", "#4f6d96");
        break;
      case VizBoxKind::kInput:
        cls = "input";
        fill = "#d7ecd3";
        node_attrs.set(n, "shape", "invhouse");
        node_attrs.set(n, "style", "filled");
        inputs.push_back(n);
        break;
      case VizBoxKind::kOutput:
        cls = "output";
        fill = "#f9dcc4";
        node_attrs.set(n, "shape", "house");
        node_attrs.set(n, "style", "filled");
        outputs.push_back(n);
        break;
    }
    for (uint32_t p : box.patterns) cls += " " + view.legend[p].pattern;
    if (!fill.empty()) node_attrs.set(n, "fillcolor", fill);
    node_attrs.set(n, "class", cls);
  }
  // Inputs side by side, and outputs: one row each. Not rank=source/sink (first and last
  // row), which Graphviz 2.43 gets wrong with clusters once a process has laid out ~50
  // such graphs (an assertion in mincross's install_in_rank aborts it); being sources and
  // sinks, inputs and outputs end up at the top and bottom anyway.
  if (!inputs.empty()) {
    Agraph_t* first = agsubg(g, c("inputs"), 1);
    graph_attrs.set(first, "rank", "same");
    for (Agnode_t* n : inputs) agsubnode(first, n, 1);
  }
  if (!outputs.empty()) {
    Agraph_t* last = agsubg(g, c("outputs"), 1);
    graph_attrs.set(last, "rank", "same");
    for (Agnode_t* n : outputs) agsubnode(last, n, 1);
  }
  for (const VizEdge& e : view.edges) {
    Agedge_t* edge = agedge(g, nodes[e.from], nodes[e.to], nullptr, 1);
    if (e.tensors > 1) {
      edge_attrs.set(edge, "penwidth", e.tensors > 3 ? "1.8" : "1.3");
      edge_attrs.set(edge, "tooltip", std::to_string(e.tensors) + " tensors");
    }
  }
  // Last: a value set on the root graph becomes the default of subgraphs made after it.
  graph_attrs.set_html(g, "label", graph_label(view));
}

DotGraph::~DotGraph() {
  if (graph_) agclose(graph_);
}

std::string DotGraph::dot_text() const {
  char* buffer = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&buffer, &size);
  if (!stream) fail(ErrorKind::kRuntime, "cannot write the DOT text: out of memory");
  int rc = agwrite(graph_, stream);
  bool ok = std::fclose(stream) == 0 && rc == 0;
  std::string text(buffer ? buffer : "", size);
  std::free(buffer);
  if (!ok) fail(ErrorKind::kRuntime, "Graphviz could not write the DOT text");
  return text;
}

}  // namespace genie
