// genie-capture: run a TorchScript model or a torch.export program on the remote_accelerator
// device and write the graph it records (genie.graph JSON) and its weights (safetensors).
#include <ATen/CPUGeneratorImpl.h>
#include <malloc.h>

#include <cstdio>
#include <iostream>

#include "capture/model_capture.h"
#include "common/tool_main.h"
#include "exec/aten_types.h"
#include "exec/example_input.h"
#include "graph/json_codec.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "support/error.h"
#include "support/files.h"

int main(int argc, char** argv) {
  // A capture's graph grows in vectors that double: glibc would give each large one fresh
  // pages of its own and return the outgrown one to the system, so every byte is faulted in
  // anew. Kept in the heap, outgrown buffers are reused by the graph's small allocations: a
  // million-node capture takes 28% fewer page faults, 1.4 -> 1.1 s (performance.md).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"Capture a model as a Genie graph: run it on the remote_accelerator device, where every\n"
               "operation is recorded with its module scope, and write the graph and weights. Reads\n"
               "TorchScript (torch.jit.save) and torch.export programs (torch.export.save, .pt2), told\n"
               "apart by content.\n\n"
               "Examples:\n"
               "  genie-capture resnet18.pt --input 1x3x224x224 -o resnet18.json\n"
               "      writes resnet18.json and resnet18.safetensors\n"
               "  genie-capture resnet18.pt2 -o resnet18.json\n"
               "      a .pt2 carries its example input shapes; --input overrides them within its dynamic ranges\n"
               "  genie-capture bert.pt --input 1x16:int64 --input 1x16:int64 -o bert.json\n"
               "  genie-capture model.pt --input 1x8 -o - --weights w.safetensors | genie-graph -",
               "genie-capture"};
  std::string model_path, output_path, weights_path, method = "forward";
  std::vector<std::string> input_specs;
  uint64_t seed = 0;
  app.add_option("model", model_path, "model file: TorchScript (torch.jit.save) or torch.export (.pt2)")->required();
  app.add_option("-o,--output", output_path, "graph file to write; - for stdout")->required();
  app.add_option("--input", input_specs,
                 "one per model input, in order: sizes and dtype, e.g. 1x3x224x224, 1x128:int64 (float32 by default);\n"
                 "optional for a .pt2 (its example shapes)");
  app.add_option("--weights", weights_path, "weights file (default: GRAPH.safetensors beside the graph)");
  app.add_option("--method", method, "the module's method to capture")->default_val("forward");
  app.add_option("--seed", seed, "seed of the random example inputs")->default_val(0);
  app.set_version_flag("--version", "genie-capture 0.1.0");

  return genie::exit_without_teardown(genie::tool_main(app, argc, argv, [&] {
    if (output_path == "-" && weights_path.empty())
      genie::fail(genie::ErrorKind::kUsage, "with -o - (stdout), say where the weights go: --weights FILE");
    if (genie::is_special_file(output_path) && weights_path.empty())
      genie::fail(genie::ErrorKind::kUsage,
                  "-o " + output_path + " is not a regular file, say where the weights go: --weights FILE");
    if (weights_path.empty()) weights_path = genie::weights_path_beside(output_path);
    if (weights_path == "-") genie::fail(genie::ErrorKind::kUsage, "--weights must name a file");

    std::vector<genie::TensorType> types;
    for (const std::string& spec : input_specs) types.push_back(genie::tensor_type_parse(spec));
    auto model = genie::model_open(model_path, method);
    if (types.empty()) types = model->example_input_types();
    at::Generator generator = at::detail::createCPUGenerator(seed);
    std::vector<at::Tensor> inputs;
    for (const auto& type : types) inputs.push_back(genie::example_input(type, generator));
    // Never freed: the process ends once it is written, and freeing a graph node by node
    // took 0.3 s of a million-node capture. A static holds it, so leak checkers see it reachable.
    static genie::CapturedModel* kept = nullptr;
    kept = new genie::CapturedModel(genie::model_capture(*model, inputs));
    genie::CapturedModel& captured = *kept;
    captured.graph.annotations["source"] = genie::display_path(model_path);

    std::vector<genie::TensorToWrite> tensors;
    for (const auto& [name, t] : captured.weights)
      tensors.push_back({name, genie::to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
    genie::safetensors_write(weights_path, tensors, {{"producer", "genie-capture"}});
    try {
      genie::graph_write(captured.graph, output_path);
    } catch (...) {
      std::remove(weights_path.c_str());  // no half of a pair left behind
      throw;
    }
    if (output_path != "-")
      std::cerr << "genie-capture: " << captured.graph.nodes.size() << " nodes, " << captured.graph.parameters.size()
                << " stored tensors -> " << output_path << ", " << weights_path << "\n";
    return 0;
  }));
}
