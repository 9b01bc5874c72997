// genie-graph: check a graph file (and its weights) and say what it holds.
#include <iostream>
#include <map>
#include <optional>

#include "common/tool_main.h"
#include "graph/json_codec.h"
#include "graph/topo_order.h"
#include "io/weights.h"
#include "support/files.h"

namespace {

nlohmann::ordered_json summarize(const genie::Graph& graph) {
  std::map<std::string, int64_t> ops;
  for (const auto& node : graph.nodes) ++ops[node.qualified_name()];
  int64_t stored_bytes = 0, stored_elements = 0;
  for (const auto& p : graph.parameters) {
    const auto& type = graph.values[p.value].type;
    stored_bytes += type.nbytes().value_or(0);
    stored_elements += type.numel().value_or(0);
  }
  auto named = [&](const std::vector<genie::NamedValue>& list) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& nv : list) {
      const auto& type = graph.values[nv.value].type;
      out.push_back({{"name", nv.name}, {"dtype", std::string(genie::dtype_name(type.dtype))}, {"shape", type.shape}});
    }
    return out;
  };
  nlohmann::ordered_json s;
  s["nodes"] = graph.nodes.size();
  s["values"] = graph.values.size();
  s["inputs"] = named(graph.inputs);
  s["outputs"] = named(graph.outputs);
  s["parameters"] = graph.parameters.size();
  s["parameter_elements"] = stored_elements;
  s["parameter_bytes"] = stored_bytes;
  s["ops"] = ops;
  return s;
}

void print_text(const nlohmann::ordered_json& s, const std::string& source) {
  std::cout << source << ": valid genie.graph, " << s["nodes"].get<int64_t>() << " nodes, "
            << s["values"].get<int64_t>() << " values\n";
  for (const char* key : {"inputs", "outputs"})
    for (const auto& v : s[key]) {
      std::cout << "  " << (key[0] == 'i' ? "input  " : "output ") << v["name"].get<std::string>() << ": "
                << v["dtype"].get<std::string>() << "[";
      for (size_t i = 0; i < v["shape"].size(); ++i) std::cout << (i ? "x" : "") << v["shape"][i].get<int64_t>();
      std::cout << "]\n";
    }
  std::cout << "  parameters: " << s["parameters"].get<int64_t>() << " tensors, "
            << s["parameter_elements"].get<int64_t>() << " elements, " << s["parameter_bytes"].get<int64_t>()
            << " bytes\n  operators:\n";
  for (auto it = s["ops"].begin(); it != s["ops"].end(); ++it)
    std::cout << "    " << it.value().get<int64_t>() << "  " << it.key() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Check a Genie graph file (and its weights) and summarise what it holds.\n\n"
               "Examples:\n"
               "  genie-graph model.json                       # validate, print a summary\n"
               "  genie-graph model.json --weights model.safetensors\n"
               "  genie-graph - --format json < model.json     # summary as JSON for scripts\n"
               "  genie-graph model.json -o canonical.json     # rewrite in canonical form",
               "genie-graph"};
  std::string graph_path, weights_path, output_path, format = "text";
  app.add_option("graph", graph_path, "graph file (genie.graph JSON); - for stdin")->required();
  app.add_option("--weights", weights_path, "safetensors file that must hold every parameter of the graph");
  app.add_option("-o,--output", output_path, "write the graph back, canonical (topologically sorted); - for stdout");
  app.add_option("--format", format, "summary format")->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", "genie-graph 0.1.0");

  return genie::tool_main(app, argc, argv, [&] {
    genie::Graph graph = genie::graph_read(graph_path);
    if (!weights_path.empty()) genie::weights_check(graph, genie::SafetensorsFile::open(weights_path));
    if (!output_path.empty()) {
      genie::graph_sort(graph);
      genie::graph_write(graph, output_path);
      if (output_path == "-") return 0;
    }
    auto summary = summarize(graph);
    if (format == "json") std::cout << summary.dump(2) << "\n";
    else print_text(summary, genie::display_path(graph_path));
    return 0;
  });
}
