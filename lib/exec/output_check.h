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
struct Tolerance {
  double rtol = 1e-4, atol = 1e-5;
};
// What --check uses unless told: float32's (1e-4, 1e-5), or for outputs of lower precision
// those of the lowest one, about two of its units in the last place (float16 1e-3,
// bfloat16 1.6e-2, as torch.testing's rtol): a kernel that sums in another order rounds
// differently, by an ulp of the format. `tf32`: the float32 outputs were computed with TF32
// matrix units (10 mantissa bits, as float16's), so they get float16's (1e-3, 1e-3); a
// resnet18 with TF32 convolutions differs from float32 by 4-5e-4 of its logits' scale
// (bench/tf32_error.py, emulated on the CPU).
Tolerance default_tolerance(const std::vector<std::pair<std::string, at::Tensor>>& want, bool tf32 = false);

std::vector<OutputDifference> outputs_compare(const std::vector<std::pair<std::string, at::Tensor>>& got,
                                              const std::vector<std::pair<std::string, at::Tensor>>& want, double rtol,
                                              double atol);

}  // namespace genie
