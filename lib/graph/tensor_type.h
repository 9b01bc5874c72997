// What a graph knows about a tensor without its data: element type, exact sizes and
// strides. Sizes are exact because TorchScript reads them during capture.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graph/dtype.h"

namespace genie {

struct TensorType {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  // Empty means contiguous (row-major) strides for `shape`.
  std::vector<int64_t> strides;

  // Number of elements, or nullopt if it does not fit in int64 (a corrupt file).
  std::optional<int64_t> numel() const;
  // Bytes of a contiguous tensor of this type, or nullopt on overflow.
  std::optional<int64_t> nbytes() const;
  std::vector<int64_t> effective_strides() const;
  bool is_contiguous() const;

  bool operator==(const TensorType& other) const {
    return dtype == other.dtype && shape == other.shape &&
           effective_strides() == other.effective_strides();
  }
  bool operator!=(const TensorType& other) const { return !(*this == other); }
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// Parses the command-line spelling of a tensor type: "1x3x224x224", "1x128:int64",
// "scalar:float32" (0 dimensions); dtype float32 unless given. Throws Error(kUsage) saying
// what was expected.
TensorType tensor_type_parse(std::string_view spec);
// The same spelling back: "1x3x224x224:float32".
std::string tensor_type_spec(const TensorType& type);

}  // namespace genie
