#include "capture/device.h"

#include <mutex>

#include <dlfcn.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <c10/core/DeviceType.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/library.h>

#include "capture/capture_kernel.h"
#include "capture/inference_decompositions.h"

namespace genie {
namespace {

// The device has no streams or memory of its own; guards only need to exist and agree.
struct LazyGuardImpl final : public c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return c10::DeviceType::PrivateUse1; }
  c10::Device exchangeDevice(c10::Device device) const override {
    c10::Device old = current_;
    current_ = device;
    return old;
  }
  c10::Device getDevice() const override { return current_; }
  void setDevice(c10::Device device) const override { current_ = device; }
  void uncheckedSetDevice(c10::Device device) const noexcept override { current_ = device; }
  c10::Stream getStream(c10::Device device) const override { return c10::Stream(c10::Stream::DEFAULT, device); }
  c10::Stream exchangeStream(c10::Stream stream) const override {
    return c10::Stream(c10::Stream::DEFAULT, stream.device());
  }
  c10::DeviceIndex deviceCount() const noexcept override { return 1; }

 private:
  static thread_local c10::Device current_;
};
thread_local c10::Device LazyGuardImpl::current_ = c10::Device(c10::DeviceType::PrivateUse1, 0);

C10_REGISTER_GUARD_IMPL(PrivateUse1, LazyGuardImpl);

// PyTorch asks every registered device for these (torch.manual_seed seeds each device's
// generator). Random operators on LazyTensors are recorded, not run, so the generator only
// has to exist; replay draws from the backing device's own.
struct LazyHooks final : public at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex) const override {
    static at::Generator generator = at::detail::createCPUGenerator();
    return generator;
  }
  at::Generator getNewGenerator(c10::DeviceIndex) const override { return at::detail::createCPUGenerator(); }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  at::Device getDeviceFromPtr(void*) const override { return c10::Device(c10::DeviceType::PrivateUse1, 0); }
};

}  // namespace

c10::Device remote_accelerator(c10::DeviceIndex index) { return c10::Device(c10::DeviceType::PrivateUse1, index); }

namespace {

// Inside a Python process, torch's Python layer imports a `torch.<device>` module before
// first use of a PrivateUse1 device unless told the device needs no initialisation. The
// device needs none, so say so through libtorch_python's own switch when it is loaded
// (found at run time: this library does not link Python).
void skip_python_device_init() {
  using SetRequiresInit = void (*)(c10::DeviceType, bool);
  // RTLD_NOLOAD: only if Python's torch already loaded it (torch._C loads it privately,
  // so it is not in the global symbol scope).
  void* python_lib = ::dlopen("libtorch_python.so", RTLD_LAZY | RTLD_NOLOAD);
  if (!python_lib) return;
  void* symbol = ::dlsym(python_lib, "_ZN5torch5utils24set_requires_device_initEN3c1010DeviceTypeEb");
  if (symbol) reinterpret_cast<SetRequiresInit>(symbol)(c10::DeviceType::PrivateUse1, false);
  ::dlclose(python_lib);
}

}  // namespace

void register_device() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (c10::get_privateuse1_backend() != kDeviceName) c10::register_privateuse1_backend(kDeviceName);
    if (!at::isPrivateUse1HooksRegistered()) {
      static LazyHooks hooks;
      at::RegisterPrivateUse1HooksInterface(&hooks);
    }
    register_capture_kernels();
    register_inference_decompositions();
    skip_python_device_init();
  });
}

namespace {
// Loading the library is registering the device (dlopen, torch.ops.load_library).
const bool registered = (register_device(), true);
}  // namespace

}  // namespace genie

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&genie::capture_kernel>());
}
