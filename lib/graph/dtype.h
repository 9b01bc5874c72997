// Element types of tensors in a Genie graph, named as PyTorch names them ("float32").
// Kept free of LibTorch; lib/capture and lib/exec convert to and from c10::ScalarType.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace genie {

enum class DType : uint8_t {
  kBool,
  kUInt8,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt16,
  kUInt32,
  kUInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
  kComplex64,
  kComplex128,
  kFloat8E4M3,  // torch.float8_e4m3fn
  kFloat8E5M2,  // torch.float8_e5m2
};

inline constexpr int kDTypeCount = 17;

// "float32", "int64", ... — the spelling used in graph files.
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
// Bytes per element.
int64_t dtype_size(DType dtype);

}  // namespace genie
