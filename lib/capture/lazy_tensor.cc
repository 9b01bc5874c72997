#include "capture/lazy_tensor.h"

#include <ATen/FunctionalTensorWrapper.h>

namespace genie {
namespace {

c10::DispatchKeySet lazy_key_set() {
  return c10::DispatchKeySet{c10::DispatchKey::PrivateUse1, c10::DispatchKey::AutogradPrivateUse1,
                             c10::DispatchKey::ADInplaceOrView};
}

}  // namespace

LazyTensorImpl::LazyTensorImpl(std::shared_ptr<GraphBuilder> graph, ValueId value, c10::ScalarType dtype,
                               c10::IntArrayRef sizes, c10::IntArrayRef strides, c10::Device device)
    : c10::TensorImpl(lazy_key_set(), c10::scalarTypeToTypeMeta(dtype), device),
      graph_(std::move(graph)),
      value_(value) {
  set_sizes_and_strides(sizes, strides);
  // There is no data: reading it is a bug that must fail loudly, not return garbage.
  set_storage_access_should_throw();
}

c10::intrusive_ptr<c10::TensorImpl> LazyTensorImpl::shallow_copy_and_detach(
    const c10::VariableVersion& version_counter, bool allow_tensor_metadata_change) const {
  auto copy = c10::make_intrusive<LazyTensorImpl>(graph_, value_, c10::typeMetaToScalarType(dtype()), sizes(), strides(), device());
  copy_tensor_metadata(this, copy.get(), version_counter, allow_tensor_metadata_change);
  copy->mark_aliased();
  mark_aliased();
  return copy;
}

c10::intrusive_ptr<c10::TensorImpl> LazyTensorImpl::shallow_copy_and_detach(
    c10::VariableVersion&& version_counter, bool allow_tensor_metadata_change) const {
  auto copy = c10::make_intrusive<LazyTensorImpl>(graph_, value_, c10::typeMetaToScalarType(dtype()), sizes(), strides(), device());
  copy_tensor_metadata(this, copy.get(), std::move(version_counter), allow_tensor_metadata_change);
  copy->mark_aliased();
  mark_aliased();
  return copy;
}

void LazyTensorImpl::shallow_copy_from(const c10::intrusive_ptr<c10::TensorImpl>& impl) {
  auto* other = dynamic_cast<LazyTensorImpl*>(impl.get());
  TORCH_CHECK(other, "genie: cannot copy a ", impl->device(), " tensor's metadata into a LazyTensor");
  copy_tensor_metadata(other, this, version_counter(), allow_tensor_metadata_change());
  graph_ = other->graph_;
  value_ = other->value_;
  aliased_ = true;
  other->mark_aliased();
}

LazyTensorImpl* lazy_impl(const at::Tensor& t) {
  if (!t.defined()) return nullptr;
  c10::TensorImpl* impl = t.unsafeGetTensorImpl();
  if (at::functionalization::impl::isFunctionalTensor(t))
    impl = at::functionalization::impl::unsafeGetFunctionalWrapper(t)->value().unsafeGetTensorImpl();
  if (typeid(*impl) != typeid(LazyTensorImpl)) return nullptr;
  return static_cast<LazyTensorImpl*>(impl);
}

}  // namespace genie
