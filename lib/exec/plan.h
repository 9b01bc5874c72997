// A graph compiled for execution: operators resolved once through the c10 dispatcher,
// constant arguments built once, and the last use of every value known so intermediates are
// freed early. Compile once, run many times; genie-run and LazyTensor materialisation share it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "graph/graph.h"

namespace genie {

struct ExecOptions {
  // Where the graph runs. Device arguments that name the remote_accelerator device (a
  // factory called on it during capture) are rewritten to this one.
  c10::Device device = c10::Device(c10::kCPU);
};

class Plan {
 public:
  // Compiles the nodes needed to compute `wanted`. Values `known` says are available (it is
  // asked once per value) are taken from the caller instead of computed; every input,
  // parameter, buffer and constant needed must be known. Throws Error(kUnsupported) naming
  // the node for an operator this LibTorch does not have, Error(kBadInput) when a node's
  // arguments do not fit the operator's schema.
  static Plan compile(const Graph& graph, const std::vector<ValueId>& wanted, const ExecOptions& options,
                      const std::function<bool(ValueId)>& known);

  // Runs the plan. `source(v)` gives the tensor of each value compile() was told is known.
  // Returns the wanted values in order. Throws Error(kRuntime) naming the node whose operator
  // failed.
  std::vector<at::Tensor> run(const std::function<at::Tensor(ValueId)>& source) const;

  size_t step_count() const;

  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  ~Plan();

 private:
  struct Impl;
  explicit Plan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs a whole graph: inputs and stored values come from `source`; returns the graph's
// outputs in order.
std::vector<at::Tensor> graph_run(const Graph& graph, const ExecOptions& options,
                                  const std::function<at::Tensor(ValueId)>& source);

}  // namespace genie
