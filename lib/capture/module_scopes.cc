// Built with NDEBUG in every build type (lib/CMakeLists.txt): at::RecordFunction's layout and
// its inline inputs() differ without it, and the LibTorch wheel is built with it.
#ifndef NDEBUG
#error "module_scopes.cc must be compiled with NDEBUG, as LibTorch is (see lib/CMakeLists.txt)"
#endif

#include "capture/module_scopes.h"

namespace genie {
namespace {

thread_local ModuleScopes::Tracking* tracking = nullptr;

}  // namespace

const ModuleScope ModuleScopes::Tracking::kNone;

ModuleScopes::ModuleScopes(const torch::jit::Module& root) {
  for (const auto& sub : root.named_modules()) {
    const auto& name = sub.value.type()->name();
    by_object_.emplace(sub.value._ivalue().get(), ModuleScope{sub.name, name ? name->name() : ""});
  }
}

ModuleScopes::Tracking::Tracking(const ModuleScopes& modules) : modules_(modules), outer_(tracking) {
  stack_.reserve(32);  // deeper than most models nest, so entering a frame rarely allocates
  if (outer_) at::disableCallback(outer_->callback_);
  // The interpreter passes a frame its inputs, the first of a method being its module.
  callback_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&enter, &leave)
                                             .scopes({at::RecordScope::TORCHSCRIPT_FUNCTION})
                                             .needsInputs(true));
  tracking = this;
}

ModuleScopes::Tracking::~Tracking() {
  at::removeCallback(callback_);
  tracking = outer_;
  if (outer_) at::reenableCallback(outer_->callback_);
}

std::unique_ptr<at::ObserverContext> ModuleScopes::Tracking::enter(const at::RecordFunction& frame) {
  Tracking* t = tracking;
  if (!t) return nullptr;
  const ModuleScope* scope = t->stack_.empty() ? &kNone : t->stack_.back().scope;
  c10::ArrayRef<const c10::IValue> inputs = frame.inputs();
  if (!inputs.empty() && inputs[0].isObject()) {
    auto found = t->modules_.by_object_.find(&inputs[0].toObjectRef());
    if (found != t->modules_.by_object_.end()) scope = &found->second;
  }
  t->stack_.push_back({&frame, scope});
  return nullptr;
}

void ModuleScopes::Tracking::leave(const at::RecordFunction& frame, at::ObserverContext*) {
  Tracking* t = tracking;
  if (!t) return;
  // Normally the innermost frame; a frame entered before this tracking began is not there.
  for (size_t i = t->stack_.size(); i > 0; --i) {
    if (t->stack_[i - 1].frame == &frame) {
      t->stack_.resize(i - 1);
      return;
    }
  }
}

}  // namespace genie
