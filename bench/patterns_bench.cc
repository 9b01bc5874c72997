// Matching every built-in pattern (patterns/*.json and the plugins) on synthetic BERT-like
// encoders (tests/patterns/graph_maker.h: 54 nodes a layer) of about 10k, 100k and 1M
// nodes. The target: 100k nodes in under 0.5 s, time about linear (1M/100k <= 12).
// Run: build/bench/patterns_bench  (docs/performance.md has the figures and how they were taken)
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>

#include "patterns/graph_index.h"
#include "patterns/graph_maker.h"
#include "patterns/pattern_file.h"

namespace {

const genie::PatternSet& builtin() {
  static const genie::PatternSet* set = new genie::PatternSet(genie::patterns_load({}));
  return *set;
}

size_t layers_for(int64_t nodes) {
  return static_cast<size_t>((nodes - 6) / 54);
}

// Index and every pattern, as genie-patterns runs them (graph construction not timed).
void BM_AllPatterns(benchmark::State& state) {
  const size_t layers = layers_for(state.range(0));
  const genie::Graph g = genie::testing::synthetic_transformer(layers);
  size_t matches = 0;
  for (auto _ : state) {
    std::vector<genie::Match> found = genie::patterns_run(builtin(), g);
    matches = found.size();
    benchmark::DoNotOptimize(found.data());
  }
  // Per layer: attention, 2 layer norms, linear_activation, mlp, matmul_chain, 2 residual
  // adds, repeated_block (9); plus 3 embeddings and 1 layer norm.
  if (matches != 9 * layers + 4) state.SkipWithError("unexpected number of matches");
  state.counters["nodes"] = static_cast<double>(g.nodes.size());
  state.counters["matches"] = static_cast<double>(matches);
  state.counters["per_node"] = benchmark::Counter(static_cast<double>(state.iterations() * g.nodes.size()),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_AllPatterns)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// The shared index alone: producers, consumers, topological order, nodes by operator.
void BM_GraphIndex(benchmark::State& state) {
  const genie::Graph g = genie::testing::synthetic_transformer(layers_for(state.range(0)));
  for (auto _ : state) {
    genie::GraphIndex index(g);
    benchmark::DoNotOptimize(&index);
  }
  state.counters["nodes"] = static_cast<double>(g.nodes.size());
}
BENCHMARK(BM_GraphIndex)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// The machine's own 1M/100k ratio for a plain linear pass over the same graphs (the
// producer of every value), to read the patterns' ratio against: at these sizes memory, not
// the algorithm, makes a linear pass superlinear.
void BM_LinearPassBaseline(benchmark::State& state) {
  const genie::Graph g = genie::testing::synthetic_transformer(layers_for(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(genie::graph_producers(g));
  state.counters["nodes"] = static_cast<double>(g.nodes.size());
}
BENCHMARK(BM_LinearPassBaseline)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// Each pattern alone at 100k nodes, to see where the time goes.
void BM_OnePattern(benchmark::State& state) {
  const genie::Graph g = genie::testing::synthetic_transformer(layers_for(100000));
  const auto& p = builtin().patterns[static_cast<size_t>(state.range(0))];
  state.SetLabel(p->name());
  genie::GraphIndex index(g);
  for (auto _ : state) benchmark::DoNotOptimize(p->match(index));
}
BENCHMARK(BM_OnePattern)->DenseRange(0, 9)->Unit(benchmark::kMillisecond);

}  // namespace

// glibc gives blocks above its mmap threshold back to the system when freed; the threshold
// adapts up to 32 MB, so between iterations the 100k-node runs reuse their memory while the
// 1M-node runs would map and fault theirs in again, every iteration. Both sizes reuse it
// here (a single run, as genie-patterns does, faults in proportion at every size).
int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, INT32_MAX);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
