// The TorchScript baseline of genie-capture's end-to-end benchmark: process start, load a
// model, run it once eagerly on a float32 input of the given sizes, exit.
//   torchscript_run MODEL.pt D0 [D1 ...]
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  std::vector<int64_t> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  c10::InferenceMode guard;
  torch::jit::Module module = torch::jit::load(argv[1]);
  module.eval();
  module.forward({at::ones(sizes)});
  return 0;
}
