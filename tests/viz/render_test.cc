// Graphviz as a library: the DOT text's structure (clusters nested per module, ids,
// classes, the faster settings for large views), and real SVG, PNG, PDF and JSON bytes.
#include <gtest/gtest.h>

#include <regex>

#include "viz/render.h"
#include "viz/viz_graphs.h"

namespace genie {
namespace {

size_t count(const std::string& text, const std::regex& re) {
  return static_cast<size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

VizView blocks_view(size_t blocks, uint32_t depth = 0, std::vector<Match> matches = {}) {
  VizOptions options;
  options.depth = depth;
  options.source = "testdata/blocks.json";
  return viz_view(testing::mlp_blocks(blocks), matches, options);
}

uint32_t be32(const std::string& bytes, size_t at) {
  return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
         (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
}

TEST(VizRender, FormatsByNameAndExtension) {
  EXPECT_EQ(viz_format_from_name("svg"), VizFormat::kSvg);
  EXPECT_EQ(viz_format_from_name("yaml"), std::nullopt);
  EXPECT_EQ(viz_format_from_path("out/model.PNG"), VizFormat::kPng);
  EXPECT_EQ(viz_format_from_path("model.pdf"), VizFormat::kPdf);
  EXPECT_EQ(viz_format_from_path("model.gv"), VizFormat::kDot);
  EXPECT_EQ(viz_format_from_path("model.dot"), VizFormat::kDot);
  EXPECT_EQ(viz_format_from_path("model.json"), VizFormat::kJson);
  EXPECT_EQ(viz_format_from_path("model.svg.txt"), std::nullopt);
  EXPECT_EQ(viz_format_from_path("dir.svg/model"), std::nullopt);
  EXPECT_EQ(viz_format_from_path("model"), std::nullopt);
}

TEST(VizRender, DotNestsOneClusterPerModule) {
  const std::string dot = viz_render(blocks_view(2), VizFormat::kDot);
  // Top-level clusters one tab in, their children two: the nesting follows the module paths.
  EXPECT_EQ(count(dot, std::regex("\n\tsubgraph \"cluster_m:blocks\" \\{")), 1u) << dot;
  EXPECT_EQ(count(dot, std::regex("\n\t\tsubgraph \"cluster_m:blocks\\.[01]\" \\{")), 2u) << dot;
  EXPECT_EQ(count(dot, std::regex("\n\t\t\tsubgraph \"cluster_m:blocks\\.[01]\\.(fc|act)\" \\{")), 4u) << dot;
  EXPECT_EQ(count(dot, std::regex("\n\tsubgraph \"cluster_m:head\" \\{")), 1u) << dot;
  EXPECT_EQ(count(dot, std::regex("subgraph \"?cluster")), 8u);
  // Module type in the cluster's label; ids and classes for the SVG.
  EXPECT_NE(dot.find("label=<<b>blocks.0.fc</b> <font color=\"#4a5563\">Linear</font>>"), std::string::npos) << dot;
  EXPECT_EQ(count(dot, std::regex("class=op")), 5u) << dot;
  EXPECT_EQ(count(dot, std::regex("class=input")), 1u);
  EXPECT_EQ(count(dot, std::regex("class=output")), 1u);
  EXPECT_EQ(count(dot, std::regex("\\[class=op,\\s*id=n[0-9]")), 5u);
  EXPECT_EQ(count(dot, std::regex("\n\t\"?[^\"\n]+\"? -> ")), 6u);  // edges (tooltips hold "-> " too)
  EXPECT_NE(dot.find("rankdir=TB"), std::string::npos);
  EXPECT_NE(dot.find("<b>blocks.json</b>"), std::string::npos);  // the title is the file's name
  EXPECT_EQ(dot.find("newrank"), std::string::npos);              // small: dot's best layout
  EXPECT_NE(viz_render(blocks_view(2), VizFormat::kDot, VizRankDir::kLeftRight).find("rankdir=LR"), std::string::npos);
}

TEST(VizRender, DotOfACollapsedViewHasModuleBoxes) {
  const std::string dot = viz_render(blocks_view(3, 2), VizFormat::kDot);
  EXPECT_EQ(count(dot, std::regex("subgraph \"?cluster")), 2u) << dot;  // blocks, head
  EXPECT_EQ(count(dot, std::regex("class=module")), 3u + 2u) << dot;    // 3 module boxes, 2 clusters
  EXPECT_NE(dot.find("\"m:blocks.2\"\t[class=module"), std::string::npos) << dot;
}

TEST(VizRender, MatchesBecomeClassesBandsAndALegend) {
  std::vector<Match> matches(3);
  matches[0].pattern = "linear_relu";
  matches[0].nodes = {0, 1};
  matches[1].pattern = "head";
  matches[1].nodes = {2};
  matches[2].pattern = "everything";
  matches[2].nodes = {0, 1, 2};
  const VizView view = blocks_view(1, 0, matches);
  // Drawn, too: a box in several patterns is a label table of several columns.
  const std::string svg = viz_render(view, VizFormat::kSvg);
  EXPECT_EQ(count(svg, std::regex("<g id=\"n[0-9]\" class=\"node op linear_relu everything\">")), 2u) << svg;
  EXPECT_EQ(count(svg, std::regex("<g id=\"n2\" class=\"node op head everything\">")), 1u);
  matches.pop_back();
  const std::string dot = viz_render(blocks_view(1, 0, matches), VizFormat::kDot);
  EXPECT_EQ(count(dot, std::regex("class=\"op linear_relu\"")), 2u) << dot;
  EXPECT_EQ(count(dot, std::regex("class=\"op head\"")), 1u) << dot;
  const std::string band_cell = "<td height=\"7\" width=\"12\" bgcolor=\"" + std::string(viz_pattern_color(1)) + "\">";
  EXPECT_NE(dot.find(band_cell), std::string::npos);
  EXPECT_NE(dot.find("linear_relu (1)</td>"), std::string::npos) << dot;
  EXPECT_NE(dot.find("head (1)</td>"), std::string::npos) << dot;
}

TEST(VizRender, LargeViewsGetTheFasterSettings) {
  const VizView view = blocks_view(kVizFastLayoutAbove / 2 + 1);
  ASSERT_GT(view.boxes.size(), kVizFastLayoutAbove);
  const std::string dot = viz_render(view, VizFormat::kDot);
  EXPECT_NE(dot.find("newrank=true"), std::string::npos);
  EXPECT_NE(dot.find("nslimit=2"), std::string::npos);
  EXPECT_NE(dot.find("nslimit1=2"), std::string::npos);
}

TEST(VizRender, SvgHasOneClusterGroupPerModule) {
  const VizView view = blocks_view(2);
  const std::string svg = viz_render(view, VizFormat::kSvg);
  ASSERT_EQ(svg.compare(0, 5, "<?xml"), 0) << svg.substr(0, 200);
  EXPECT_EQ(count(svg, std::regex("<g id=\"m:[^\"]+\" class=\"cluster module\">")), view.clusters.size());
  EXPECT_EQ(count(svg, std::regex("<g id=\"n[0-9]+\" class=\"node op\">")), 5u);
  EXPECT_NE(svg.find("<g id=\"input:x\" class=\"node input\">"), std::string::npos);
  // The module path on hover.
  EXPECT_NE(svg.find("xlink:title=\"aten::linear (node 0) in blocks.0.fc (Linear)"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(VizRender, PngHasItsSignatureAndASize) {
  const std::string png = viz_render(blocks_view(2), VizFormat::kPng);
  ASSERT_GT(png.size(), 33u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_GT(be32(png, 16), 100u);  // width
  EXPECT_GT(be32(png, 20), 300u);  // height: 7 boxes top to bottom
}

TEST(VizRender, PdfIsAWholeDocument) {
  const std::string pdf = viz_render(blocks_view(2), VizFormat::kPdf);
  EXPECT_EQ(pdf.compare(0, 5, "%PDF-"), 0);
  EXPECT_NE(pdf.rfind("%%EOF"), std::string::npos);
}

TEST(VizRender, JsonHasTheLayout) {
  const std::string json = viz_render(blocks_view(2), VizFormat::kJson);
  auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["name"], "genie");
  EXPECT_TRUE(doc.contains("bb"));
  // Graphviz lists subgraphs (8 clusters) before nodes (7 boxes) in "objects".
  ASSERT_TRUE(doc["objects"].is_array());
  size_t nodes = 0;
  for (const auto& o : doc["objects"]) nodes += o.contains("pos") && !o.contains("nodes");
  EXPECT_EQ(nodes, 7u);
}

TEST(VizRender, RenderingTwiceGivesTheSameSvg) {
  const VizView view = blocks_view(2, 2);
  EXPECT_EQ(viz_render(view, VizFormat::kSvg), viz_render(view, VizFormat::kSvg));
}

TEST(VizRender, EmptyNamesStillMakeValidLabels) {
  // Graphviz's HTML grammar has no empty <b></b>: an unnamed source, a scope with an empty
  // component, and an unnamed input must still give labels it parses (or it reports an
  // error and draws the graph's name instead, which viz_render refuses).
  testing::GraphMaker g;
  ValueId x = g.input("", {2});
  g.output("y", g.unary("aten::relu", x, {2}, ".a"));
  std::vector<Match> matches(1);
  matches[0].pattern = "relu";
  matches[0].nodes = {0};
  const std::string svg = viz_render(viz_view(g.graph, matches, VizOptions{}), VizFormat::kSvg);
  EXPECT_NE(svg.find("> relu (1)</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">1 node</text>"), std::string::npos) << svg;
}

TEST(VizRender, EmptyGraphRenders) {
  const std::string svg = viz_render(viz_view(Graph{}, {}, VizOptions{}), VizFormat::kSvg);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace genie
