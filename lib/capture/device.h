// The remote_accelerator PyTorch device: PyTorch's PrivateUse1 backend under Genie's name.
// Tensors on it are LazyTensors (lazy_tensor.h): operations on them are recorded into a graph
// (graph_builder.h) instead of computed. Loading libgenie_capture registers everything.
#pragma once

#include <c10/core/Device.h>

namespace genie {

inline constexpr const char* kDeviceName = "remote_accelerator";

// The device, for torch::TensorOptions and .to(): torch::randn({2, 2}, genie::remote_accelerator()).
c10::Device remote_accelerator(c10::DeviceIndex index = 0);

// Registers the device name, its guard and the capture kernels. Idempotent; runs when the
// shared library is loaded, so calling it is only needed to make the dependency explicit.
void register_device();

}  // namespace genie
