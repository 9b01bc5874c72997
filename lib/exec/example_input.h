// Example inputs for a graph or model when the user gives none: floating types from a seeded
// normal distribution, other types zeros (token 0, mask 0: valid for any vocabulary).
// genie-capture and genie-run share it, so the same seed gives the same inputs in both.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "graph/tensor_type.h"

namespace genie {

at::Tensor example_input(const TensorType& type, at::Generator& generator);

}  // namespace genie
