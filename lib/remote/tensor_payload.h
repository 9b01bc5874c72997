// Tensors to and from the wire's descriptor-plus-bytes form (remote/messages.h), for the
// LibTorch side of each end: genie-serve, genie-run --remote, the device backed by a server.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "remote/messages.h"

namespace genie::remote {

// A contiguous CPU copy of `tensor`'s bytes (from any device), named.
TensorPayload tensor_payload(const std::string& name, const at::Tensor& tensor);
// A CPU tensor that takes the payload's bytes over, without a copy (payload.data is left empty).
at::Tensor payload_tensor(TensorPayload&& payload);

}  // namespace genie::remote
