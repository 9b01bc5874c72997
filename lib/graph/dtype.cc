#include "graph/dtype.h"

#include <array>

namespace genie {
namespace {

struct DTypeInfo {
  std::string_view name;
  int64_t size;
};

// Indexed by DType.
constexpr std::array<DTypeInfo, kDTypeCount> kInfo = {{
    {"bool", 1},
    {"uint8", 1},
    {"int8", 1},
    {"int16", 2},
    {"int32", 4},
    {"int64", 8},
    {"uint16", 2},
    {"uint32", 4},
    {"uint64", 8},
    {"float16", 2},
    {"bfloat16", 2},
    {"float32", 4},
    {"float64", 8},
    {"complex64", 8},
    {"complex128", 16},
    {"float8_e4m3fn", 1},
    {"float8_e5m2", 1},
}};

}  // namespace

std::string_view dtype_name(DType dtype) { return kInfo[static_cast<size_t>(dtype)].name; }

int64_t dtype_size(DType dtype) { return kInfo[static_cast<size_t>(dtype)].size; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace genie
