// Capturing a whole model: load it, put its parameters and buffers into the graph under their
// model names, run a method on LazyTensor inputs, and name its outputs. Model formats sit
// behind ModelFrontEnd: TorchScript (here) and torch.export programs (exported_model.h).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "capture/graph_builder.h"
#include "graph/graph.h"

namespace genie {

// One model format. One loaded model is used by one thread at a time: a capture changes the
// loaded model while it runs (TorchScript: LazyTensors in its parameter slots).
class ModelFrontEnd {
 public:
  virtual ~ModelFrontEnd() = default;
  // "torchscript", "torch.export"
  virtual std::string format() const = 0;
  // Names of the method's inputs, in order ("x", "input_ids").
  virtual std::vector<std::string> input_names() const = 0;
  // How many of them must be given; the rest have defaults.
  virtual size_t required_inputs() const = 0;
  // Which of the first `count` inputs a capture cannot give, being no tensor: their names and
  // declared types ("xs: List[Tensor]"), where the format says. (Later ones take defaults.)
  virtual std::vector<std::string> non_tensor_inputs(size_t /*count*/) const { return {}; }
  // The input types the model was made for, where the file says (a .pt2 does; TorchScript
  // does not: empty).
  virtual std::vector<TensorType> example_input_types() const { return {}; }
  // Adds what the format knows of the graph as a whole to its annotations (a .pt2's
  // dynamic dimensions).
  virtual void annotate(Graph&) const {}
  // Puts the model's parameters and buffers into `builder` under their model names, runs
  // the method on `inputs` (LazyTensors of `builder`), and returns its tensor outputs by name.
  virtual std::vector<std::pair<std::string, at::Tensor>> run(GraphBuilder& builder,
                                                              const std::vector<at::Tensor>& inputs) = 0;

  // The method run by the model's own framework (the baseline genie-run checks and times
  // against), on real tensors; outputs named as run() names them. Before or after run(), a
  // capture records the same nodes and scopes (the model's own in-place buffer updates, such
  // as a training-mode batch norm's statistics, do change the tensors both share).
  virtual std::vector<std::pair<std::string, at::Tensor>> run_eager(const std::vector<at::Tensor>& inputs) = 0;
  // Moves parameters and buffers to `device`.
  virtual void to(const c10::Device& device) = 0;
  // A copy prepared as a user deploying the model would prepare it (TorchScript:
  // torch::jit::freeze + optimize_for_inference). Throws Error(kUnsupported) if that fails.
  virtual std::unique_ptr<ModelFrontEnd> optimized_for_inference() const = 0;

  // Learnt by model_capture: the model writes through a view, so later captures of it start
  // with functionalization (model_capture's Functionalization::kWhenNeeded).
  bool writes_through_views = false;
};

// Opens a model file, choosing the front end by content (a PT2 archive or a TorchScript
// one). Throws Error(kIo) if it cannot be read, Error(kBadInput) if it is not a model Genie
// can load, Error(kUnsupported) for a program Genie cannot capture (exported_program.h).
std::unique_ptr<ModelFrontEnd> model_open(const std::string& path, const std::string& method = "forward");

struct CapturedModel {
  Graph graph;
  // The data of every stored value (parameters, buffers, constants), by graph name:
  // contiguous CPU tensors, ready for the weights file.
  std::vector<std::pair<std::string, at::Tensor>> weights;
  // Whether the model ran on functionalization's wrappers (GraphBuilder::set_functionalize).
  bool functionalized = false;
};

// kWhenNeeded: capture without functionalization, and again with it if the model writes
// through a view (GraphBuilder::set_functionalize). kAlways: with it from the start. Both
// record the same computation; functionalization may add a copy of a view it replays
// (ConvNeXt: 3 permute_copy more), and the test models' graphs are identical either way.
enum class Functionalization { kWhenNeeded, kAlways };

// Runs `model` on `inputs` (real tensors, one per model input) under capture. Throws
// Error(kUsage) for the wrong number of inputs, Error(kRuntime) when the model fails on them.
CapturedModel model_capture(ModelFrontEnd& model, const std::vector<at::Tensor>& inputs,
                            const ExecOptions& options = GraphBuilder::default_options(),
                            Functionalization functionalization = Functionalization::kWhenNeeded);

}  // namespace genie
