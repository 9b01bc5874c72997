// Graph file and graph walk costs per node, on chains and on a wide branching graph; reading a
// file of resnet18's weights' size whole (read_file, against the stream iterator it replaced).
// Run: build/bench/graph_bench  (docs/performance.md has the figures and how they were taken)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "graph/json_codec.h"
#include "graph/test_graphs.h"
#include "graph/topo_order.h"
#include "graph/validate.h"
#include "support/files.h"

namespace {

using genie::Graph;

void BM_GraphLoad(benchmark::State& state) {
  const std::string text = genie::graph_to_json(genie::testing::chain(static_cast<size_t>(state.range(0))));
  for (auto _ : state) {
    Graph g = genie::graph_from_json(text, "chain.json");  // parse + build + validate
    benchmark::DoNotOptimize(g.nodes.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  // Time per node: the inverse of items_per_second.
  state.counters["per_node"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_GraphLoad)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_GraphWrite(benchmark::State& state) {
  const Graph g = genie::testing::chain(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(genie::graph_to_json(g));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GraphWrite)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_Validate(benchmark::State& state) {
  const Graph g = genie::testing::chain(static_cast<size_t>(state.range(0)));
  for (auto _ : state) genie::graph_validate(g);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Validate)->Arg(1000000)->Unit(benchmark::kMillisecond);

// Reversed storage order forces the full Kahn's-algorithm path (an ordered graph is
// recognised in one pass).
void BM_TopoOrderReversed(benchmark::State& state) {
  Graph g = genie::testing::chain(static_cast<size_t>(state.range(0)));
  std::reverse(g.nodes.begin(), g.nodes.end());
  for (auto _ : state) benchmark::DoNotOptimize(genie::graph_topological_order(g));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_TopoOrderReversed)->Arg(1000000)->Unit(benchmark::kMillisecond);

// A file of resnet18's weights' size (46,807,488 bytes), in the page cache after the first read.
struct WeightsSizedFile {
  std::string path = "/tmp/genie-graph-bench-read-file";
  WeightsSizedFile() { std::ofstream(path, std::ios::binary) << std::string(46807488, 'w'); }
  ~WeightsSizedFile() { std::remove(path.c_str()); }
};

void BM_ReadFile(benchmark::State& state) {
  WeightsSizedFile file;
  for (auto _ : state) benchmark::DoNotOptimize(genie::read_file(file.path));
  state.SetBytesProcessed(state.iterations() * int64_t{46807488});
}
BENCHMARK(BM_ReadFile)->Unit(benchmark::kMillisecond);

// How read_file read before 2026-12-05: a character at a time.
void BM_ReadFileByStreamIterator(benchmark::State& state) {
  WeightsSizedFile file;
  for (auto _ : state) {
    std::ifstream in(file.path, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    benchmark::DoNotOptimize(content);
  }
  state.SetBytesProcessed(state.iterations() * int64_t{46807488});
}
BENCHMARK(BM_ReadFileByStreamIterator)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
