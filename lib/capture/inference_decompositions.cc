#include "capture/inference_decompositions.h"

#include "capture/kernel_registration.h"

namespace genie {
namespace {

bool writes_into_an_argument(const c10::FunctionSchema& schema) {
  for (const c10::Argument& a : schema.arguments())
    if (a.alias_info() && a.alias_info()->isWrite()) return true;
  return false;
}

// Below Functionalize, a backend key's entry for a CompositeImplicitAutograd operator with no
// backend kernel is that decomposition (it outranks backend fallbacks, ours included). It
// runs on the functional tensors themselves, so every operator it calls comes back through
// functionalization.
void decompose(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack) {
  op.redispatchBoxed(keys & c10::DispatchKeySet(c10::DispatchKeySet::FULL_AFTER, c10::DispatchKey::Functionalize), stack);
}

}  // namespace

size_t register_inference_decompositions() {
  return register_kernel_where<&decompose>(c10::DispatchKey::Functionalize, [](const c10::OperatorHandle& op) {
    return op.hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd) &&
           !op.hasKernelForDispatchKey(c10::DispatchKey::Functionalize) && writes_into_an_argument(op.schema());
  });
}

}  // namespace genie
