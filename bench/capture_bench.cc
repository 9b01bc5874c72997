// Capture cost per intercepted operator, against running the same operator eagerly on the
// CPU on tiny tensors, measured in the same run. Prints the ratio (docs/performance.md).
//   build/bench/capture_bench [--benchmark_filter=...]
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <c10/core/InferenceMode.h>

#include "capture/device.h"
#include "capture/graph_builder.h"

namespace {

constexpr int kChain = 10000;

// x = x + y, kChain times.
template <bool kLazy>
void BM_AddChain(benchmark::State& state) {
  c10::InferenceMode inference;
  for (auto _ : state) {
    state.PauseTiming();
    auto scope = kLazy ? std::make_unique<genie::CaptureScope>() : nullptr;
    at::Tensor x = at::ones({1}), y = at::ones({1});
    if (kLazy) {
      x = scope->builder().add_input(x, "x");
      y = scope->builder().add_input(y, "y");
    }
    state.ResumeTiming();
    for (int i = 0; i < kChain; ++i) x = at::add(x, y);
    benchmark::DoNotOptimize(x);
    state.PauseTiming();
    x.reset();
    y.reset();
    scope.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kChain);
}
BENCHMARK(BM_AddChain<false>)->Name("AddChain/eager_cpu")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AddChain<true>)->Name("AddChain/capture")->Unit(benchmark::kMillisecond);

// A mix of common operators of a transformer/CNN block, on tiny tensors.
template <bool kLazy>
void BM_Mix(benchmark::State& state) {
  c10::InferenceMode inference;
  constexpr int kRounds = 500;
  for (auto _ : state) {
    state.PauseTiming();
    auto scope = kLazy ? std::make_unique<genie::CaptureScope>() : nullptr;
    at::Tensor x = at::ones({2, 4}), w = at::ones({4, 4}), b = at::ones({4}), g = at::ones({4});
    if (kLazy) {
      x = scope->builder().add_input(x, "x");
      w = scope->builder().add_parameter(w, "w");
      b = scope->builder().add_parameter(b, "b");
      g = scope->builder().add_parameter(g, "g");
    }
    state.ResumeTiming();
    for (int i = 0; i < kRounds; ++i) {
      at::Tensor h = at::linear(x, w, b);                    // 1 op (addmm) + t
      h = at::relu(h);                                       // 1
      h = at::layer_norm(h, {4}, g, b);                      // native_layer_norm
      h = at::softmax(h, -1);                                // _softmax
      h = h.transpose(0, 1).contiguous().transpose(0, 1);    // views
      x = at::mul(h, 0.5) + x;                               // mul, add
    }
    benchmark::DoNotOptimize(x);
    state.PauseTiming();
    x.reset(); w.reset(); b.reset(); g.reset();
    size_t nodes = scope ? scope->builder().graph().nodes.size() : 0;
    scope.reset();
    state.ResumeTiming();
    state.counters["nodes"] = static_cast<double>(nodes);
  }
  state.SetItemsProcessed(state.iterations() * kRounds);
}
BENCHMARK(BM_Mix<false>)->Name("Mix/eager_cpu")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mix<true>)->Name("Mix/capture")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
