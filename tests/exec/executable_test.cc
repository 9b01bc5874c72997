// Executable on the real models: each optimisation alone and together, and running without
// in-place memory reuse, gives the outputs of the graph run exactly as captured; bad inputs are
// named; on a CUDA machine every real model equals the CPU, replayed as a CUDA graph or not
// (skipped without a GPU).
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/instance_norm.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include <torch/script.h>

#include "capture/model_capture.h"
#include "exec/executable.h"
#include "io/safetensors.h"
#include "support/error.h"
#include "support/files.h"
#include "exec/aten_types.h"

namespace genie {
namespace {

std::string models_dir() {
  const char* dir = std::getenv("GENIE_TEST_MODELS");
  return dir ? dir : "";
}

struct Captured {
  Graph graph;
  std::string weights_path;
  std::vector<at::Tensor> inputs;
};

// Captures a model file on `inputs` and writes its weights where a test can reopen them.
Captured capture_file(const std::string& model_path, const std::string& name, const std::vector<at::Tensor>& inputs) {
  auto model = model_open(model_path);
  CapturedModel captured = model_capture(*model, inputs);
  std::vector<TensorToWrite> tensors;
  for (const auto& [n, t] : captured.weights)
    tensors.push_back({n, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
  std::string path = ::testing::TempDir() + "/" + name + ".exec_test.safetensors";
  safetensors_write(path, tensors);
  return {captured.graph, path, inputs};
}

// Captures MODEL.traced.pt of the test models.
Captured capture(const std::string& name, const std::vector<at::Tensor>& inputs) {
  return capture_file(models_dir() + "/" + name + ".traced.pt", name, inputs);
}

std::vector<at::Tensor> run(const Captured& c, const RunOptions& options) {
  Executable e = Executable::load(c.graph, SafetensorsFile::open(c.weights_path), options);
  std::vector<at::Tensor> out;
  for (auto& [name, t] : e.run(c.inputs)) out.push_back(t.cpu().clone());
  return out;
}

void expect_close(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double scale = std::max(1.0, want[i].abs().max().item<double>());
    EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), rel * scale) << "output " << i;
  }
}

class Optimisations : public ::testing::TestWithParam<std::string> {};

TEST_P(Optimisations, EachEqualsTheGraphAsCaptured) {
  if (models_dir().empty()) GTEST_SKIP() << "GENIE_TEST_MODELS not set";
  at::manual_seed(0);
  Captured c = capture(GetParam(), {at::randn({1, 3, 224, 224})});
  RunOptions exact;
  exact.fold_batch_norm = false;
  exact.drop_dead_nodes = false;
  exact.channels_last = false;
  std::vector<at::Tensor> reference = run(c, exact);

  RunOptions allocating = exact;  // memory reuse is the same arithmetic
  allocating.in_place = false;
  expect_close(run(c, allocating), reference, 0);

  RunOptions fold = exact, drop = exact, nhwc = exact, all;
  fold.fold_batch_norm = true;
  drop.drop_dead_nodes = true;
  nhwc.channels_last = true;
  expect_close(run(c, fold), reference, 1e-5);
  expect_close(run(c, drop), reference, 0);  // the same operators on the same data
  expect_close(run(c, nhwc), reference, 1e-5);
  expect_close(run(c, all), reference, 1e-5);

  Executable e = Executable::load(c.graph, SafetensorsFile::open(c.weights_path), all);
  size_t convolutions = 0;
  for (const Node& n : c.graph.nodes) convolutions += n.op == "aten::_convolution";
  EXPECT_EQ(e.info().folded_batch_norms, convolutions);  // every conv in these models feeds a batch-norm
  EXPECT_EQ(e.info().channels_last_convolutions, convolutions);
  EXPECT_LT(e.info().steps, c.graph.nodes.size());
  EXPECT_GT(e.info().in_place_steps, 0u);  // the relus at least
  EXPECT_GT(e.info().peak_activation_bytes, 0);
  e.run(c.inputs);
  EXPECT_EQ(e.in_place_declined(), 0u) << "in-place steps ran out of place: their inputs looked shared";
}

INSTANTIATE_TEST_SUITE_P(Models, Optimisations, ::testing::Values("resnet18", "mobilenet_v2"));

// Copies run as views and in-place reuse change where results live, not what they are (a
// GEMM may take another path for a transposed operand: rounding, nothing more).
TEST(Executable, ViewsAndInPlaceOnBertEqualTheGraphAsCaptured) {
  if (models_dir().empty()) GTEST_SKIP() << "GENIE_TEST_MODELS not set";
  at::Tensor ids = at::arange(16, at::kLong).reshape({1, 16}) % 50;
  Captured c = capture("bert", {ids, at::ones({1, 16}, at::kLong)});
  RunOptions plain;
  plain.views = false;
  plain.in_place = false;
  std::vector<at::Tensor> reference = run(c, plain);
  Executable e = Executable::load(c.graph, SafetensorsFile::open(c.weights_path), RunOptions{});
  EXPECT_GT(e.info().view_steps, 0u);
  EXPECT_GT(e.info().in_place_steps, 0u);
  std::vector<at::Tensor> got;
  for (auto& [name, t] : e.run(c.inputs)) {
    EXPECT_TRUE(t.is_contiguous()) << name << ": the graph promises a contiguous output";
    got.push_back(t.clone());
  }
  expect_close(got, reference, 1e-6);
  EXPECT_EQ(e.in_place_declined(), 0u) << "in-place steps ran out of place: their inputs looked shared";
}

// aten::empty hands out memory as the allocator finds it; on a server, what another client's
// tensors left there. With zero_uninitialized (genie-serve's setting) it gives zeros.
TEST(Executable, EmptyGivesZerosWhenMemoryMustNotLeak) {
  Graph g;
  const ValueId out = g.add_value(TensorType{DType::kFloat32, {1024}, {}});
  Node empty;
  empty.op = "aten::empty";
  empty.overload = "memory_format";
  empty.inputs = {{"size", std::vector<int64_t>{1024}}, {"dtype", DType::kFloat32}, {"layout", std::monostate{}},
                  {"device", std::monostate{}},         {"pin_memory", std::monostate{}}, {"memory_format", std::monostate{}}};
  empty.outputs = {{{out}, false}};
  g.add_node(empty);
  g.add_output("left_over", out);
  const std::string path = ::testing::TempDir() + "/no_weights.safetensors";
  safetensors_write(path, {});
  RunOptions options;
  options.zero_uninitialized = true;
  Executable e = Executable::load(g, SafetensorsFile::open(path), options);
  for (int i = 0; i < 3; ++i) {
    at::full({1024}, 7.0f);  // freed at once: memory the next allocation of its size may reuse
    EXPECT_TRUE(at::equal(e.run({})[0].second, at::zeros({1024}))) << "run " << i;
  }
}

// An operator whose schema hides an alias: aten::type_as returns its input itself when the
// types already match, here a stored weight. The plan makes the add after it in place (by
// the schemas its input is fresh); run, the add sees the weight shared and writes a new
// tensor: the weight, on the CPU the weights file's read-only pages, is not written.
TEST(Executable, AnAliasTheSchemaHidesIsNotWrittenInPlace) {
  Graph g;
  const TensorType f4{DType::kFloat32, {4}, {}};
  const ValueId x = g.add_input("x", f4);
  const ValueId w = g.add_parameter("w", f4);
  const ValueId same = g.add_value(f4), sum = g.add_value(f4);
  Node type_as;
  type_as.op = "aten::type_as";
  type_as.inputs = {{"self", TensorRef{w}}, {"other", TensorRef{x}}};
  type_as.outputs = {{{same}, false}};
  g.add_node(type_as);
  Node add;
  add.op = "aten::add";
  add.overload = "Tensor";
  add.inputs = {{"self", TensorRef{same}}, {"other", TensorRef{x}}, {"alpha", int64_t{1}}};
  add.outputs = {{{sum}, false}};
  g.add_node(add);
  g.add_output("y", sum);

  const at::Tensor weight = at::arange(4, at::kFloat);
  const std::string path = ::testing::TempDir() + "/hidden_alias.safetensors";
  safetensors_write(path, {{"w", DType::kFloat32, {4}, weight.data_ptr(), weight.nbytes()}});
  const std::string before = read_file(path);
  Executable e = Executable::load(g, SafetensorsFile::open(path), RunOptions{});
  EXPECT_EQ(e.info().in_place_steps, 1u);
  const at::Tensor x_value = at::full({4}, 10.0f);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(at::equal(e.run({x_value})[0].second, weight + 10)) << "run " << i;
  EXPECT_EQ(e.in_place_declined(), 2u);
  EXPECT_EQ(read_file(path), before);
}

TEST(Executable, NamesTheInputOfTheWrongShapeOrType) {
  if (models_dir().empty()) GTEST_SKIP() << "GENIE_TEST_MODELS not set";
  Captured c = capture("resnet18", {at::randn({1, 3, 224, 224})});
  Executable e = Executable::load(c.graph, SafetensorsFile::open(c.weights_path), RunOptions{});
  try {
    e.run({at::randn({1, 3, 32, 32})});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kBadInput);
    EXPECT_NE(std::string(error.what()).find("input \"x\": the graph takes 1x3x224x224:float32, given 1x3x32x32:float32"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(e.run({at::zeros({1, 3, 224, 224}, at::kLong)}), Error);
  EXPECT_THROW(e.run({}), Error);
}

// A batch norm that normalises by the batch's own statistics (a model traced in training
// mode) would update its running statistics in place, though its schema does not say so: on
// the CPU they are the weights file's read-only pages (it crashed). It runs without them, to
// the model's result, and nothing stored changes. A node that declares a write into its
// argument is refused, naming it.
TEST(Executable, WritesNothingStored) {
  torch::jit::Module m("Norm");
  m.register_parameter("weight", at::rand({4}) + 0.5, false);
  m.register_parameter("bias", at::randn({4}), false);
  m.register_buffer("running_mean", at::randn({4}));
  m.register_buffer("running_var", at::rand({4}) + 0.5);
  m.define(R"(
def forward(self, x):
    batch = torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, True, 0.1, 1e-5, False)
    instance = torch.instance_norm(x, self.weight, self.bias, self.running_mean, self.running_var, True, 0.1, 1e-5, False)
    return batch + instance
)", nullptr);
  const std::string path = ::testing::TempDir() + "/norm_training.pt";
  m.save(path);
  const at::Tensor x = at::randn({2, 4, 5, 5});
  const at::Tensor expected = model_open(path)->run_eager({x})[0].second;
  Captured c = capture_file(path, "norm_training", {x});
  const std::string before = read_file(c.weights_path);
  for (const bool optimise : {false, true}) {
    RunOptions options;
    options.fold_batch_norm = options.channels_last = optimise;
    expect_close(run(c, options), {expected}, 1e-5);
  }
  EXPECT_EQ(read_file(c.weights_path), before);

  // instance_norm copies its statistics back even where it only reads them: the batch norm
  // on the stored statistics, made an inference instance_norm, runs to ATen's result too.
  Graph instance = c.graph;
  auto stored_norm = std::find_if(instance.nodes.begin(), instance.nodes.end(), [&](const Node& n) {
    const auto* mean = std::get_if<TensorRef>(&n.inputs[3].value);
    return n.op == "aten::batch_norm" && mean && mean->value == instance.parameters[2].value;
  });
  ASSERT_NE(stored_norm, instance.nodes.end());
  ASSERT_EQ(instance.parameters[2].name, "running_mean");
  stored_norm->op = "aten::instance_norm";
  stored_norm->inputs[5] = Argument{"use_input_stats", true};
  stored_norm->inputs[5].value = false;
  auto attr = [&](const char* name) { return m.attr(name).toTensor(); };
  const at::Tensor by_running = at::instance_norm(x, attr("weight"), attr("bias"), attr("running_mean").clone(),
                                                  attr("running_var").clone(), false, 0.1, 1e-5, false);
  const at::Tensor by_instance = at::instance_norm(x, attr("weight"), attr("bias"), attr("running_mean").clone(),
                                                   attr("running_var").clone(), true, 0.1, 1e-5, false);
  Captured instance_case{instance, c.weights_path, c.inputs};
  expect_close(run(instance_case, RunOptions{}), {by_running + by_instance}, 1e-5);
  EXPECT_EQ(read_file(c.weights_path), before);

  Graph writing = c.graph;
  Node& last = writing.nodes.back();  // aten::add(batch, instance) -> aten::add_, into a running mean
  ASSERT_EQ(last.op, "aten::add");
  last.op = "aten::add_";
  last.inputs[0].value = TensorRef{writing.parameters.back().value};
  try {
    Executable::load(writing, SafetensorsFile::open(c.weights_path), RunOptions{});
    FAIL() << "a node writing into a stored tensor was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(std::string(e.what()).find("(aten::add_.Tensor): the operator writes into its argument \"self\""),
              std::string::npos)
        << e.what();
  }
}

