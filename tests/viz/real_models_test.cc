// genie-viz on graphs captured from real models (the graphs.capture fixture): the SVG has
// one cluster per module scope at the drawn depth, one box per collapsed module, and the
// pattern classes where genie-patterns found them. Counts are derived from the
// architectures (docs/genie-viz.md) and checked again against the graph by plain string
// work on its scopes, independent of lib/viz's scope tree.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "graph/json_codec.h"
#include "patterns/pattern_file.h"
#include "viz/render.h"

#ifndef GENIE_TEST_GRAPHS
#error "GENIE_TEST_GRAPHS must name the directory of captured graphs"
#endif

namespace genie {
namespace {

Graph load(const std::string& name) { return graph_read(std::string(GENIE_TEST_GRAPHS) + "/" + name); }

std::string svg_of(const Graph& graph, uint32_t depth, const std::vector<Match>& matches = {}) {
  VizOptions options;
  options.depth = depth;
  return viz_render(viz_view(graph, matches, options), VizFormat::kSvg);
}

// The ids of the SVG's <g class="cluster module"> groups: "m:PATH" or "m:PATH#CALL".
std::vector<std::string> svg_clusters(const std::string& svg) {
  static const std::regex re("<g id=\"m:([^\"]*)\" class=\"cluster module\">");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

size_t svg_count(const std::string& svg, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<size_t>(std::distance(std::sregex_iterator(svg.begin(), svg.end(), re), std::sregex_iterator()));
}

// Module paths with fewer than `depth` components (all when depth is 0) that hold a node or
// are a prefix of one's scope: what must be a cluster.
std::set<std::string> scopes_above(const Graph& graph, uint32_t depth) {
  std::set<std::string> out;
  for (const Node& n : graph.nodes) {
    std::string prefix;
    uint32_t components = 0;
    std::string scope = n.scope;
    while (!scope.empty()) {
      size_t dot = scope.find('.');
      prefix += (prefix.empty() ? "" : ".") + scope.substr(0, dot);
      scope = dot == std::string::npos ? "" : scope.substr(dot + 1);
      ++components;
      if (depth == 0 || components < depth) out.insert(prefix);
    }
  }
  return out;
}

std::set<std::string> paths_of(const std::vector<std::string>& clusters) {
  std::set<std::string> out;
  for (const std::string& c : clusters) out.insert(c.substr(0, c.find('#')));
  return out;
}

TEST(VizRealModels, Resnet18EveryModuleACluster) {
  const Graph graph = load("resnet18.traced.json");
  const std::vector<std::string> clusters = svg_clusters(svg_of(graph, 0));
  const std::set<std::string> scopes = scopes_above(graph, 0);
  // conv1 bn1 relu maxpool avgpool fc, layer1-4, 8 blocks x (conv1 bn1 relu conv2 bn2), and
  // downsample with its conv and bn in 3 blocks: 6 + 4 + 8 + 40 + 9.
  EXPECT_EQ(scopes.size(), 67u);
  EXPECT_EQ(paths_of(clusters), scopes);
  // Each BasicBlock calls its ReLU module twice (after bn1, after the add): two clusters.
  EXPECT_EQ(clusters.size(), scopes.size() + 8);
  size_t second_calls = 0;
  for (const std::string& c : clusters) second_calls += c.size() > 7 && c.compare(c.size() - 7, 7, ".relu#2") == 0;
  EXPECT_EQ(second_calls, 8u);
}

TEST(VizRealModels, Resnet18AtDepth2IsStagesOfBlocks) {
  const Graph graph = load("resnet18.traced.json");
  const std::string svg = svg_of(graph, 2);
  const std::vector<std::string> clusters = svg_clusters(svg);
  // Clusters: the 10 top-level modules (conv1 bn1 relu maxpool layer1-4 avgpool fc); one box
  // per BasicBlock (layer1.0 ... layer4.1).
  EXPECT_EQ(clusters.size(), 10u);
  EXPECT_EQ(paths_of(clusters), scopes_above(graph, 2));
  EXPECT_EQ(svg_count(svg, "<g id=\"m:layer[1-4]\\.[01]\" class=\"node module\">"), 8u);
  EXPECT_EQ(svg_count(svg, "class=\"node module\""), 8u);
  // Every operator outside the blocks is a box: conv, batch norm, relu, max pool in the stem;
  // mean, view, linear.
  EXPECT_EQ(svg_count(svg, "class=\"node op\""), 7u);
}

TEST(VizRealModels, Resnet18MatchesAreClassesOnTheirBoxes) {
  const Graph graph = load("resnet18.traced.json");
  const std::vector<Match> matches = patterns_run(patterns_load({}), graph);
  const std::string svg = svg_of(graph, 0, matches);
  // 9 conv-bn-relu matches of 3 nodes each (docs/patterns.md).
  EXPECT_EQ(svg_count(svg, "class=\"node op[a-z_ ]* conv_bn_relu[a-z_ ]*\""), 27u);
  EXPECT_EQ(svg_count(svg, "conv_bn_relu \\(9\\)"), 1u);  // the legend
}

TEST(VizRealModels, BertEveryModuleACluster) {
  const Graph graph = load("bert.traced.json");
  const std::vector<std::string> clusters = svg_clusters(svg_of(graph, 0));
  // No module of BertModel is called twice: one cluster per module path.
  EXPECT_EQ(clusters.size(), scopes_above(graph, 0).size());
  EXPECT_EQ(paths_of(clusters), scopes_above(graph, 0));
}

TEST(VizRealModels, BertAtDepth4IsLayersOfSublayers) {
  const Graph graph = load("bert.traced.json");
  const std::string svg = svg_of(graph, 4);
  const std::vector<std::string> clusters = svg_clusters(svg);
  // embeddings (+ its 4 submodules), encoder, encoder.layer, encoder.layer.0 and .1, pooler
  // (+ dense, activation): 12; each layer's attention, intermediate and output collapsed: 6 boxes.
  EXPECT_EQ(clusters.size(), 12u);
  EXPECT_EQ(paths_of(clusters), scopes_above(graph, 4));
  EXPECT_EQ(svg_count(svg, "<g id=\"m:encoder\\.layer\\.[01]\\.(attention|intermediate|output)\" class=\"node module\">"), 6u);
  EXPECT_EQ(svg_count(svg, "class=\"node module\""), 6u);
}

}  // namespace
}  // namespace genie
