#include "graph/tensor_type.h"

#include <charconv>

#include "support/error.h"

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

TensorType tensor_type_parse(std::string_view spec) {
  auto bad = [&](const std::string& why) {
    fail(ErrorKind::kUsage, "input spec \"" + std::string(spec) + "\": " + why +
                                " (expected sizes like 1x3x224x224, optionally :dtype such as :int64)");
  };
  TensorType type;
  std::string_view sizes = spec;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    sizes = spec.substr(0, colon);
    auto dtype = dtype_from_name(spec.substr(colon + 1));
    if (!dtype) bad("unknown dtype \"" + std::string(spec.substr(colon + 1)) + "\"");
    type.dtype = *dtype;
  }
  if (sizes == "scalar") return type;
  if (sizes.empty()) bad("no sizes");
  while (true) {
    auto x = sizes.find('x');
    std::string_view part = sizes.substr(0, x);
    int64_t dim = -1;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), dim);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || dim < 0)
      bad("\"" + std::string(part) + "\" is not a size");
    type.shape.push_back(dim);
    if (x == std::string_view::npos) break;
    sizes = sizes.substr(x + 1);
  }
  if (!type.nbytes()) bad("the tensor would be too large");
  return type;
}

std::string tensor_type_spec(const TensorType& type) {
  std::string out;
  for (size_t i = 0; i < type.shape.size(); ++i) out += (i ? "x" : "") + std::to_string(type.shape[i]);
  if (type.shape.empty()) out = "scalar";
  return out + ":" + std::string(dtype_name(type.dtype));
}

}  // namespace genie
