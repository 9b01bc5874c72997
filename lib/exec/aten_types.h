// Conversions between the graph IR's LibTorch-free types and ATen's.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Layout.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include "graph/argument.h"
#include "graph/tensor_type.h"

namespace genie {

c10::ScalarType to_scalar_type(DType dtype);
// Throws Error(kUnsupported) for an ATen type the graph format has no name for (qint8...).
DType to_dtype(c10::ScalarType type);
c10::Layout to_layout(Layout layout);
Layout to_layout(c10::Layout layout);
c10::MemoryFormat to_memory_format(MemoryFormat format);
MemoryFormat to_memory_format(c10::MemoryFormat format);

// dtype, sizes and strides of `t` (strides left empty when contiguous).
TensorType tensor_type_of(const at::Tensor& t);

}  // namespace genie
