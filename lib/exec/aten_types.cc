#include "exec/aten_types.h"

#include "support/error.h"

namespace genie {
namespace {

struct Pair {
  DType dtype;
  c10::ScalarType scalar;
};

constexpr Pair kPairs[] = {
    {DType::kBool, c10::ScalarType::Bool},          {DType::kUInt8, c10::ScalarType::Byte},
    {DType::kInt8, c10::ScalarType::Char},          {DType::kInt16, c10::ScalarType::Short},
    {DType::kInt32, c10::ScalarType::Int},          {DType::kInt64, c10::ScalarType::Long},
    {DType::kUInt16, c10::ScalarType::UInt16},      {DType::kUInt32, c10::ScalarType::UInt32},
    {DType::kUInt64, c10::ScalarType::UInt64},      {DType::kFloat16, c10::ScalarType::Half},
    {DType::kBFloat16, c10::ScalarType::BFloat16},  {DType::kFloat32, c10::ScalarType::Float},
    {DType::kFloat64, c10::ScalarType::Double},     {DType::kComplex64, c10::ScalarType::ComplexFloat},
    {DType::kComplex128, c10::ScalarType::ComplexDouble}, {DType::kFloat8E4M3, c10::ScalarType::Float8_e4m3fn},
    {DType::kFloat8E5M2, c10::ScalarType::Float8_e5m2},
};

}  // namespace

c10::ScalarType to_scalar_type(DType dtype) {
  for (const Pair& p : kPairs)
    if (p.dtype == dtype) return p.scalar;
  fail(ErrorKind::kInternal, "unmapped dtype");
}

DType to_dtype(c10::ScalarType type) {
  for (const Pair& p : kPairs)
    if (p.scalar == type) return p.dtype;
  fail(ErrorKind::kUnsupported, std::string("dtype ") + c10::toString(type) + " cannot be recorded in a Genie graph");
}

c10::Layout to_layout(Layout layout) {
  switch (layout) {
    case Layout::kStrided: return c10::kStrided;
    case Layout::kSparseCoo: return c10::kSparse;
    case Layout::kSparseCsr: return c10::kSparseCsr;
    case Layout::kSparseCsc: return c10::kSparseCsc;
    case Layout::kSparseBsr: return c10::kSparseBsr;
    case Layout::kSparseBsc: return c10::kSparseBsc;
    case Layout::kMkldnn: return c10::kMkldnn;
    case Layout::kJagged: return c10::kJagged;
  }
  fail(ErrorKind::kInternal, "unmapped layout");
}

Layout to_layout(c10::Layout layout) {
  switch (layout) {
    case c10::kStrided: return Layout::kStrided;
    case c10::kSparse: return Layout::kSparseCoo;
    case c10::kSparseCsr: return Layout::kSparseCsr;
    case c10::kSparseCsc: return Layout::kSparseCsc;
    case c10::kSparseBsr: return Layout::kSparseBsr;
    case c10::kSparseBsc: return Layout::kSparseBsc;
    case c10::kMkldnn: return Layout::kMkldnn;
    case c10::kJagged: return Layout::kJagged;
    default: fail(ErrorKind::kUnsupported, "a layout the graph format cannot name");
  }
}

c10::MemoryFormat to_memory_format(MemoryFormat format) {
  switch (format) {
    case MemoryFormat::kContiguous: return c10::MemoryFormat::Contiguous;
    case MemoryFormat::kPreserve: return c10::MemoryFormat::Preserve;
    case MemoryFormat::kChannelsLast: return c10::MemoryFormat::ChannelsLast;
    case MemoryFormat::kChannelsLast3d: return c10::MemoryFormat::ChannelsLast3d;
  }
  fail(ErrorKind::kInternal, "unmapped memory format");
}

MemoryFormat to_memory_format(c10::MemoryFormat format) {
  switch (format) {
    case c10::MemoryFormat::Contiguous: return MemoryFormat::kContiguous;
    case c10::MemoryFormat::Preserve: return MemoryFormat::kPreserve;
    case c10::MemoryFormat::ChannelsLast: return MemoryFormat::kChannelsLast;
    case c10::MemoryFormat::ChannelsLast3d: return MemoryFormat::kChannelsLast3d;
    default: fail(ErrorKind::kUnsupported, "a memory format the graph format cannot name");
  }
}

TensorType tensor_type_of(const at::Tensor& t) {
  TensorType type;
  type.dtype = to_dtype(t.scalar_type());
  type.shape.assign(t.sizes().begin(), t.sizes().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  if (strides != contiguous_strides(type.shape)) type.strides = std::move(strides);
  return type;
}

}  // namespace genie
