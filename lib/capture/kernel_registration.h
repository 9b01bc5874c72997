// One boxed kernel registered for many operators at one dispatch key: the device's capture
// kernel (capture_kernel.h) and the inference decompositions (inference_decompositions.h).
#pragma once

#include <cstddef>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace genie {

// Registers `kernel` for operator `name` at `key`, through one torch::Library per (key,
// namespace), kept for the life of the process.
void register_kernel(c10::DispatchKey key, const c10::OperatorName& name, torch::CppFunction kernel);

// Registers boxed function `Kernel` at `key` for every operator known now for which
// `wanted(op)` holds. Returns how many.
template <auto Kernel, typename Wanted>
size_t register_kernel_where(c10::DispatchKey key, Wanted&& wanted) {
  auto& dispatcher = c10::Dispatcher::singleton();
  size_t count = 0;
  for (const c10::OperatorName& name : dispatcher.getAllOpNames()) {
    auto op = dispatcher.findOp(name);
    if (!op || !wanted(*op)) continue;
    register_kernel(key, name, torch::CppFunction::makeFromBoxedFunction<Kernel>());
    ++count;
  }
  return count;
}

}  // namespace genie
