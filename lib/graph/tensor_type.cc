#include "graph/tensor_type.h"

namespace genie {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    // Sizes of 0 and 1 do not change the stride, as in PyTorch (empty tensors stay valid).
    if (shape[i] > 1) stride *= shape[i];
  }
  return strides;
}

std::optional<int64_t> TensorType::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

std::optional<int64_t> TensorType::nbytes() const {
  auto n = numel();
  int64_t bytes = 0;
  if (!n || __builtin_mul_overflow(*n, dtype_size(dtype), &bytes)) return std::nullopt;
  return bytes;
}

std::vector<int64_t> TensorType::effective_strides() const {
  return strides.empty() ? contiguous_strides(shape) : strides;
}

bool TensorType::is_contiguous() const {
  if (strides.empty()) return true;
  if (strides.size() != shape.size()) return false;
  auto expected = contiguous_strides(shape);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && strides[i] != expected[i]) return false;  // size-1 dims: any stride
  return true;
}

}  // namespace genie
