#include "capture/inference_decompositions.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

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
  static std::vector<std::unique_ptr<torch::Library>> libraries;
  static std::unordered_map<std::string, torch::Library*> by_namespace;
  auto& dispatcher = c10::Dispatcher::singleton();
  size_t count = 0;
  for (const c10::OperatorName& name : dispatcher.getAllOpNames()) {
    auto op = dispatcher.findOp(name);
    if (!op || !op->hasKernelForDispatchKey(c10::DispatchKey::CompositeImplicitAutograd) ||
        op->hasKernelForDispatchKey(c10::DispatchKey::Functionalize) || !writes_into_an_argument(op->schema()))
      continue;
    std::string ns = name.name.substr(0, name.name.find("::"));
    torch::Library*& lib = by_namespace[ns];
    if (!lib) {
      libraries.push_back(std::make_unique<torch::Library>(torch::Library::IMPL, ns, c10::DispatchKey::Functionalize,
                                                           __FILE__, __LINE__));
      lib = libraries.back().get();
    }
    std::string qualified = name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
    lib->impl(qualified.c_str(), torch::CppFunction::makeFromBoxedFunction<&decompose>());
    ++count;
  }
  return count;
}

}  // namespace genie
