// Folds an inference batch-norm into the convolution that feeds it: the convolution's weight
// and bias are rescaled once, and the batch-norm node is left without readers (dropping dead
// nodes then removes it). Exact up to floating-point rounding: the folded weights are
// computed in float64 and rounded once.
#pragma once

#include <unordered_map>

#include <ATen/core/Tensor.h>

#include "graph/graph.h"

namespace genie {

// The data of a graph's stored values (parameters, buffers, constants), by value id.
using StoredTensors = std::unordered_map<ValueId, at::Tensor>;

// Folds every batch-norm (aten::native_batch_norm, aten::batch_norm,
// aten::_native_batch_norm_legit_no_training, not training) whose input is a non-transposed
// convolution (aten::_convolution, aten::convolution, aten::conv1d/2d/3d) read by nothing
// else, where every weight involved is stored. New parameters (NAME.bn_folded) are added to
// `graph` and `stored`. Returns how many were folded.
size_t fold_batch_norm(Graph& graph, StoredTensors& stored);

}  // namespace genie
