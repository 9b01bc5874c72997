// genie-patterns: find named structures (conv-bn-relu, attention, residual adds...) in a
// graph, from declarative pattern files and C++ plugins (docs/patterns.md).
#include <iostream>
#include <sstream>

#include "common/tool_main.h"
#include "graph/json_codec.h"
#include "patterns/graph_index.h"
#include "patterns/pattern_file.h"
#include "support/error.h"
#include "support/files.h"
#include "support/json_text.h"

namespace {

// Ran and found nothing: not an error (the output is written), but scripts can tell.
constexpr int kExitNoMatch = 6;

void write_text(const std::string& path, const std::string& text) {
  genie::write_file_atomic(
      path, [&](std::ostream& out) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
}

std::string list_text(const genie::PatternSet& set) {
  size_t width = 0;
  for (const auto& p : set.patterns) width = std::max(width, p->name().size());
  std::string out;
  for (const auto& p : set.patterns) {
    out += p->name() + std::string(width + 2 - p->name().size(), ' ') + p->source();
    std::string variants;
    for (const auto& v : p->variants()) variants += (variants.empty() ? "" : ", ") + v;
    if (!variants.empty()) out += " (variants: " + variants + ")";
    out += "\n" + std::string(width + 2, ' ') + p->description() + "\n";
  }
  return out;
}

std::string list_json(const genie::PatternSet& set) {
  std::string out = "[";
  for (size_t i = 0; i < set.patterns.size(); ++i) {
    const auto& p = set.patterns[i];
    out += i ? ",\n  " : "\n  ";
    out += "{\"name\": ";
    genie::json_append_string(out, p->name());
    out += ", \"source\": ";
    genie::json_append_string(out, p->source());
    out += ", \"variants\": [";
    auto variants = p->variants();
    for (size_t k = 0; k < variants.size(); ++k) {
      if (k) out += ", ";
      genie::json_append_string(out, variants[k]);
    }
    out += "], \"description\": ";
    genie::json_append_string(out, p->description());
    out += "}";
  }
  out += set.patterns.empty() ? "]\n" : "\n]\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Find named structures (conv-bn-relu, attention, MLP, residual blocks...) in a Genie graph.\n"
      "Exit status: 0 matches found (or --list), 6 ran fine but found none; errors as in docs/exit-codes.md.\n\n"
      "Examples:\n"
      "  genie-patterns model.json                        # matches file (genie.matches JSON) on stdout\n"
      "  genie-patterns model.json --format text          # a table: pattern, count, scopes\n"
      "  genie-patterns model.json --only attention -o attention.json\n"
      "  genie-capture m.pt --input 1x3x224x224 -o - | genie-patterns --annotate - | genie-viz -\n"
      "  genie-patterns --list                            # the patterns, where each comes from\n"
      "  genie-patterns model.json --patterns my_patterns.json --patterns more/\n\n"
      "Patterns come from the built-in directory (GENIE_PATTERNS_DIR overrides it) unless --patterns\n"
      "names files or directories; C++ plugins are always available.",
      "genie-patterns"};
  std::string graph_path, output_path = "-", format = "json";
  std::vector<std::string> pattern_paths, only;
  bool annotate = false, list = false;
  app.add_option("graph", graph_path, "graph file (genie.graph JSON); - for stdin");
  app.add_option("-o,--output", output_path, "where to write the matches (or the annotated graph); - for stdout")
      ->capture_default_str();
  app.add_option("--patterns", pattern_paths, "pattern file or directory (repeatable); replaces the built-in ones");
  app.add_option("--only", only, "run only this pattern (repeatable)");
  app.add_flag("--annotate", annotate, "write the graph back with each node's matches in its annotations");
  auto* format_option =
      app.add_option("--format", format,
                     "json: a genie.matches file; text: a summary table (--list: text unless json is asked for)")
          ->check(CLI::IsMember({"json", "text"}))
          ->capture_default_str();
  app.add_flag("--list", list, "list the available patterns and exit");
  app.set_version_flag("--version", "genie-patterns 0.1.0");

  return genie::tool_main(app, argc, argv, [&] {
    if (list && (annotate || !graph_path.empty()))
      genie::fail(genie::ErrorKind::kUsage, "--list takes no graph and no --annotate (see genie-patterns --help)");
    if (!list && graph_path.empty())
      genie::fail(genie::ErrorKind::kUsage, "graph is required (or --list; see genie-patterns --help)");
    if (annotate && format == "text")
      genie::fail(genie::ErrorKind::kUsage, "--annotate writes a graph: it takes no --format text");

    genie::PatternSet set = genie::patterns_load(pattern_paths);
    for (const std::string& name : only)
      if (!set.find(name)) {
        std::string known;
        for (const auto& p : set.patterns) known += (known.empty() ? "" : ", ") + p->name();
        genie::fail(genie::ErrorKind::kUsage, "--only " + name + ": no such pattern (known: " + known + ")");
      }
    if (list) {
      write_text(output_path, format_option->count() && format == "json" ? list_json(set) : list_text(set));
      return 0;
    }

    genie::Graph graph = genie::graph_read(graph_path);
    std::vector<genie::Match> matches = genie::patterns_run(set, graph, only);
    std::vector<genie::PatternCount> counts;
    for (const auto& p : set.patterns) {
      if (!only.empty() && std::find(only.begin(), only.end(), p->name()) == only.end()) continue;
      size_t n = 0;
      for (const auto& m : matches) n += m.pattern == p->name();
      counts.push_back({p->name(), p->source(), n});
    }
    const std::string source = genie::display_path(graph_path);
    if (annotate) {
      genie::graph_annotate(graph, matches);
      genie::graph_write(graph, output_path);
    } else if (format == "text") {
      write_text(output_path, genie::matches_summary(matches, counts, source, graph.nodes.size()));
    } else {
      write_text(output_path, genie::matches_to_json(matches, counts, source));
    }
    if (output_path != "-")
      std::cerr << "genie-patterns: " << matches.size() << (matches.size() == 1 ? " match" : " matches") << " of "
                << counts.size() << " patterns -> " << output_path << "\n";
    return matches.empty() ? kExitNoMatch : 0;
  });
}