TEST(Executable, CudaWithoutAGpuIsAPlainUsageError) {
  if (at::hasCUDA()) GTEST_SKIP() << "this machine has a GPU";
  try {
    parse_run_device("cuda:0");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(error.what()).find("no usable CUDA GPU"), std::string::npos) << error.what();
  }
  EXPECT_THROW(parse_run_device("tpu"), Error);
  EXPECT_THROW(parse_run_device("meta"), Error);
  EXPECT_EQ(parse_run_device("cpu"), c10::Device(c10::kCPU));
}

// Inputs of the four real models, new values on every call (replays must read them).
std::vector<at::Tensor> model_inputs(const std::string& name) {
  if (name == "bert") return {at::randint(0, 1000, {1, 16}, at::kLong), at::ones({1, 16}, at::kLong)};
  if (name == "transformer_encoder") return {at::randn({2, 16, 64})};
  return {at::randn({1, 3, 224, 224})};
}

// On the GPU, with CUDA-graph replay and without, each real model gives the CPU's outputs
// (to TF32's precision: cuDNN convolutions use it by default, as in PyTorch), on the device,
// and replays reuse their buffers without mixing up calls.
class OnCuda : public ::testing::TestWithParam<std::string> {};

TEST_P(OnCuda, EqualsTheCpuWithAndWithoutGraphReplay) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU on this machine";
  if (models_dir().empty()) GTEST_SKIP() << "GENIE_TEST_MODELS not set";
  at::manual_seed(0);
  Captured c = capture(GetParam(), model_inputs(GetParam()));
  for (bool replay : {true, false}) {
    SCOPED_TRACE(replay ? "CUDA-graph replay" : "no replay");
    RunOptions cuda;
    cuda.device = parse_run_device("cuda:0");
    cuda.cuda_graph = replay;
    Executable e = Executable::load(c.graph, SafetensorsFile::open(c.weights_path), cuda);
    EXPECT_EQ(e.info().cuda_graph, replay) << e.info().cuda_graph_off_reason;
    for (int r = 0; r < 3; ++r) {
      c.inputs = model_inputs(GetParam());
      std::vector<at::Tensor> want = run(c, RunOptions{});
      std::vector<at::Tensor> got;
      for (auto& [name, t] : e.run(c.inputs)) {
        EXPECT_TRUE(t.is_cuda()) << name;
        got.push_back(t.cpu());
      }
      expect_close(got, want, 1e-2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, OnCuda, ::testing::Values("resnet18", "mobilenet_v2", "transformer_encoder", "bert"));

// genie-serve compiles one client's graph (a CUDA-graph capture) while other threads run
// theirs: neither may disturb the other.
TEST(ExecutableCuda, CapturesWhileAnotherThreadRuns) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU on this machine";
  if (models_dir().empty()) GTEST_SKIP() << "GENIE_TEST_MODELS not set";
  at::manual_seed(0);
  RunOptions cuda;
  cuda.device = parse_run_device("cuda:0");
  Captured resnet = capture("resnet18", model_inputs("resnet18"));
  std::vector<std::vector<at::Tensor>> inputs, wants;
  for (int r = 0; r < 20; ++r) {
    resnet.inputs = model_inputs("resnet18");
    inputs.push_back(resnet.inputs);
    wants.push_back(run(resnet, RunOptions{}));
  }
  Executable running = Executable::load(resnet.graph, SafetensorsFile::open(resnet.weights_path), cuda);
  std::vector<Captured> others = {capture("bert", model_inputs("bert")), capture("mobilenet_v2", model_inputs("mobilenet_v2"))};
  std::vector<std::vector<at::Tensor>> other_wants;
  for (const Captured& c : others) other_wants.push_back(run(c, RunOptions{}));

  std::atomic<bool> stop{false}, loading{false};
  std::atomic<int> runs_during_loads{0};
  std::vector<std::vector<at::Tensor>> got;
  std::string error;
  std::thread runner([&] {
    try {
      for (size_t r = 0; !stop || got.size() < inputs.size(); ++r) {
        std::vector<at::Tensor> out;
        for (auto& [name, t] : running.run(inputs[r % inputs.size()])) out.push_back(t.cpu());
        if (loading) ++runs_during_loads;
        if (got.size() < inputs.size()) got.push_back(std::move(out));
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::string load_error;
  try {
    for (size_t i = 0; i < others.size(); ++i) {
      loading = true;
      Executable e = Executable::load(others[i].graph, SafetensorsFile::open(others[i].weights_path), cuda);
      loading = false;
      EXPECT_TRUE(e.info().cuda_graph) << e.info().cuda_graph_off_reason;
      std::vector<at::Tensor> out;
      for (auto& [name, t] : e.run(others[i].inputs)) out.push_back(t.cpu());
      expect_close(out, other_wants[i], 1e-2);
    }
  } catch (const std::exception& e) {
    load_error = e.what();
  }
  stop = true;
  runner.join();
  ASSERT_EQ(load_error, "");
  ASSERT_EQ(error, "");
  EXPECT_GT(runs_during_loads, 0) << "no run overlapped a capture: the test tested nothing";
  for (size_t r = 0; r < got.size(); ++r) expect_close(got[r], wants[r], 1e-2);
}

}  // namespace
}  // namespace genie
