// Whole-model capture costs (genie-capture issue), each against TorchScript measured in the
// same run:
//   1. capturing resnet18 (model already loaded, shape cache warm) against one eager forward;
//   2. genie-capture end to end (process start to files written) per graph node, on a long
//      chain model, against TorchScript running the same operator eagerly, per operator.
//   build/bench/model_capture_bench MODELS_DIR GENIE_CAPTURE TORCHSCRIPT_RUN [repetitions]
// MODELS_DIR is what testdata/models/make_models.py wrote, with chain.traced.pt from
// bench/make_chain_model.py.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "capture/model_capture.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double seconds(F&& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: model_capture_bench MODELS_DIR GENIE_CAPTURE TORCHSCRIPT_RUN [repetitions]\n");
    return 2;
  }
  const std::string dir = argv[1], tool = argv[2], baseline = argv[3];
  const int reps = argc > 4 ? std::atoi(argv[4]) : 9;
  at::Tensor image = at::randn({1, 3, 224, 224});

  // 1. resnet18: capture (loaded model) vs one eager forward.
  {
    torch::jit::Module eager = torch::jit::load(dir + "/resnet18.traced.pt");
    eager.eval();
    std::vector<double> forward, capture;
    size_t nodes = 0;
    for (int r = 0; r < reps + 1; ++r) {
      double f = seconds([&] {
        c10::InferenceMode guard;
        eager.forward({image});
      });
      auto model = genie::model_open(dir + "/resnet18.traced.pt");  // loading is not capture
      double c = seconds([&] { nodes = genie::model_capture(*model, {image}).graph.nodes.size(); });
      if (r == 0) continue;  // warm-up: fills the shape cache, as a second capture would find it
      forward.push_back(f);
      capture.push_back(c);
    }
    std::printf("resnet18 1x3x224x224: eager forward %.2f ms, capture %.3f ms (%zu nodes) = %.2f%% of a forward\n",
                median(forward) * 1e3, median(capture) * 1e3, nodes, 100 * median(capture) / median(forward));
  }

  // 2. genie-capture end to end on the chain model, per node, vs eager TorchScript per op.
  {
    const std::string chain = dir + "/chain.traced.pt";
    torch::jit::Module eager = torch::jit::load(chain);
    eager.eval();
    at::Tensor x = at::ones({1});
    std::vector<double> tool_runs, baseline_runs, forward;
    for (int r = 0; r < reps; ++r) {
      std::string cmd = tool + " " + chain + " --input 1 -o /tmp/genie-bench-chain.json 2>/dev/null";
      tool_runs.push_back(seconds([&] {
        if (std::system(cmd.c_str()) != 0) std::abort();
      }));
      std::string base = baseline + " " + chain + " 1";
      baseline_runs.push_back(seconds([&] {
        if (std::system(base.c_str()) != 0) std::abort();
      }));
      forward.push_back(seconds([&] {
        c10::InferenceMode guard;
        eager.forward({x});
      }));
    }
    const double ops = 10000;
    std::printf("chain of %.0f aten::add, process start to exit:\n"
                "  genie-capture (load, capture, write graph)   %8.1f ms = %7.2f us/node\n"
                "  TorchScript (load, run once eagerly)         %8.1f ms = %7.2f us/op   -> ratio %.2fx\n"
                "  TorchScript forward alone, model loaded      %8.1f ms = %7.2f us/op   -> ratio %.2fx\n",
                ops, median(tool_runs) * 1e3, median(tool_runs) / ops * 1e6, median(baseline_runs) * 1e3,
                median(baseline_runs) / ops * 1e6, median(tool_runs) / median(baseline_runs), median(forward) * 1e3,
                median(forward) / ops * 1e6, median(tool_runs) / median(forward));
  }
  return 0;
}
