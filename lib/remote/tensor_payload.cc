#include "remote/tensor_payload.h"

#include <ATen/ATen.h>

#include "exec/aten_types.h"

namespace genie::remote {

TensorPayload tensor_payload(const std::string& name, const at::Tensor& tensor) {
  at::Tensor c = tensor.cpu().contiguous();
  return {name, to_dtype(c.scalar_type()), c.sizes().vec(),
          std::string(static_cast<const char*>(c.data_ptr()), c.nbytes())};
}

at::Tensor payload_tensor(TensorPayload&& payload) {
  // Owned by the tensor's storage from here: its deleter is the only one that frees it (were
  // from_blob to throw after making the storage, a second owner would free it twice).
  auto* bytes = new std::string(std::move(payload.data));
  return at::from_blob(bytes->data(), payload.shape, [bytes](void*) { delete bytes; },
                       at::TensorOptions().dtype(to_scalar_type(payload.dtype)));
}

}  // namespace genie::remote
