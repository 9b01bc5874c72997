// A captured graph made ready to run many times on one device: weights loaded once
// (memory-mapped on the CPU, copied to the device once otherwise), the graph's optimisations
// applied, a Plan compiled, and on CUDA the plan replayed as a CUDA graph. genie-run and
// genie-serve run graphs through it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "graph/graph.h"
#include "io/safetensors.h"

namespace genie {


struct RunOptions {
  c10::Device device = c10::Device(c10::kCPU);
  bool fold_batch_norm = true;  // fold inference batch-norms into their convolutions
  bool drop_dead_nodes = true;  // run only what the outputs depend on
  bool channels_last = true;    // CPU: convolution weights and image inputs in NHWC layout
  bool in_place = true;         // elementwise operators reuse their dying input's memory
  bool views = true;            // functionalization's copying views run as views
  bool cuda_graph = true;       // on CUDA, replay the plan as a CUDA graph where that is safe
  bool zero_uninitialized = false;  // aten::empty and its kin give zeros (ExecOptions; genie-serve)
};

// What was done to the graph before it ran, for reports.
struct ExecutableInfo {
  size_t graph_nodes = 0;      // as loaded
  size_t steps = 0;            // operators each run calls
  size_t in_place_steps = 0;   // operators that write into their dying input
  size_t view_steps = 0;       // copies run as views
  size_t folded_batch_norms = 0;
  size_t channels_last_convolutions = 0;
  bool cuda_graph = false;     // replayed as a CUDA graph
  std::string cuda_graph_off_reason;  // when asked for but not used
  int64_t weight_bytes = 0;
  int64_t peak_activation_bytes = 0;  // planned upper bound
};

class Executable {
 public:
  // Keeps `weights` open: on the CPU the weights are its memory-mapped pages. Throws
  // Error(kUsage) for a device this LibTorch cannot use (CUDA without a GPU),
  // Error(kBadInput) for weights that do not fit the graph, Error(kUnsupported) for an
  // operator this LibTorch does not have.
  static Executable load(Graph graph, SafetensorsFile weights, const RunOptions& options);

  const Graph& graph() const;  // after the optimisations
  const ExecutableInfo& info() const;
  // In-place steps that ran out of place over the runs so far (Plan::in_place_declined).
  uint64_t in_place_declined() const;

  // Runs on `inputs` (one per graph input, in order, any device): checks each input's dtype
  // and shape against the graph (Error(kBadInput) naming it), returns the outputs by name, on
  // the executable's device. With CUDA graph replay the outputs are overwritten by the next
  // run: clone what you keep. Returns once the device has finished.
  std::vector<std::pair<std::string, at::Tensor>> run(const std::vector<at::Tensor>& inputs);

  Executable(Executable&&) noexcept;
  Executable& operator=(Executable&&) noexcept;
  ~Executable();

 private:
  struct Impl;
  explicit Executable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "cuda:0" -> the device; Error(kUsage) that says plainly what is wrong for a malformed name,
// a device kind Genie cannot run on, or CUDA on a machine without it.
c10::Device parse_run_device(const std::string& name);

// Whether float32 arithmetic of `graph` on `device` may run on TF32 matrix units (10 mantissa
// bits), by this LibTorch's settings: on CUDA, convolutions where cuDNN may use it (LibTorch's
// default) and matrix products where cuBLAS may (not its default). genie-run --check then
// compares float32 outputs at TF32's precision (default_tolerance).
bool float32_may_run_as_tf32(const Graph& graph, const c10::Device& device);

// Waits until `device` has finished its queued work (a no-op on the CPU).
void device_synchronize(const c10::Device& device);

}  // namespace genie
