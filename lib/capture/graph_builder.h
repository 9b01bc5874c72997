// Where captured operations go. Each thread has a current GraphBuilder: the innermost live
// CaptureScope's, or else a default one per thread. Operations on LazyTensors are recorded
// into the graph their inputs belong to; factories into the current one.
//
//   genie::CaptureScope scope;                       // a fresh graph for this thread
//   auto x = scope.builder().add_input(torch::randn({2, 3}), "x");
//   auto y = (x + 1).relu();
//   scope.builder().add_output("y", y);
//   const genie::Graph& g = scope.builder().graph(); // nodes in topological order
//   at::Tensor real = y.cpu();                       // runs the graph (materialisation)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "exec/plan.h"
#include "graph/graph.h"

namespace genie {

class RemoteBacking;

class GraphBuilder : public std::enable_shared_from_this<GraphBuilder> {
 public:
  // The current builder of this thread.
  static GraphBuilder& current();
  // Starts a fresh default graph for this thread (scopes are unaffected).
  static void reset_current();

  // Materialisation runs on options.device; by default the device GENIE_BACKING_DEVICE names
  // ("cuda:0"), else the CPU — or on a genie-serve when GENIE_REMOTE names one
  // (capture/remote_backing.h).
  explicit GraphBuilder(ExecOptions options = default_options());
  static ExecOptions default_options();

  // The graph so far; nodes are in topological order by construction.
  const Graph& graph() const { return graph_; }
  // Moves the graph out; the builder must record nothing after this.
  Graph take_graph() { return std::move(graph_); }

  // Whether tensors entering the graph are wrapped for functionalization (the default): then
  // writes through views are recorded exactly, at the cost of a wrapper per tensor. Off, a
  // capture is faster: in-place operators still work, by pointing the tensor at the new
  // value, but an operator that writes into a view or a viewed tensor (or into an argument
  // other than its first) fails and sets functionalization_needed(), so that the caller can
  // capture again with it on. Set before any tensor enters the graph.
  void set_functionalize(bool on) { functionalize_ = on; }
  bool functionalize() const { return functionalize_; }
  bool functionalization_needed() const { return functionalization_needed_; }
  void note_functionalization_needed() { functionalization_needed_ = true; }

  // A real tensor enters the graph as a named input (supplied on every run) or a named
  // parameter/buffer/constant (stored in the weights file). The data is not copied: the
  // builder keeps a reference, for materialisation and for writing weights. Returns the
  // LazyTensor that stands for it.
  at::Tensor add_input(const at::Tensor& real, const std::string& name);
  at::Tensor add_parameter(const at::Tensor& real, const std::string& name,
                           Residency residency = Residency::kParameter);
  // Names a LazyTensor of this graph as an output.
  void add_output(const std::string& name, const at::Tensor& lazy);

  // The value of a LazyTensor of this graph, computed on the backing device by running the
  // subgraph that produces it (results are kept, so later materialisations reuse them).
  at::Tensor materialize(const at::Tensor& lazy);
  // The device materialisation runs on (CPU unless set; e.g. cuda:0).
  void set_backing_device(c10::Device device) { options_.device = device; }
  // Materialise on a genie-serve instead (nullptr: here again).
  void set_remote(std::shared_ptr<RemoteBacking> remote) { remote_ = std::move(remote); }
  const std::shared_ptr<RemoteBacking>& remote() const { return remote_; }
  const ExecOptions& options() const { return options_; }

  // The real tensor behind a stored value (parameter, buffer, constant) or input.
  const at::Tensor& stored_tensor(ValueId value) const { return real_[value]; }

  // Called on every node before it is added: how a front end attaches meaning (the module
  // scope of a TorchScript call). Empty by default.
  void set_node_annotator(std::function<void(Node&)> annotator) { annotator_ = std::move(annotator); }

  // --- used by the capture kernel -------------------------------------------------------
  // The value of a real (non-lazy) tensor used as an operator argument: a constant, added
  // once per tensor.
  ValueId constant_for(const at::Tensor& real);
  ValueId add_value(const TensorType& type);
  NodeId add_node(Node&& node);
  // A new LazyTensor for `value`, with the given sizes and strides.
  at::Tensor make_lazy(ValueId value, c10::ScalarType dtype, c10::IntArrayRef sizes, c10::IntArrayRef strides);
  // Records that a real value was computed for `value` (shape inference by execution).
  void remember(ValueId value, const at::Tensor& real);
  // Notes in the graph's annotations that a value was materialised, by which operator.
  void note_materialization(ValueId value, const std::string& op);

 private:
  at::Tensor wrap_for_user(const at::Tensor& lazy) const;

  ExecOptions options_;
  Graph graph_;
  std::vector<at::Tensor> real_;  // by ValueId: inputs, stored values, materialised values
  std::unordered_map<const c10::TensorImpl*, ValueId> constants_;
  size_t constant_count_ = 0;
  std::function<void(Node&)> annotator_;
  std::shared_ptr<RemoteBacking> remote_;
  bool functionalize_ = true;
  bool functionalization_needed_ = false;
};

// A fresh graph for this thread while the scope lives (scopes nest).
class CaptureScope {
 public:
  explicit CaptureScope(ExecOptions options = GraphBuilder::default_options());
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

  GraphBuilder& builder() { return *builder_; }

 private:
  std::shared_ptr<GraphBuilder> builder_;
  std::shared_ptr<GraphBuilder> previous_;
};

}  // namespace genie
