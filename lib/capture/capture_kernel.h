// The one boxed kernel behind every operator on the remote_accelerator device: it records
// the call as a graph node (output types from Meta execution, cached), or, when the result
// must be real (.item(), .cpu(), a data-dependent shape), computes it by materialising.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

namespace genie {

void capture_kernel(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack);

// Registers capture_kernel for every operator that would otherwise not reach a backend
// fallback (those with CompositeExplicitAutograd kernels, LIBTORCH-NOTES.md). Returns how
// many operators it registered.
size_t register_capture_kernels();

// Shape-cache statistics of this thread, for tests and benchmarks.
struct ShapeCacheStats {
  size_t hits = 0;
  size_t misses = 0;
  size_t entries = 0;
};
ShapeCacheStats shape_cache_stats();

}  // namespace genie
