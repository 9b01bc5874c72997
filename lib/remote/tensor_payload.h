// Tensors to and from the wire's descriptor-plus-bytes form (remote/messages.h), for the
// LibTorch side of each end: genie-serve, genie-run --remote, the device backed by a server.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "remote/messages.h"

namespace genie::remote {

// `tensor`'s bytes, named: its own memory when it is a contiguous CPU tensor (the payload
// keeps it alive and must be sent before anyone writes to it), else a contiguous CPU copy.
TensorPayload tensor_payload(const std::string& name, const at::Tensor& tensor);
// A CPU tensor of the payload's bytes: where they lie when they are aligned as the CPU
// allocator aligns and kept alive by their keeper (a frame received aligned, protocol 1.2),
// else a copy.
at::Tensor payload_tensor(TensorPayload&& payload);

}  // namespace genie::remote
