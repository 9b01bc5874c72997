#include "exec/output_check.h"

#include <algorithm>
#include <map>

#include <ATen/core/Tensor.h>

#include "exec/aten_types.h"
#include "graph/tensor_type.h"

namespace genie {

Tolerance default_tolerance(const std::vector<std::pair<std::string, at::Tensor>>& want, bool tf32) {
  Tolerance t;
  for (const auto& [name, w] : want) {
    const bool half_precision = w.scalar_type() == at::kHalf || (tf32 && w.scalar_type() == at::kFloat);
    if (half_precision) t = {std::max(t.rtol, 1e-3), std::max(t.atol, 1e-3)};
    if (w.scalar_type() == at::kBFloat16) t = {std::max(t.rtol, 1.6e-2), std::max(t.atol, 1.6e-2)};
  }
  return t;
}

std::vector<OutputDifference> outputs_compare(const std::vector<std::pair<std::string, at::Tensor>>& got,
                                              const std::vector<std::pair<std::string, at::Tensor>>& want, double rtol,
                                              double atol) {
  std::map<std::string, at::Tensor> by_name(want.begin(), want.end());
  std::vector<OutputDifference> diffs;
  for (const auto& [name, g] : got) {
    OutputDifference d;
    d.name = name;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      d.ok = false;
      d.problem = "the model has no output of this name";
    } else if (it->second.sizes() != g.sizes()) {
      d.ok = false;
      d.problem = "shape differs: graph " + tensor_type_spec(tensor_type_of(g)) + ", model " +
                  tensor_type_spec(tensor_type_of(it->second));
    } else {
      // Tensor methods only: this file needs no more of ATen than the Tensor class.
      at::Tensor a = g.to(at::kDouble).cpu(), b = it->second.to(at::kDouble).cpu();
      at::Tensor abs = a.sub(b).abs();
      if (abs.numel() > 0) {
        at::Tensor magnitude = b.abs();
        d.scale = std::max(1.0, magnitude.max().item<double>());
        d.max_abs = abs.max().item<double>();
        d.max_rel = abs.div(magnitude.clamp_min(1e-12)).max().item<double>();
        d.ok = abs.le(magnitude.mul(rtol).add(atol * d.scale)).all().item<bool>() && !a.isnan().any().item<bool>();
      }
    }
    diffs.push_back(d);
  }
  return diffs;
}

}  // namespace genie
