// A C++ program that knows nothing of Genie at link time loads the device library at run
// time, as PyTorch loads out-of-tree backends, and then uses the device by name.
//   dlopen_test PATH/TO/libgenie_capture.so
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <dlfcn.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  bool known_before = true;
  try {
    (void)c10::Device("remote_accelerator:0");
  } catch (const c10::Error&) {
    known_before = false;
  }
  if (known_before) {
    std::fprintf(stderr, "FAIL: the device name resolved before the library was loaded\n");
    return 1;
  }
  if (!::dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) {
    std::fprintf(stderr, "FAIL: dlopen: %s\n", ::dlerror());
    return 1;
  }
  at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  at::Tensor lazy = a.to(c10::Device("remote_accelerator:0"));
  at::Tensor b = (lazy * 2 + 1).sum(1);
  if (b.device().str() != "remote_accelerator:0") {
    std::fprintf(stderr, "FAIL: result on %s\n", b.device().str().c_str());
    return 1;
  }
  at::Tensor expected = (a * 2 + 1).sum(1);
  if (!at::equal(b.cpu(), expected)) {
    std::fprintf(stderr, "FAIL: wrong values\n");
    return 1;
  }
  std::printf("dlopen: 1 passed, 0 failed\n");
  return 0;
}
