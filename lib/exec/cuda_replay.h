// Replaying a plan as a CUDA graph: one launch for the whole model instead of one per
// operator. Inputs are copied into buffers the graph was captured with; outputs live in
// buffers the graph owns. Builds without CUDA too (then available() is false).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace genie {

class CudaReplay {
 public:
  // Whether this build of Genie and LibTorch can capture CUDA graphs.
  static bool available();

  // Warms `body` up once on a side stream, then captures it reading `static_inputs`.
  CudaReplay(std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)> body,
             std::vector<at::Tensor> static_inputs);
  ~CudaReplay();

  // Copies `inputs` into the static inputs, replays, waits, and returns the static outputs.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Waits for the work queued on this thread's current stream of `device` (a no-op on the
// CPU). Threads share the default stream unless they set their own, so this orders them as
// a device-wide synchronisation would, without waiting for streams others set.
void stream_synchronize(const c10::Device& device);

}  // namespace genie
