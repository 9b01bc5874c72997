#include "exec/executable.h"

#include <unordered_set>

#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "exec/aten_types.h"
#include "exec/cuda_replay.h"
#include "exec/fold_batch_norm.h"
#include "exec/plan.h"
#include "io/weights.h"
#include "support/error.h"

namespace genie {
namespace {

// A stored value's tensor over the file's mapped bytes when they are aligned for its dtype
// (no copy), else a copy.
at::Tensor tensor_over(const TensorView& view) {
  const c10::ScalarType type = to_scalar_type(view.dtype);
  const auto align = static_cast<uintptr_t>(c10::elementSize(type));
  void* data = const_cast<uint8_t*>(view.data);  // read only: the plan never writes stored values
  at::Tensor t = at::from_blob(data, view.shape, at::TensorOptions().dtype(type));
  return reinterpret_cast<uintptr_t>(view.data) % align == 0 ? t : t.clone();
}

std::string type_text(const at::Tensor& t) { return tensor_type_spec(tensor_type_of(t)); }

// Graphs whose shapes came from running an operator (nonzero, unique) or whose operators
// synchronise with the host cannot be captured as a CUDA graph.
std::string cuda_graph_obstacle(const Graph& graph) {
  for (const Node& node : graph.nodes)
    if (node.annotations.is_object() && node.annotations.contains("shape_from"))
      return "node " + node.qualified_name() + " has a data-dependent shape";
  return "";
}

bool is_convolution(const Node& node) {
  return node.op == "aten::_convolution" || node.op == "aten::convolution" || node.op == "aten::conv2d";
}

ValueId tensor_input(const Node& node, size_t index) {
  if (index >= node.inputs.size()) return kNoValue;
  const auto* ref = std::get_if<TensorRef>(&node.inputs[index].value);
  return ref ? ref->value : kNoValue;
}

}  // namespace

struct Executable::Impl {
  Impl(SafetensorsFile w, Graph g, const RunOptions& o) : weights(std::move(w)), graph(std::move(g)), options(o) {}

  SafetensorsFile weights;
  Graph graph;
  RunOptions options;
  ExecutableInfo info;
  StoredTensors stored;
  std::optional<Plan> plan;
  std::unique_ptr<CudaReplay> replay;
  std::vector<char> input_channels_last;  // per graph input

