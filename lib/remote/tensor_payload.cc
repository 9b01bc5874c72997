#include "remote/tensor_payload.h"

#include <cstdint>
#include <cstring>
#include <memory>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include "exec/aten_types.h"
#include "remote/frame.h"

namespace genie::remote {

TensorPayload tensor_payload(const std::string& name, const at::Tensor& tensor) {
  at::Tensor c = tensor.cpu().contiguous();
  std::string_view bytes(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return {name, to_dtype(c.scalar_type()), c.sizes().vec(), Bytes(bytes, std::make_shared<const at::Tensor>(c))};
}

at::Tensor payload_tensor(TensorPayload&& payload) {
  const auto options = at::TensorOptions().dtype(to_scalar_type(payload.dtype));
  const Bytes& data = payload.data;
  if (data.keeper() && reinterpret_cast<uintptr_t>(data.data()) % kTensorAlignment == 0) {
    // The storage's deleter is the only one that lets the keeper go (were from_blob to throw
    // after making the storage, a second owner would release it twice).
    auto* keeper = new std::shared_ptr<const void>(data.keeper());
    return at::from_blob(const_cast<char*>(data.data()), payload.shape, [keeper](void*) { delete keeper; }, options);
  }
  at::Tensor t = at::empty(payload.shape, options);
  if (!data.empty()) std::memcpy(t.data_ptr(), data.data(), data.size());
  return t;
}

}  // namespace genie::remote
