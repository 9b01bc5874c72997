// A LazyTensor: a tensor of the remote_accelerator device that holds no data. It has exact
// sizes, strides and dtype (TorchScript reads them while a model runs) and names the graph
// value that produces it. See docs/lazy-tensor.md.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorImpl.h>

#include "graph/graph.h"

namespace genie {

class GraphBuilder;

class LazyTensorImpl final : public c10::TensorImpl {
 public:
  LazyTensorImpl(std::shared_ptr<GraphBuilder> graph, ValueId value, c10::ScalarType dtype, c10::IntArrayRef sizes,
                 c10::IntArrayRef strides, c10::Device device);

  const std::shared_ptr<GraphBuilder>& graph() const { return graph_; }
  ValueId value() const { return value_; }
  // Points the tensor at a new value: how an in-place operator is recorded functionally.
  void rebind(ValueId value) { value_ = value; }
  // Whether another tensor may share this one's memory (a view of it, or one it is a view
  // of): a write into it then cannot be recorded by rebinding alone. Only tracked while the
  // graph is captured without functionalization (GraphBuilder::set_functionalize).
  bool aliased() const { return aliased_; }
  void mark_aliased() const { aliased_ = true; }

  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(const c10::VariableVersion& version_counter,
                                                              bool allow_tensor_metadata_change) const override;
  c10::intrusive_ptr<c10::TensorImpl> shallow_copy_and_detach(c10::VariableVersion&& version_counter,
                                                              bool allow_tensor_metadata_change) const override;
  void shallow_copy_from(const c10::intrusive_ptr<c10::TensorImpl>& impl) override;

 private:
  const char* tensorimpl_type_name() const override { return "genie::LazyTensorImpl"; }

  std::shared_ptr<GraphBuilder> graph_;
  ValueId value_;
  mutable bool aliased_ = false;  // set from const paths: a shallow copy aliases its source
};

// The LazyTensorImpl behind `t`, looking through a functionalization wrapper; nullptr for
// any other tensor.
LazyTensorImpl* lazy_impl(const at::Tensor& t);
inline bool is_lazy(const at::Tensor& t) { return lazy_impl(t) != nullptr; }

}  // namespace genie
