// Whole-model capture costs (genie-capture issue), each against TorchScript measured in the
// same run:
//   1. capturing resnet18 (model already loaded, shape cache warm) against one eager forward;
//   2. genie-capture end to end (process start to files written) per graph node, on a long
//      chain model, against TorchScript running the same operator eagerly, per operator.
//   build/bench/model_capture_bench MODELS_DIR GENIE_CAPTURE TORCHSCRIPT_RUN [repetitions]
// MODELS_DIR is what testdata/models/make_models.py wrote, with chain.scripted.pt from
// bench/make_chain_model.py.
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "capture/model_capture.h"
#include "timing.h"

using genie::bench::median;

namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

template <typename F>
double seconds(F&& f) {
  return genie::bench::ms(f) / 1e3;
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

  // 1. resnet18: capture of a loaded model vs one eager forward of it. Capture leaves the
  // model as it was, so the same loaded model is captured again and again; the first capture
  // (building the interpreter's code for it, filling the shape cache) is reported apart.
  {
    const std::string path = dir + "/resnet18.traced.pt";
    torch::jit::Module eager = torch::jit::load(path);
    eager.eval();
    auto model = genie::model_open(path);
    size_t nodes = 0;
    const double first = seconds([&] { nodes = genie::model_capture(*model, {image}).graph.nodes.size(); });
    // The forward at LibTorch's default thread count and on one thread (capture runs on one
    // either way): on this shared 2-core machine the one-thread figure is the steady one,
    // since OpenMP's second thread waits on whatever else runs.
    const int default_threads = at::get_num_threads();
    for (int threads : {default_threads, 1}) {
      at::set_num_threads(threads);
      std::vector<double> forward, capture;
      for (int r = 0; r < reps + 1; ++r) {
        double f = seconds([&] {
          c10::InferenceMode guard;
          eager.forward({image});
        });
        double c = seconds([&] { genie::model_capture(*model, {image}); });
        if (r == 0) continue;  // the eager side's warm-up
        forward.push_back(f);
        capture.push_back(c);
      }
      // Captures back to back: each follows another capture instead of a forward.
      std::vector<double> warm;
      for (int r = 0; r < reps; ++r) warm.push_back(seconds([&] { genie::model_capture(*model, {image}); }));
      std::printf("resnet18 1x3x224x224 (%zu nodes), forward on %d thread%s: eager forward %.2f ms; capture of the "
                  "loaded model %.3f ms = %.2f%% of a forward (first capture after loading: %.1f ms; back to back: "
                  "%.3f ms = %.2f%%)\n",
                  nodes, threads, threads == 1 ? "" : "s", median(forward) * 1e3, median(capture) * 1e3,
                  100 * median(capture) / median(forward), first * 1e3, median(warm) * 1e3,
                  100 * median(warm) / median(forward));
    }
    at::set_num_threads(default_threads);

    // What a capture after a forward pays for (docs/performance.md): the same capture after
    // every cache line of 64 MB was read and written (caches and TLB flushed, no other code
    // run; not a memset: glibc 2.36 fills 64 MB with `rep stosb` here, which measurably leaves
    // most of the capture's lines cached), and the
    // minor page faults a capture takes after a forward.
    std::vector<char> junk(64 << 20);
    std::vector<double> after_flush;
    std::vector<long> faults;
    for (int r = 0; r < reps; ++r) {
      volatile char* lines = junk.data();
      for (size_t i = 0; i < junk.size(); i += 64) lines[i] = static_cast<char>(lines[i] + 1);
      after_flush.push_back(seconds([&] { genie::model_capture(*model, {image}); }));
      {
        c10::InferenceMode guard;
        eager.forward({image});
      }
      const long before = minor_faults();
      genie::model_capture(*model, {image});
      faults.push_back(minor_faults() - before);
    }
    std::sort(faults.begin(), faults.end());
    std::printf("resnet18 capture after 64 MB were read and written: %.3f ms; minor page faults in a capture after a "
                "forward: %ld (median)\n",
                median(after_flush) * 1e3, faults[faults.size() / 2]);
  }

  // 2. genie-capture end to end on the chain model (a scripted loop of N adds), per node, vs
  // the loaded TorchScript model running the same adds eagerly, per op.
  {
    const std::string chain = dir + "/chain.scripted.pt";
    torch::jit::Module eager = torch::jit::load(chain);
    eager.eval();
    const double ops = eager.attr("length").toInt();
    at::Tensor x = at::ones({1});
    for (int r = 0; r < 3; ++r) {  // the profiling executor optimises after its first runs
      c10::InferenceMode guard;
      eager.forward({x});
    }
    std::vector<double> tool_runs, baseline_runs, forward;
    const std::string out = "/tmp/genie-bench-chain.json";
    for (int r = 0; r < reps; ++r) {
      std::string cmd = tool + " " + chain + " --input 1 -o " + out + " 2>/dev/null";
      // The run before left a graph of a few hundred MB there: replacing it, and writing it
      // back to disk while this run goes on, would add the system's work for that run to this
      // one's time.
      std::remove(out.c_str());
      ::sync();
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
    std::printf("chain of %.0f aten::add (scripted loop):\n"
                "  genie-capture, process start to files written %8.1f ms = %6.2f us/node\n"
                "  TorchScript forward, model loaded             %8.1f ms = %6.2f us/op   -> ratio %.2fx\n"
                "  TorchScript process start, load, one run      %8.1f ms = %6.2f us/op   -> ratio %.2fx\n",
                ops, median(tool_runs) * 1e3, median(tool_runs) / ops * 1e6, median(forward) * 1e3,
                median(forward) / ops * 1e6, median(tool_runs) / median(forward), median(baseline_runs) * 1e3,
                median(baseline_runs) / ops * 1e6, median(tool_runs) / median(baseline_runs));
  }
  return 0;
}
