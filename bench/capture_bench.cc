// Capture cost per intercepted operator against running the same operator eagerly on the
// CPU on tiny tensors, measured in the same run, interleaved, medians of repeated runs; and
// the memory a captured node costs. Prints a table with ratios (docs/performance.md).
//   build/bench/capture_bench [repetitions]
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/softmax.h>
#include <c10/core/InferenceMode.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "capture/graph_builder.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  const char* name;
  std::function<void(genie::GraphBuilder*)> run;  // null builder: eager on the CPU
};

at::Tensor input(genie::GraphBuilder* b, at::Tensor t, const char* name) { return b ? b->add_input(t, name) : t; }
at::Tensor param(genie::GraphBuilder* b, at::Tensor t, const char* name) { return b ? b->add_parameter(t, name) : t; }

std::vector<Workload> workloads() {
  return {
      {"add chain (10,000 x aten::add)",
       [](genie::GraphBuilder* b) {
         at::Tensor x = input(b, at::ones({1}), "x"), y = input(b, at::ones({1}), "y");
         for (int i = 0; i < 10000; ++i) x = at::add(x, y);
       }},
      {"op mix (linear, relu, layer_norm, softmax, transpose, mul, add) x 500",
       [](genie::GraphBuilder* b) {
         at::Tensor x = input(b, at::ones({2, 4}), "x"), w = param(b, at::ones({4, 4}), "w");
         at::Tensor bias = param(b, at::ones({4}), "b"), g = param(b, at::ones({4}), "g");
         for (int i = 0; i < 500; ++i) {
           at::Tensor h = at::relu(at::linear(x, w, bias));
           h = at::softmax(at::layer_norm(h, {4}, g, bias), -1);
           h = h.transpose(0, 1).contiguous().transpose(0, 1);
           x = at::mul(h, 0.5) + x;
         }
       }},
  };
}

double seconds_of(const std::function<void()>& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Heap bytes one captured node holds (node, value, LazyTensor and its functional wrapper),
// from the allocator's own count while 10,000 results are alive.
void node_memory() {
  constexpr int kNodes = 10000;
  const std::vector<int64_t> shape = {1, 64, 56, 56};  // a resnet18 layer1 activation
  genie::CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::empty(shape), "x");
  std::vector<at::Tensor> alive;
  alive.reserve(kNodes);
  at::Tensor y = at::relu(x);  // warm the shape cache
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < kNodes; ++i) alive.push_back(at::relu(x));
  size_t after = mallinfo2().uordblks;
  double per_node = double(after - before) / kNodes;
  double tensor_bytes = 64.0 * 56 * 56 * 4;
  std::printf("\nmemory per captured node (graph node + value + LazyTensor, result alive): %.0f bytes\n", per_node);
  std::printf("  as a share of the float32[1, 64, 56, 56] tensor it describes (%.0f bytes): %.4f%%\n", tensor_bytes,
              100.0 * per_node / tensor_bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 15;
  c10::InferenceMode inference;
  std::printf("%-72s %12s %12s %8s %10s\n", "workload", "eager us/op", "capture us/op", "ratio", "nodes");
  for (const Workload& w : workloads()) {
    std::vector<double> eager, capture;
    size_t nodes = 0;
    for (int r = 0; r < repetitions + 1; ++r) {  // interleaved; the first round warms caches
      double e = seconds_of([&] { w.run(nullptr); });
      std::unique_ptr<genie::CaptureScope> scope;
      double c = seconds_of([&] {
        scope = std::make_unique<genie::CaptureScope>();
        w.run(&scope->builder());
      });
      nodes = scope->builder().graph().nodes.size();
      scope.reset();  // freeing the graph is not part of capturing it
      if (r == 0) continue;
      eager.push_back(e);
      capture.push_back(c);
    }
    // Per operator: the captured graph's node count is the number of operators dispatched.
    double per = double(nodes);
    double e_us = median(eager) / per * 1e6, c_us = median(capture) / per * 1e6;
    std::printf("%-72s %12.3f %12.3f %7.2fx %10zu\n", w.name, e_us, c_us, c_us / e_us, nodes);
  }
  node_memory();
  return 0;
}
