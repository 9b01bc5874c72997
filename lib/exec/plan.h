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
  // Only the nodes the wanted values depend on run. Off: every node runs, in graph order.
  bool drop_dead_nodes = true;
  // An elementwise operator whose first input dies at it, and shares its memory with nothing,
  // writes its result into that input (aten::relu as aten::relu_), as TorchScript's own
  // graphs do: fewer allocations, warmer caches, the same values.
  bool in_place = true;
  // Views that functionalization recorded as copies (aten::transpose_copy) run as views, and
  // reshapes as aten::reshape: the same values, no copy. Off where a graph reads memory
  // layout explicitly (as_strided).
  bool views = true;
  // Results of operators that hand out memory as they find it (aten::empty and its kin) are
  // zero-filled. A server sets it: memory another client's tensors used must not reach a
  // client that reads an empty tensor.
  bool zero_uninitialized = false;
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

  // Runs the plan, recording no autograd history.
  // `source(v)` gives the tensor of each value compile() was told is known. Returns the
  // wanted values in order. Throws Error(kRuntime) naming the node whose operator failed.
  std::vector<at::Tensor> run(const std::function<at::Tensor(ValueId)>& source) const;

  size_t step_count() const;
  size_t in_place_count() const;  // steps that write into their dying first input
  // Runs of such steps, over all runs so far, that wrote into a fresh tensor instead because
  // their input turned out to be shared (an alias a schema does not declare).
  uint64_t in_place_declined() const;
  size_t view_count() const;      // copying steps run as views
  // The most bytes of intermediate values alive at once during a run, from the graph's types
  // (views counted as if they owned their data, so an upper bound).
  int64_t peak_activation_bytes() const;

  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  ~Plan();

 private:
  struct Impl;
  explicit Plan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether any node reads its inputs' memory layout explicitly (as_strided, _reshape_alias):
// then only the layouts the graph recorded give the recorded values.
bool graph_reads_memory_layout(const Graph& graph);

// Runs a whole graph: inputs and stored values come from `source`; returns the graph's
// outputs in order.
std::vector<at::Tensor> graph_run(const Graph& graph, const ExecOptions& options,
                                  const std::function<at::Tensor(ValueId)>& source);

}  // namespace genie
