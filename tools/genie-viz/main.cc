// genie-viz: draw a graph with Graphviz, operators grouped by module, pattern matches
// highlighted (docs/genie-viz.md).
#include <algorithm>
#include <iostream>
#include <set>

#include "common/tool_main.h"
#include "graph/json_codec.h"
#include "patterns/match.h"
#include "support/error.h"
#include "support/files.h"
#include "viz/render.h"
#include "viz/view.h"

namespace {

std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Draw a Genie graph with Graphviz: operators grouped by module, pattern matches highlighted.\n"
      "Exit status: 0 drawn; errors as in docs/exit-codes.md (4: too large for --max-nodes at the asked --depth).\n\n"
      "Examples:\n"
      "  genie-viz model.json -o model.svg                   # format from the extension: svg png pdf dot json\n"
      "  genie-viz model.json --depth 2 -o model.png          # modules 2 deep and below drawn as one box each\n"
      "  genie-viz model.json --matches model.matches.json --only attention -o attention.svg\n"
      "  genie-patterns --annotate model.json | genie-viz - > model.svg\n\n"
      "A graph drawn as more than --max-nodes boxes is collapsed to the deepest --depth that fits (said on\n"
      "stderr); with --depth it is refused (exit 4) with a message naming a depth that fits.",
      "genie-viz"};
  std::string graph_path, output_path = "-", format_name, matches_path, rankdir = "TB";
  std::vector<std::string> only;
  uint32_t depth = 0;
  size_t max_nodes = genie::kVizDefaultMaxNodes;
  bool no_shapes = false;
  app.add_option("graph", graph_path, "graph file (genie.graph JSON); - for stdin");
  app.add_option("-o,--output", output_path, "where to write the picture; - for stdout")->capture_default_str();
  app.add_option("--format", format_name, "svg, png, pdf, dot or json (Graphviz's, with coordinates); default: "
                                          "from the output's extension, svg on stdout")
      ->check(CLI::IsMember({"svg", "png", "pdf", "dot", "json"}));
  app.add_option("--matches", matches_path, "matches file (genie-patterns output) to highlight; - for stdin. "
                                            "Default: the matches of an annotated graph, if any");
  app.add_option("--only", only, "highlight only this pattern (repeatable)");
  app.add_option("--depth", depth, "draw each module this deep (and its submodules) as one box: 1 = top-level modules")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--rankdir", rankdir, "TB: top to bottom, LR: left to right")
      ->check(CLI::IsMember({"TB", "LR"}))
      ->capture_default_str();
  app.add_flag("--no-shapes", no_shapes, "leave output shapes and dtypes out of the labels");
  app.add_option("--max-nodes", max_nodes, "boxes above which the graph is collapsed (0: no limit)")
      ->capture_default_str();
  app.set_version_flag("--version", "genie-viz 0.1.0");

  return genie::tool_main(app, argc, argv, [&] {
    using genie::ErrorKind;
    if (graph_path.empty()) genie::fail(ErrorKind::kUsage, "graph is required (see genie-viz --help)");
    if (graph_path == "-" && matches_path == "-")
      genie::fail(ErrorKind::kUsage, "the graph and --matches cannot both be read from stdin");
    genie::VizFormat format = genie::VizFormat::kSvg;
    if (!format_name.empty()) {
      format = *genie::viz_format_from_name(format_name);
    } else if (output_path != "-") {
      auto by_extension = genie::viz_format_from_path(output_path);
      if (!by_extension)
        genie::fail(ErrorKind::kUsage, "-o " + output_path +
                                           ": cannot tell the format from the extension; name it .svg, .png, .pdf, "
                                           ".dot or .json, or pass --format");
      format = *by_extension;
    }

    const std::string source = genie::display_path(graph_path);
    const std::string text = genie::read_file(graph_path);
    // `genie-patterns g.json | genie-viz -` hands over matches, not the graph: say what works.
    if (text.substr(0, 256).find("\"genie.matches\"") != std::string::npos)
      genie::fail(ErrorKind::kBadInput, source +
                                            ": a genie.matches file, not a graph: pass the graph and --matches " +
                                            (graph_path == "-" ? "FILE" : graph_path) +
                                            ", or pipe the graph through genie-patterns --annotate");
    genie::Graph graph = genie::graph_from_json(text, source);
    std::vector<genie::Match> matches;
    std::set<std::string> known;  // patterns --only may name
    bool have_matches = false;
    if (!matches_path.empty()) {
      genie::MatchesFile file =
          genie::matches_from_json(genie::read_file(matches_path), genie::display_path(matches_path), graph);
      for (const auto& p : file.patterns) known.insert(p.name);
      matches = std::move(file.matches);
      have_matches = true;
    } else if (graph.annotations.is_object() && graph.annotations.contains("matches")) {
      matches = genie::matches_from_annotations(graph, source);
      have_matches = true;
    }
    for (const auto& m : matches) known.insert(m.pattern);
    if (!only.empty() && !have_matches)
      genie::fail(ErrorKind::kUsage,
                  "--only needs matches: pass --matches FILE, or a graph annotated by genie-patterns --annotate");
    for (const std::string& name : only)
      if (!known.count(name))
        genie::fail(ErrorKind::kUsage, "--only " + name + ": no such pattern in the matches (patterns: " +
                                           joined(known) + ")");

    genie::VizOptions options;
    options.depth = depth;
    options.max_nodes = max_nodes;
    options.shapes = !no_shapes;
    options.only = only;
    options.source = source;
    genie::VizView view = genie::viz_view(graph, matches, options);
    if (!view.note.empty()) std::cerr << "genie-viz: " << view.note << "\n";
    // Layout takes a second or more from this size on: say so rather than sit silent.
    constexpr size_t kSayLayoutAbove = 1000;
    if (format != genie::VizFormat::kDot && view.boxes.size() > kSayLayoutAbove)
      std::cerr << "genie-viz: laying out " << view.boxes.size() << " boxes in " << view.clusters.size()
                << " module clusters...\n";
    const std::string bytes = genie::viz_render(
        view, format, rankdir == "LR" ? genie::VizRankDir::kLeftRight : genie::VizRankDir::kTopBottom);
    genie::write_file_atomic(output_path, [&](std::ostream& out) {
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    });
    if (output_path != "-")
      std::cerr << "genie-viz: " << graph.nodes.size() << " nodes as " << view.boxes.size() << " boxes in "
                << view.clusters.size() << " module clusters"
                << (view.legend.empty() ? "" : ", " + std::to_string(view.legend.size()) + " patterns") << " -> "
                << output_path << "\n";
    return 0;
  });
}
