// Typed operator arguments, as an ATen schema takes them: tensors (by value id), tensor
// lists, and the constants an operator call carries (ints, floats, dtypes, devices...).
// The operator's schema gives the exact type at execution time; the kind here only has to
// keep the value faithfully (an int stays an int, so type promotion replays the same).
#pragma once

#include <complex>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "graph/dtype.h"

namespace genie {

using ValueId = uint32_t;
// An absent entry in a tensor list (`Tensor?[]`, e.g. the indices of aten::index).
inline constexpr ValueId kNoValue = UINT32_MAX;

enum class Layout : uint8_t { kStrided, kSparseCoo, kSparseCsr, kSparseCsc, kSparseBsr, kSparseBsc, kMkldnn, kJagged };
enum class MemoryFormat : uint8_t { kContiguous, kPreserve, kChannelsLast, kChannelsLast3d };

std::string_view layout_name(Layout layout);
bool layout_from_name(std::string_view name, Layout* out);
std::string_view memory_format_name(MemoryFormat format);
bool memory_format_from_name(std::string_view name, MemoryFormat* out);

struct TensorRef {
  ValueId value;
  bool operator==(const TensorRef& o) const { return value == o.value; }
};
struct TensorListRef {
  std::vector<ValueId> values;  // kNoValue for an absent entry
  bool operator==(const TensorListRef& o) const { return values == o.values; }
};
struct Device {
  std::string name;  // "cpu", "cuda:0", "remote_accelerator:0"
  bool operator==(const Device& o) const { return name == o.name; }
};

// Order matters: ArgKind mirrors the variant's alternatives.
using ArgValue = std::variant<std::monostate, TensorRef, TensorListRef, int64_t, std::vector<int64_t>,
                              double, std::vector<double>, bool, std::vector<bool>, std::string,
                              DType, Layout, Device, MemoryFormat, std::complex<double>>;

enum class ArgKind : uint8_t {
  kNone,
  kTensor,
  kTensors,
  kInt,
  kInts,
  kFloat,
  kFloats,
  kBool,
  kBools,
  kString,
  kDType,
  kLayout,
  kDevice,
  kMemoryFormat,
  kComplex,
};

// The key that holds the value in a graph file's argument object: "tensor", "ints", ...
std::string_view arg_kind_name(ArgKind kind);

struct Argument {
  std::string name;  // the schema's argument name ("self", "stride"); may be empty
  ArgValue value;

  ArgKind kind() const { return static_cast<ArgKind>(value.index()); }
  bool operator==(const Argument& o) const { return name == o.name && value == o.value; }
};

}  // namespace genie
