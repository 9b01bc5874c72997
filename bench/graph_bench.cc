// Graph file and graph walk costs per node, on chains and on a wide branching graph.
// Run: build/bench/graph_bench  (docs/performance.md has the figures and how they were taken)
#include <benchmark/benchmark.h>

#include <algorithm>

#include "graph/json_codec.h"
#include "graph/test_graphs.h"
#include "graph/topo_order.h"
#include "graph/validate.h"

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

}  // namespace

BENCHMARK_MAIN();
