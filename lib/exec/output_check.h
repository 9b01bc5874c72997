// Whether a graph's outputs equal a reference's (genie-run --check): per output, the largest
// absolute and relative difference and a verdict.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace genie {

struct OutputDifference {
  std::string name;
  double max_abs = 0, max_rel = 0;
  double scale = 1;  // max(1, largest |want|): what atol is multiplied by
  bool ok = true;
  std::string problem;  // shape differs, or the reference has no output of this name
};

// Outputs by name. An element is equal when |got − want| ≤ atol·scale + rtol·|want|, scale
// being max(1, the largest |want| of that output): allclose's rule with atol relative to the
// output's magnitude, since float error grows with the values a result was summed from, not
// with the element at hand (resnet50's logits reach 93; one near 0 was off by 7e-5, 8e-7 of
// the scale). A NaN is a difference.
std::vector<OutputDifference> outputs_compare(const std::vector<std::pair<std::string, at::Tensor>>& got,
                                              const std::vector<std::pair<std::string, at::Tensor>>& want, double rtol,
                                              double atol);

}  // namespace genie