  std::vector<at::Tensor> run_plan(const std::vector<at::Tensor>& inputs) {
    std::unordered_map<ValueId, const at::Tensor*> given;
    for (size_t i = 0; i < inputs.size(); ++i) given[graph.inputs[i].value] = &inputs[i];
    return plan->run([&](ValueId v) {
      auto it = given.find(v);
      return it != given.end() ? *it->second : stored.at(v);
    });
  }
};

Executable::Executable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executable::Executable(Executable&&) noexcept = default;
Executable& Executable::operator=(Executable&&) noexcept = default;
Executable::~Executable() = default;
const Graph& Executable::graph() const { return impl_->graph; }
const ExecutableInfo& Executable::info() const { return impl_->info; }
uint64_t Executable::in_place_declined() const { return impl_->plan ? impl_->plan->in_place_declined() : 0; }

Executable Executable::load(Graph graph, SafetensorsFile weights, const RunOptions& options) {
  c10::InferenceMode inference;
  weights_check(graph, weights);
  auto impl = std::make_unique<Impl>(std::move(weights), std::move(graph), options);
  Graph& g = impl->graph;
  impl->info.graph_nodes = g.nodes.size();
  for (const NamedValue& p : g.parameters) {
    at::Tensor t = tensor_over(impl->weights.at(p.name));
    impl->info.weight_bytes += static_cast<int64_t>(t.nbytes());
    impl->stored[p.value] = options.device.is_cpu() ? t : t.to(options.device);
  }
  if (options.fold_batch_norm) impl->info.folded_batch_norms = fold_batch_norm(g, impl->stored);

  // oneDNN convolves NHWC tensors without reordering them on every call: 2-D convolution
  // weights are stored channels-last, and image inputs that feed a convolution are made so on
  // entry; the layout then flows through the network (elementwise operators, batch-norm and
  // pooling keep it). Only where views run as views (reshapes then accept any layout) and no
  // node reads layout explicitly.
  impl->input_channels_last.assign(g.inputs.size(), 0);
  if (options.channels_last && options.device.is_cpu() && options.views && !graph_reads_memory_layout(g)) {
    std::unordered_map<ValueId, size_t> input_index;
    for (size_t i = 0; i < g.inputs.size(); ++i) input_index[g.inputs[i].value] = i;
    for (const Node& node : g.nodes) {
      if (!is_convolution(node)) continue;
      const ValueId in = tensor_input(node, 0), w = tensor_input(node, 1);
      auto weight = impl->stored.find(w);
      if (weight == impl->stored.end() || weight->second.dim() != 4) continue;
      weight->second = weight->second.contiguous(at::MemoryFormat::ChannelsLast);
      ++impl->info.channels_last_convolutions;
      auto input = input_index.find(in);
      if (input != input_index.end() && g.values[in].type.shape.size() == 4) impl->input_channels_last[input->second] = 1;
    }
  }

  ExecOptions exec;
  exec.device = options.device;
  exec.drop_dead_nodes = options.drop_dead_nodes;
  exec.in_place = options.in_place;
  exec.views = options.views;
  exec.zero_uninitialized = options.zero_uninitialized;
  std::vector<ValueId> wanted;
  for (const NamedValue& out : g.outputs) wanted.push_back(out.value);
  impl->plan = Plan::compile(g, wanted, exec, [&](ValueId v) { return g.values[v].residency != Residency::kActivation; });
  impl->info.steps = impl->plan->step_count();
  impl->info.in_place_steps = impl->plan->in_place_count();
  impl->info.view_steps = impl->plan->view_count();
  impl->info.peak_activation_bytes = impl->plan->peak_activation_bytes();

  if (options.device.is_cuda() && options.cuda_graph) {
    impl->info.cuda_graph_off_reason = cuda_graph_obstacle(g);
    if (!CudaReplay::available()) impl->info.cuda_graph_off_reason = "this build has no CUDA graph support";
    if (impl->info.cuda_graph_off_reason.empty()) {
      std::vector<at::Tensor> static_inputs;
      for (const NamedValue& in : g.inputs) {
        const TensorType& type = g.values[in.value].type;
        static_inputs.push_back(at::zeros(type.shape, at::TensorOptions().dtype(to_scalar_type(type.dtype)).device(options.device)));
      }
      Impl* raw = impl.get();
      try {
        impl->replay = std::make_unique<CudaReplay>([raw](const std::vector<at::Tensor>& in) { return raw->run_plan(in); },
                                                    std::move(static_inputs));
        impl->info.cuda_graph = true;
      } catch (const std::exception& e) {
        // The warm-up ran: the plan works operator by operator, only not as one graph.
        impl->info.cuda_graph_off_reason = std::string("CUDA-graph capture failed: ") + e.what();
      }
    }
  }
  return Executable(std::move(impl));
}

std::vector<std::pair<std::string, at::Tensor>> Executable::run(const std::vector<at::Tensor>& inputs) {
  c10::InferenceMode inference;  // graphs are inference: no autograd bookkeeping per operator
  const Graph& g = impl_->graph;
  if (inputs.size() != g.inputs.size())
    fail(ErrorKind::kBadInput, "the graph takes " + std::to_string(g.inputs.size()) + " inputs, " +
                                   std::to_string(inputs.size()) + " given");
  std::vector<at::Tensor> on_device;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorType& want = g.values[g.inputs[i].value].type;
    const at::Tensor& t = inputs[i];
    if (t.scalar_type() != to_scalar_type(want.dtype) || t.sizes().vec() != want.shape)
      fail(ErrorKind::kBadInput, "input \"" + g.inputs[i].name + "\": the graph takes " + tensor_type_spec(want) +
                                     ", given " + type_text(t));
    on_device.push_back(t.device() == impl_->options.device ? t : t.to(impl_->options.device));
    if (impl_->input_channels_last[i]) on_device.back() = on_device.back().contiguous(at::MemoryFormat::ChannelsLast);
  }
  std::vector<at::Tensor> results = impl_->replay ? impl_->replay->run(on_device) : impl_->run_plan(on_device);
  stream_synchronize(impl_->options.device);
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (size_t i = 0; i < results.size(); ++i) named.emplace_back(g.outputs[i].name, results[i]);
  return named;
}

c10::Device parse_run_device(const std::string& name) {
  std::optional<c10::Device> device;
  try {
    device = c10::Device(name);
  } catch (const c10::Error&) {
    fail(ErrorKind::kUsage, "\"" + name + "\" is not a device name (expected cpu, cuda or cuda:N)");
  }
  if (device->is_cpu()) return *device;
  if (!device->is_cuda())
    fail(ErrorKind::kUsage, "genie-run runs graphs on cpu or cuda:N, not on " + device->str());
  if (!at::detail::getCUDAHooks().hasCUDA())
    fail(ErrorKind::kUsage, "CUDA device " + device->str() + " requested, but this machine has no usable CUDA GPU" +
                                (at::detail::getCUDAHooks().isBuilt() ? "" : " (and this LibTorch is a CPU build)"));
  const int count = at::detail::getCUDAHooks().deviceCount();
  if (!device->has_index()) device->set_index(0);
  if (device->index() >= count)
    fail(ErrorKind::kUsage, device->str() + " requested, but this machine has " + std::to_string(count) +
                                " CUDA device" + (count == 1 ? "" : "s"));
  return *device;
}

bool float32_may_run_as_tf32(const Graph& graph, const c10::Device& device) {
  if (!device.is_cuda()) return false;
  const bool convolutions = at::globalContext().allowTF32CuDNN(at::Float32Op::CONV);
  const bool products = at::globalContext().allowTF32CuBLAS();
  static const std::unordered_set<std::string> product_ops = {
      "aten::mm",     "aten::addmm",  "aten::_addmm_activation", "aten::bmm",    "aten::baddbmm",
      "aten::addbmm", "aten::matmul", "aten::linear",            "aten::einsum", "aten::scaled_dot_product_attention"};
  for (const Node& node : graph.nodes) {
    const bool convolution = node.op.rfind("aten::conv", 0) == 0 || node.op.rfind("aten::_convolution", 0) == 0;
    if (convolutions && convolution) return true;
    if (products && product_ops.count(node.op)) return true;
  }
  return false;
}

void device_synchronize(const c10::Device& device) {
  if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.index());
}

}  // namespace genie
