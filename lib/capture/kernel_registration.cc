#include "capture/kernel_registration.h"

#include <map>
#include <memory>
#include <string>
#include <utility>

namespace genie {

void register_kernel(c10::DispatchKey key, const c10::OperatorName& name, torch::CppFunction kernel) {
  static std::map<std::pair<c10::DispatchKey, std::string>, std::unique_ptr<torch::Library>> libraries;
  std::string ns = name.name.substr(0, name.name.find("::"));
  std::unique_ptr<torch::Library>& lib = libraries[{key, ns}];
  if (!lib) lib = std::make_unique<torch::Library>(torch::Library::IMPL, ns, key, __FILE__, __LINE__);
  std::string qualified = name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
  lib->impl(qualified.c_str(), std::move(kernel));
}

}  // namespace genie
