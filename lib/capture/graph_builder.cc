#include "capture/graph_builder.h"

#include <cstdlib>

#include <ATen/FunctionalTensorWrapper.h>

#include "capture/device.h"
#include "capture/lazy_tensor.h"
#include "capture/remote_backing.h"
#include "graph/subgraph.h"
#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

std::shared_ptr<GraphBuilder>& current_slot() {
  thread_local std::shared_ptr<GraphBuilder> current;
  return current;
}

}  // namespace

GraphBuilder& GraphBuilder::current() {
  std::shared_ptr<GraphBuilder>& slot = current_slot();
  if (!slot) slot = std::make_shared<GraphBuilder>();
  return *slot;
}

void GraphBuilder::reset_current() { current_slot() = std::make_shared<GraphBuilder>(); }

ExecOptions GraphBuilder::default_options() {
  ExecOptions options;
  if (const char* device = std::getenv("GENIE_BACKING_DEVICE"); device && *device) {
    try {
      options.device = c10::Device(device);
    } catch (const c10::Error&) {
      fail(ErrorKind::kUsage, std::string("GENIE_BACKING_DEVICE=") + device + " is not a device (expected cpu or cuda:N)");
    }
    if (options.device.type() == c10::DeviceType::PrivateUse1)
      fail(ErrorKind::kUsage, "GENIE_BACKING_DEVICE cannot be the remote_accelerator device itself");
  }
  return options;
}

GraphBuilder::GraphBuilder(ExecOptions options)
    : options_(std::move(options)), remote_(RemoteBacking::from_environment()) {}

ValueId GraphBuilder::add_value(const TensorType& type) {
  ValueId id = graph_.add_value(type);
  real_.emplace_back();
  return id;
}

NodeId GraphBuilder::add_node(Node&& node) {
  if (annotator_) annotator_(node);
  return graph_.add_node(std::move(node));
}

at::Tensor GraphBuilder::make_lazy(ValueId value, c10::ScalarType dtype, c10::IntArrayRef sizes,
                                   c10::IntArrayRef strides) {
  return at::Tensor(c10::make_intrusive<LazyTensorImpl>(shared_from_this(), value, dtype, sizes, strides,
                                                        remote_accelerator(0)));
}

namespace {

// Real tensors entering the graph must be plain dense tensors we can store and replay.
// The error names the tensor by kind and name; its text is built only on failure, since a
// model's every parameter passes through here on every capture.
void check_real(const at::Tensor& real, const char* kind, const std::string* name = nullptr) {
  auto fail_with = [&](ErrorKind error, const char* why) {
    fail(error, std::string(kind) + (name ? " \"" + *name + "\"" : "") + ": " + why);
  };
  if (!real.defined()) fail_with(ErrorKind::kUsage, "the tensor is undefined");
  if (is_lazy(real)) fail_with(ErrorKind::kUsage, "the tensor is already a LazyTensor");
  if (real.layout() != c10::kStrided) fail_with(ErrorKind::kUnsupported, "only dense (strided) tensors can enter a graph");
}

}  // namespace

at::Tensor GraphBuilder::wrap_for_user(const at::Tensor& lazy) const {
  return functionalize_ ? at::functionalization::impl::to_functional_tensor(lazy) : lazy;
}

at::Tensor GraphBuilder::add_input(const at::Tensor& real, const std::string& name) {
  check_real(real, "input", &name);
  ValueId v = graph_.add_input(name, tensor_type_of(real));
  real_.push_back(real);
  return wrap_for_user(make_lazy(v, real.scalar_type(), real.sizes(), real.strides()));
}

at::Tensor GraphBuilder::add_parameter(const at::Tensor& real, const std::string& name, Residency residency) {
  check_real(real, "parameter", &name);
  if (!residency_is_stored(residency)) fail(ErrorKind::kUsage, "parameter \"" + name + "\": residency must be stored");
  ValueId v = graph_.add_parameter(name, tensor_type_of(real), residency);
  real_.push_back(real);
  constants_[real.unsafeGetTensorImpl()] = v;
  return wrap_for_user(make_lazy(v, real.scalar_type(), real.sizes(), real.strides()));
}

ValueId GraphBuilder::constant_for(const at::Tensor& real) {
  auto it = constants_.find(real.unsafeGetTensorImpl());
  if (it != constants_.end()) return it->second;
  check_real(real, "a constant");
  // A real tensor an operator reads keeps its data here; a 0-dim CPU tensor (a wrapped
  // number) is a value like any other.
  ValueId v = graph_.add_parameter("constant." + std::to_string(constant_count_++), tensor_type_of(real),
                                   Residency::kConstant);
  real_.push_back(real);
  constants_[real.unsafeGetTensorImpl()] = v;
  return v;
}

void GraphBuilder::add_output(const std::string& name, const at::Tensor& lazy) {
  LazyTensorImpl* impl = lazy_impl(lazy);
  if (!impl) fail(ErrorKind::kUsage, "output \"" + name + "\" is not a LazyTensor");
  if (impl->graph().get() != this) fail(ErrorKind::kUsage, "output \"" + name + "\" belongs to another graph");
  if (at::functionalization::impl::isFunctionalTensor(lazy)) at::functionalization::impl::sync(lazy);
  // Looked up again: syncing applies pending writes by giving the wrapper a new inner tensor.
  graph_.add_output(name, lazy_impl(lazy)->value());
}

void GraphBuilder::remember(ValueId value, const at::Tensor& real) { real_[value] = real; }

void GraphBuilder::note_materialization(ValueId value, const std::string& op) {
  if (graph_.annotations.is_null()) graph_.annotations = nlohmann::json::object();
  graph_.annotations["materialized"].push_back(
      {{"value", value}, {"op", op}, {"device", remote_ ? remote_->name() : options_.device.str()},
       {"after_node", graph_.nodes.size()}});
}

at::Tensor GraphBuilder::materialize(const at::Tensor& lazy) {
  if (at::functionalization::impl::isFunctionalTensor(lazy)) at::functionalization::impl::sync(lazy);
  LazyTensorImpl* impl = lazy_impl(lazy);
  if (!impl) fail(ErrorKind::kUsage, "materialize: not a LazyTensor");
  if (impl->graph().get() != this) return impl->graph()->materialize(lazy);
  const ValueId target = impl->value();
  if (real_[target].defined()) return real_[target];
  // Every known value stays known: later materialisations start from here.
  std::vector<ValueId> wanted{target};
  if (remote_) {
    Subgraph sub = graph_subgraph(graph_, wanted, [&](ValueId v) { return real_[v].defined(); });
    std::vector<std::pair<std::string, at::Tensor>> stored;
    for (const NamedValue& p : graph_.parameters) {
      const Residency r = graph_.values[p.value].residency;
      if (r == Residency::kParameter || r == Residency::kBuffer) stored.emplace_back(p.name, real_[p.value]);
    }
    real_[target] = remote_->run(sub, [&](ValueId v) { return real_[v]; }, stored)[0];
    return real_[target];
  }
  Plan plan = Plan::compile(graph_, wanted, options_, [&](ValueId v) { return real_[v].defined(); });
  at::Tensor result = plan.run([&](ValueId v) {
    const at::Tensor& t = real_[v];
    return t.device() == options_.device ? t : t.to(options_.device);
  })[0];
  real_[target] = result;
  return result;
}

CaptureScope::CaptureScope(ExecOptions options)
    : builder_(std::make_shared<GraphBuilder>(std::move(options))), previous_(current_slot()) {
  current_slot() = builder_;
}

CaptureScope::~CaptureScope() { current_slot() = previous_; }

}  // namespace genie
