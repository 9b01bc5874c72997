#include "exec/cuda_replay.h"

#include "support/error.h"

#ifdef GENIE_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace genie {

#ifdef GENIE_WITH_CUDA

struct CudaReplay::Impl {
  at::cuda::CUDAGraph graph;
  std::vector<at::Tensor> inputs, outputs;
};

bool CudaReplay::available() { return true; }

CudaReplay::CudaReplay(std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)> body,
                       std::vector<at::Tensor> static_inputs)
    : impl_(std::make_unique<Impl>()) {
  impl_->inputs = std::move(static_inputs);
  const c10::Device device = impl_->inputs.empty() ? c10::Device(c10::kCUDA, 0) : impl_->inputs[0].device();
  c10::cuda::CUDAGuard guard(device);
  // Capture must not run on the legacy default stream; a warm-up run first lets lazy
  // initialisation (cuBLAS handles, kernel loading) happen outside the capture. Thread-local
  // capture: in genie-serve other threads go on running and synchronising graphs meanwhile,
  // which a global capture forbids process-wide (and would fail on).
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  // The side stream does not wait for this one: the weights' uploads and foldings and the
  // zeroed inputs queued on it must be finished before the warm-up reads them.
  c10::cuda::getCurrentCUDAStream(device.index()).synchronize();
  {
    c10::cuda::CUDAStreamGuard on_side(side);
    body(impl_->inputs);
    side.synchronize();
    impl_->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    try {
      impl_->outputs = body(impl_->inputs);
    } catch (...) {
      // The pool's stream must not be left capturing: later work queued on it would fail.
      try {
        impl_->graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    impl_->graph.capture_end();
  }
  side.synchronize();
}

std::vector<at::Tensor> CudaReplay::run(const std::vector<at::Tensor>& inputs) {
  if (inputs.size() != impl_->inputs.size()) fail(ErrorKind::kInternal, "CUDA graph replay: wrong input count");
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].is_same(impl_->inputs[i])) impl_->inputs[i].copy_(inputs[i], /*non_blocking=*/true);
  impl_->graph.replay();
  c10::cuda::getCurrentCUDAStream(impl_->inputs.empty() ? 0 : impl_->inputs[0].device().index()).synchronize();
  return impl_->outputs;
}

void stream_synchronize(const c10::Device& device) {
  if (device.is_cuda()) c10::cuda::getCurrentCUDAStream(device.index()).synchronize();
}

#else

struct CudaReplay::Impl {};

bool CudaReplay::available() { return false; }

CudaReplay::CudaReplay(std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>, std::vector<at::Tensor>) {
  fail(ErrorKind::kUnsupported, "this build of Genie has no CUDA support (LibTorch is a CPU build)");
}

std::vector<at::Tensor> CudaReplay::run(const std::vector<at::Tensor>&) { return {}; }

void stream_synchronize(const c10::Device&) {}

#endif

CudaReplay::~CudaReplay() = default;

}  // namespace genie
