// genie-viz's render time: a graph in memory -> the view (scopes, collapse, labels) -> dot
// layout -> the picture's bytes, as the tool does (reading the JSON file not timed).
//   - real models, from the directories given: resnet18.traced.json and bert.traced.json
//     (the graphs.capture test fixture writes them to BUILD/test-graphs), resnet50.traced.json
//     (bench/make_resnet50_graph.py); the target: resnet50 to SVG under 2 s;
//   - synthetic BERT-like encoders (tests/patterns/graph_maker.h) of 1k, 5k and 20k nodes,
//     as the tool draws them by default (collapsed above the node limit), at --depth 2 and 3,
//     and every node (--max-nodes 0) for 1k and 5k (20k takes minutes: docs/genie-viz.md).
// Run: build/bench/viz_bench build/test-graphs build/bench-graphs --benchmark_repetitions=5
// (docs/performance.md has the figures and how they were taken.)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "graph/json_codec.h"
#include "patterns/graph_maker.h"
#include "viz/render.h"

namespace {

// Timings on a shared machine are noisy upwards only: the minimum is the best estimate.
double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void render(benchmark::State& state, const genie::Graph& graph, genie::VizOptions options, genie::VizFormat format) {
  size_t boxes = 0, clusters = 0, bytes = 0;
  uint32_t depth = 0;
  for (auto _ : state) {
    genie::VizView view = genie::viz_view(graph, {}, options);
    const std::string out = genie::viz_render(view, format);
    boxes = view.boxes.size();
    clusters = view.clusters.size();
    depth = view.depth;
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["nodes"] = static_cast<double>(graph.nodes.size());
  state.counters["boxes"] = static_cast<double>(boxes);
  state.counters["clusters"] = static_cast<double>(clusters);
  state.counters["depth"] = depth;
  state.counters["bytes"] = static_cast<double>(bytes);
}

void add(const std::string& name, const genie::Graph* graph, uint32_t depth, size_t max_nodes,
         genie::VizFormat format = genie::VizFormat::kSvg) {
  genie::VizOptions options;
  options.depth = depth;
  options.max_nodes = max_nodes;
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& state) { render(state, *graph, options, format); })
      ->Unit(benchmark::kMillisecond)
      ->MinTime(1.0)
      ->ComputeStatistics("min", minimum);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<std::string> dirs(argv + 1, argv + argc);  // what Google Benchmark left: graph directories
  static std::vector<genie::Graph> graphs;
  graphs.reserve(16);
  const size_t limit = genie::kVizDefaultMaxNodes;

  for (const char* model : {"resnet18", "resnet50", "bert"}) {
    for (const std::string& dir : dirs) {
      const std::filesystem::path file = std::filesystem::path(dir) / (std::string(model) + ".traced.json");
      if (!std::filesystem::exists(file)) continue;
      graphs.push_back(genie::graph_read(file.string()));
      const genie::Graph* g = &graphs.back();
      const std::string base = std::string("real/") + model;
      add(base + "/svg", g, 0, limit);
      add(base + "/svg/depth:2", g, 2, limit);
      if (std::string(model) == "bert") add(base + "/svg/depth:3", g, 3, limit);
      if (std::string(model) == "resnet18") {
        add(base + "/png/depth:2", g, 2, limit, genie::VizFormat::kPng);
        add(base + "/pdf/depth:2", g, 2, limit, genie::VizFormat::kPdf);
      }
      break;
    }
  }

  // 6 + 54 * layers nodes: 978, 4974, 19986.
  for (size_t layers : {18, 92, 370}) {
    graphs.push_back(genie::testing::synthetic_transformer(layers));
    const genie::Graph* g = &graphs.back();
    const std::string base = "synthetic/" + std::to_string(g->nodes.size()) + "_nodes/svg";
    add(base + "/default", g, 0, limit);
    add(base + "/depth:2", g, 2, limit);
    add(base + "/depth:3", g, 3, limit);
    if (layers <= 92) add(base + "/every_node", g, 0, 0);
  }

  if (benchmark::ReportUnrecognizedArguments(1, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
