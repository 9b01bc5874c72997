#include "exec/example_input.h"

#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>

#include "exec/aten_types.h"

namespace genie {

at::Tensor example_input(const TensorType& type, at::Generator& generator) {
  auto options = at::TensorOptions().dtype(to_scalar_type(type.dtype));
  if (c10::isFloatingType(options.dtype().toScalarType())) return at::randn(type.shape, generator, options);
  return at::zeros(type.shape, options);
}

}  // namespace genie
