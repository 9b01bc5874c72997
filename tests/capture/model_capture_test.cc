// The real models of testdata/models/make_models.py (resnet18, mobilenet_v2, a 2-layer
// TransformerEncoder, a small BertModel; traced, where possible scripted, and exported as
// .pt2; then small traced models that once failed to capture): each is captured, the graph
// alone is replayed on the CPU, and its outputs must equal the traced TorchScript model run
// eagerly on the same inputs. Captured with functionalization from the start, the graph is the
// same. A .pt2 and a TorchScript capture of the same model record the same operators per module.
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "capture/exported_program.h"
#include "capture/model_capture.h"
#include "exec/aten_types.h"
#include "exec/fold_batch_norm.h"
#include "exec/plan.h"
#include "graph/json_codec.h"
#include "graph/validate.h"
#include "io/safetensors.h"
#include "support/error.h"

namespace genie {
namespace {

struct ModelCase {
  std::string name;       // "resnet18.traced", "resnet18.exported"
  std::string path;
  std::string inputs;     // NAME.inputs.safetensors
  std::string reference;  // the traced TorchScript model: the same weights, run eagerly
  double scoped_at_least = 0.9;  // share of nodes that must know their submodule
  bool writes_through_views = false;  // so it is captured with functionalization
};

// So that a failing case is named in gtest's output rather than dumped as bytes.
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

std::string models_dir() {
  const char* dir = std::getenv("GENIE_TEST_MODELS");
  return dir ? dir : GENIE_TEST_MODELS_DIR;
}

std::string out_dir() {
  const char* dir = std::getenv("GENIE_TEST_OUT");
  return dir ? dir : GENIE_TEST_OUT_DIR;
}

std::vector<ModelCase> model_cases() {
  std::vector<ModelCase> cases;
  std::ifstream in(models_dir() + "/manifest.json");
  if (!in) return cases;
  nlohmann::json manifest = nlohmann::json::parse(in);
  for (auto it = manifest.begin(); it != manifest.end(); ++it)
    for (auto f = it.value()["files"].begin(); f != it.value()["files"].end(); ++f)
      cases.push_back({it.key() + "." + f.key(), models_dir() + "/" + f.value().get<std::string>(),
                       models_dir() + "/" + it.key() + ".inputs.safetensors",
                       models_dir() + "/" + it.value()["files"]["traced"].get<std::string>(),
                       it.value().value("scoped_at_least", 0.9), it.value().value("writes_through_views", false)});
  return cases;
}

at::Tensor to_tensor(const TensorView& view) {
  return at::from_blob(const_cast<uint8_t*>(view.data), view.shape, at::TensorOptions().dtype(to_scalar_type(view.dtype)))
      .clone();
}

std::vector<at::Tensor> read_inputs(const std::string& path) {
  SafetensorsFile file = SafetensorsFile::open(path);
  std::vector<at::Tensor> inputs;
  for (size_t i = 0;; ++i) {
    const TensorView* view = file.find("input" + std::to_string(i));
    if (!view) break;
    inputs.push_back(to_tensor(*view));
  }
  return inputs;
}

std::vector<at::Tensor> eager_outputs(const std::string& path, const std::vector<at::Tensor>& inputs) {
  c10::InferenceMode inference;
  torch::jit::Module module = torch::jit::load(path);
  module.eval();
  c10::IValue result = module.forward(std::vector<c10::IValue>(inputs.begin(), inputs.end()));
  std::vector<at::Tensor> outputs;
  if (result.isTensor()) outputs.push_back(result.toTensor());
  else
    for (const c10::IValue& v : result.toTupleRef().elements()) outputs.push_back(v.toTensor());
  return outputs;
}

void expect_close(const std::vector<at::Tensor>& actual, const std::vector<at::Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(actual[i].sizes(), expected[i].sizes()) << "output " << i;
    double scale = std::max(1.0, expected[i].abs().max().item<double>());
    double diff = (actual[i] - expected[i]).abs().max().item<double>();
    EXPECT_LE(diff, 1e-5 * scale) << "output " << i << ": max abs diff " << diff << " (scale " << scale << ")";
  }
}

class RealModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(RealModel, CaptureReplayEqualsEagerTorchScript) {
  const ModelCase& c = GetParam();
  std::vector<at::Tensor> inputs = read_inputs(c.inputs);
  ASSERT_FALSE(inputs.empty());
  // The reference is TorchScript's own interpreter, also for a .pt2 (same weights), so a
  // .pt2 capture is checked against an implementation that shares nothing with it.
  std::vector<at::Tensor> expected = eager_outputs(c.reference, inputs);

  auto model = model_open(c.path);
  CapturedModel captured = model_capture(*model, inputs);
  const Graph& graph = captured.graph;
  graph_validate(graph);
  std::ofstream(out_dir() + "/" + c.name + ".json") << graph_to_json(graph);  // for the schema tests

  // Capture leaves the model as it was, also when the model fails on its inputs: the same
  // loaded model captures again to the same graph.
  std::vector<at::Tensor> wrong(inputs.size(), at::zeros({2, 1, 1, 1}));
  EXPECT_THROW(model_capture(*model, wrong), Error);
  EXPECT_EQ(graph_to_json(model_capture(*model, inputs).graph), graph_to_json(graph));

  // Only a model that writes through a view needs functionalization's wrappers, and they
  // change nothing in the graph.
  EXPECT_EQ(captured.functionalized, c.writes_through_views);
  CapturedModel functionalized =
      model_capture(*model, inputs, GraphBuilder::default_options(), Functionalization::kAlways);
  EXPECT_TRUE(functionalized.functionalized);
  EXPECT_EQ(graph_to_json(functionalized.graph), graph_to_json(graph));

  // Every parameter and buffer of the model is in the weights, by its model name.
  torch::jit::Module fresh = torch::jit::load(c.reference);
  std::set<std::string> stored;
  for (const auto& [name, t] : captured.weights) stored.insert(name);
  for (const auto& p : fresh.named_parameters()) EXPECT_TRUE(stored.count(p.name)) << "parameter " << p.name;
  for (const auto& b : fresh.named_buffers()) EXPECT_TRUE(stored.count(b.name)) << "buffer " << b.name;

  // At least 90% of nodes know their submodule, or what the manifest says of a model whose
  // root does work of its own (BERT prepares the attention mask in 12 of its 64 nodes,
  // docs/capture.md).
  size_t scoped = 0;
  for (const Node& n : graph.nodes) scoped += !n.scope.empty();
  EXPECT_GE(double(scoped) / graph.nodes.size(), c.scoped_at_least) << scoped << " of " << graph.nodes.size();

  // Replay from the graph file alone: a fresh executor, weights by name, inputs by position.
  Graph reread = graph_from_json(graph_to_json(graph), c.name);
  std::map<std::string, at::Tensor> weights(captured.weights.begin(), captured.weights.end());
  std::map<ValueId, at::Tensor> sources;
  for (const NamedValue& p : reread.parameters) sources[p.value] = weights.at(p.name);
  for (size_t i = 0; i < reread.inputs.size(); ++i) sources[reread.inputs[i].value] = inputs[i];
  std::vector<at::Tensor> replayed = graph_run(reread, ExecOptions{}, [&](ValueId v) { return sources.at(v); });

  expect_close(replayed, expected);
  // The front end's own eager run (genie-run --check's baseline) agrees too.
  std::vector<at::Tensor> eager;
  for (auto& [name, t] : model->run_eager(inputs)) eager.push_back(t);
  expect_close(eager, expected);
}

// Operators per (module scope, operator); the TorchScript tracer records aten::_convolution
// where export's conv2d dispatches to aten::convolution (the same kernel), so those count as one.
using ScopeOp = std::pair<std::string, std::string>;
std::map<ScopeOp, int> ops_by_scope(const Graph& graph) {
  std::map<ScopeOp, int> counts;
  for (const Node& n : graph.nodes) ++counts[{n.scope, n.op == "aten::_convolution" ? "aten::convolution" : n.op}];
  return counts;
}

// The other differences, known and documented (docs/capture.md, "torch.export programs"),
// as .pt2 count minus TorchScript count: the tracer keeps slices that take a whole dimension
// (position_ids[:, 0:16] of a 16-long buffer), export drops them; torch.tensor(min_float) in
// BERT's mask code is a constant to TorchScript, which export lifts and copies (lift_fresh_copy
// + detach_, recorded as clone, detach_copy).
std::map<ScopeOp, int> documented_difference(const std::string& model) {
  if (model != "bert") return {};
  return {{{"", "aten::slice_copy"}, -3}, {{"embeddings", "aten::slice_copy"}, -1}, {{"pooler", "aten::slice_copy"}, -1},
          {{"", "aten::clone"}, 1},       {{"", "aten::detach_copy"}, 1}};
}

class ExportedVsTorchScript : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ExportedVsTorchScript, SameOperatorsPerModuleScope) {
  const ModelCase& c = GetParam();
  std::vector<at::Tensor> inputs = read_inputs(c.inputs);
  auto exported = model_open(c.path);
  auto traced = model_open(c.reference);
  EXPECT_EQ(exported->format(), "torch.export");
  EXPECT_EQ(traced->format(), "torchscript");
  Graph from_export = model_capture(*exported, inputs).graph;
  Graph from_trace = model_capture(*traced, inputs).graph;
  auto a = ops_by_scope(from_export), b = ops_by_scope(from_trace);
  const auto documented = documented_difference(c.name.substr(0, c.name.find('.')));
  std::set<ScopeOp> keys;
  for (const auto& [key, n] : a) keys.insert(key);
  for (const auto& [key, n] : b) keys.insert(key);
  for (const ScopeOp& key : keys) {
    auto count = [&](const std::map<ScopeOp, int>& m) { return m.count(key) ? m.at(key) : 0; };
    EXPECT_EQ(count(a) - count(b), count(documented))
        << "scope \"" << key.first << "\", " << key.second << ": .pt2 " << count(a) << ", TorchScript " << count(b);
  }
}

std::vector<ModelCase> exported_cases() {
  std::vector<ModelCase> cases;
  for (const ModelCase& c : model_cases())
    if (c.name.size() > 9 && c.name.compare(c.name.size() - 9, 9, ".exported") == 0) cases.push_back(c);
  return cases;
}

std::string test_name(const ::testing::TestParamInfo<ModelCase>& info) {
  std::string name = info.param.name;
  for (char& ch : name)
    if (ch == '.') ch = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Models, ExportedVsTorchScript, ::testing::ValuesIn(exported_cases()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ExportedVsTorchScript);

INSTANTIATE_TEST_SUITE_P(Models, RealModel, ::testing::ValuesIn(model_cases()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RealModel);

// Each operator is named by the module whose method runs it: by the module's own path (through
// a container without forward, as a ModuleList is), kept through a method calling another of
// its module's, the same for a module called twice; the root's own operators get "" and the
// root's type. (A TorchScript function keeps its caller's module: the scripted
// TransformerEncoder's attention, at least 90% scoped above.)
TEST(ModuleScope, FromTheModuleWhoseMethodRuns) {
  torch::jit::Module block("Block");
  block.define(R"(
def forward(self, x):
    return self.twice(x).relu()
def twice(self, x):
    return x * 2
)", nullptr);
  torch::jit::Module holder("Holder");  // no forward, so no frame of its own
  holder.register_module("block", block);
  torch::jit::Module root("Root");
  root.register_module("blocks", holder);
  root.define(R"(
def forward(self, x):
    y = self.blocks.block.forward(x)
    return self.blocks.block.forward(y) + 1
)", nullptr);
  const std::string path = ::testing::TempDir() + "/module_scope.pt";
  root.save(path);
  auto model = model_open(path);
  const Graph graph = model_capture(*model, {at::ones({2, 3})}).graph;
  std::vector<std::string> got;
  for (const Node& n : graph.nodes) got.push_back(n.op + " " + n.scope + " " + n.module_type);
  EXPECT_EQ(got, (std::vector<std::string>{"aten::mul blocks.block Block", "aten::relu blocks.block Block",
                                           "aten::mul blocks.block Block", "aten::relu blocks.block Block",
                                           "aten::add  Root"}));
  // Another capture of the same loaded model names them the same.
  const Graph again = model_capture(*model, {at::ones({2, 3})}).graph;
  ASSERT_EQ(again.nodes.size(), graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) EXPECT_EQ(again.nodes[i].scope, graph.nodes[i].scope);
  // Also where the calling thread switched RecordFunction off, which it finds as it left it.
  {
    at::RecordFunctionGuard off(false);
    const Graph quiet = model_capture(*model, {at::ones({2, 3})}).graph;
    ASSERT_EQ(quiet.nodes.size(), graph.nodes.size());
    for (size_t i = 0; i < graph.nodes.size(); ++i) EXPECT_EQ(quiet.nodes[i].scope, graph.nodes[i].scope);
    EXPECT_FALSE(at::isRecordFunctionEnabled());
  }
  // Also after the loaded model ran eagerly, long enough for the JIT to have optimised (and
  // inlined) its plan: after captures, and before the first.
  auto fresh = model_open(path);
  for (ModelFrontEnd* m : {model.get(), fresh.get()}) {
    for (int i = 0; i < 4; ++i) m->run_eager({at::ones({2, 3})});
    const Graph after_eager = model_capture(*m, {at::ones({2, 3})}).graph;
    ASSERT_EQ(after_eager.nodes.size(), graph.nodes.size());
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      EXPECT_EQ(after_eager.nodes[i].scope, graph.nodes[i].scope) << i;
      EXPECT_EQ(after_eager.nodes[i].module_type, graph.nodes[i].module_type) << i;
    }
  }
}

// Work a model forks (torch.jit.fork) is captured whole, in program order, with its modules'
// scopes, on every capture: it once ran on the inter-op pool, racing the capturing thread.
TEST(ModuleScope, ForkedWorkIsCapturedInOrder) {
  auto branch = [](const std::string& factor) {
    torch::jit::Module m("Branch");
    m.define("def forward(self, x):\n    return x.relu() * " + factor + "\n", nullptr);
    return m;
  };
  torch::jit::Module root("Par");
  root.register_module("a", branch("2.0"));
  root.register_module("b", branch("3.0"));
  // What Python's torch.jit.fork compiles to; define()'s default resolver knows only torch.
  struct ForkResolver : torch::jit::NativeResolver {
    std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& m,
                                                           const torch::jit::SourceRange& loc) override {
      if (name == "fork") return torch::jit::SpecialFormValue::create(c10::prim::fork);
      return NativeResolver::resolveValue(name, m, loc);
    }
  };
  root.define(R"(
def forward(self, x):
    fa = fork(self.a.forward, x)
    fb = fork(self.b.forward, x)
    return torch.wait(fa) - torch.wait(fb)
)", std::make_shared<ForkResolver>());
  const std::string path = ::testing::TempDir() + "/forked.pt";
  root.save(path);
  auto model = model_open(path);
  const at::Tensor x = at::randn({4, 8});
  for (int round = 0; round < 20; ++round) {
    const CapturedModel captured = model_capture(*model, {x});
    std::vector<std::string> got;
    for (const Node& n : captured.graph.nodes) got.push_back(n.op + " " + n.scope + " " + n.module_type);
    ASSERT_EQ(got, (std::vector<std::string>{"aten::relu a Branch", "aten::mul a Branch", "aten::relu b Branch",
                                             "aten::mul b Branch", "aten::sub  Par"}))
        << "round " << round;
  }
  // And the graph computes what the model does.
  const Graph graph = model_capture(*model, {x}).graph;
  std::vector<at::Tensor> replayed = graph_run(graph, ExecOptions{}, [&](ValueId) { return x; });
  const at::Tensor expected = x.relu() * 2.0 - x.relu() * 3.0;
  expect_close(replayed, {expected});
  expect_close({model->run_eager({x})[0].second}, {expected});
}

// aten::batch_norm is recorded whole (not decomposed), also without running statistics (as
// BatchNorm2d(track_running_stats=False) calls it) and in training mode (as a model traced in
// training mode calls it); the graph computes what the model does, and batch-norm folding
// takes only the inference one.
TEST(BatchNorm, WithoutRunningStatsAndInTrainingMode) {
  torch::jit::Module m("Norms");
  m.register_parameter("conv", at::randn({4, 3, 3, 3}), false);
  m.register_parameter("weight", at::rand({4}) + 0.5, false);
  m.register_parameter("bias", at::randn({4}), false);
  m.register_buffer("train_mean", at::randn({4}));
  m.register_buffer("train_var", at::rand({4}) + 0.5);
  m.register_buffer("eval_mean", at::randn({4}));
  m.register_buffer("eval_var", at::rand({4}) + 0.5);
  m.define(R"(
def forward(self, x):
    no_stats = torch.batch_norm(torch.conv2d(x, self.conv), self.weight, self.bias, None, None, True, 0.1, 1e-5, False)
    training = torch.batch_norm(torch.conv2d(x, self.conv), self.weight, self.bias, self.train_mean, self.train_var,
                                True, 0.1, 1e-5, False)
    inference = torch.batch_norm(torch.conv2d(x, self.conv), self.weight, self.bias, self.eval_mean, self.eval_var,
                                 False, 0.1, 1e-5, False)
    return no_stats + training * 2 + inference * 3
)", nullptr);
  const std::string path = ::testing::TempDir() + "/norms.pt";
  m.save(path);
  auto model = model_open(path);
  const at::Tensor x = at::randn({2, 3, 7, 7});
  const CapturedModel captured = model_capture(*model, {x});
  std::vector<std::string> ops;
  for (const Node& n : captured.graph.nodes) ops.push_back(n.op);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "aten::batch_norm"), 3) << ::testing::PrintToString(ops);

  std::vector<at::Tensor> expected;
  for (auto& [name, t] : model->run_eager({x})) expected.push_back(t);
  for (const bool fold : {false, true}) {
    Graph graph = captured.graph;
    StoredTensors stored;
    for (const NamedValue& p : graph.parameters)
      for (const auto& [name, t] : captured.weights)
        if (name == p.name) stored[p.value] = t.clone();  // a training-mode run updates its statistics
    if (fold) {
      EXPECT_EQ(fold_batch_norm(graph, stored), 1u);
    }
    stored[graph.inputs[0].value] = x;
    expect_close(graph_run(graph, ExecOptions{}, [&](ValueId v) { return stored.at(v); }), expected);
  }
}

// A capture gives a model tensors only: an input declared otherwise is refused up front, in
// one line naming it, unless it is left to its default.
TEST(ModelInputs, NonTensorInputsAreRefusedUnlessLeftToTheirDefaults) {
  torch::jit::Module m("Scaled");
  m.define(R"(
def forward(self, x, k: float = 2.0, xs: Optional[List[Tensor]] = None, mask: Optional[Tensor] = None):
    return x * k
)", nullptr);
  const std::string path = ::testing::TempDir() + "/scaled.pt";
  m.save(path);
  auto model = model_open(path);
  EXPECT_EQ(model_capture(*model, {at::ones({2})}).graph.nodes.size(), 1u);
  try {
    model_capture(*model, {at::ones({2}), at::ones({1})});
    ADD_FAILURE() << "a tensor for k: float was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_EQ(std::string(e.what()), "the model takes inputs that are not tensors (k: float); genie-capture gives tensors "
                                     "only: capture a wrapper whose inputs are tensors");
  }
  try {
    model_capture(*model, {at::ones({2}), at::ones({1}), at::ones({1}), at::ones({2})});
    ADD_FAILURE() << "tensors for k and xs were taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(k: float, xs: Optional[List[Tensor]])"), std::string::npos) << e.what();
  }
  // An input that takes a tensor among other things is given one.
  torch::jit::Module loose("Loose");
  loose.define(R"(
def forward(self, x, u: Union[Tensor, int], a: Any):
    if isinstance(u, Tensor):
        x = x + u
    if isinstance(a, Tensor):
        x = x * a
    return x
)", nullptr);
  loose.save(path);
  model = model_open(path);
  CapturedModel captured = model_capture(*model, {at::ones({2}), at::full({2}, 2.0), at::full({2}, 3.0)});
  std::vector<std::string> ops;
  for (const Node& n : captured.graph.nodes) ops.push_back(n.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"aten::add", "aten::mul"}));
}

TEST(ModuleScope, FromExportedNodeMetadata) {
  using Scope = std::pair<std::string, std::string>;
  EXPECT_EQ(module_scope_of_stack("L__self__,,torchvision.models.resnet.ResNet;L__self___layer1,layer1,"
                                  "torch.nn.modules.container.Sequential"),
            (Scope{"layer1", "Sequential"}));
  EXPECT_EQ(module_scope_of_stack("L__self__,,torchvision.models.resnet.ResNet"), (Scope{"", "ResNet"}));
  // Strict export keys hold brackets and commas; the path is the middle field.
  EXPECT_EQ(module_scope_of_stack("L__self__,,M;getattr(L['self'].layers, '0'),layers.0,torch.nn.Linear"),
            (Scope{"layers.0", "Linear"}));
  EXPECT_EQ(module_scope_of_stack("_empty_nn_module_stack_from_metadata_hook,_empty_nn_module_stack_from_metadata_hook,"
                                  "_empty_nn_module_stack_from_metadata_hook"),
            (Scope{"", ""}));
  EXPECT_EQ(module_scope_of_stack(""), (Scope{"", ""}));
}

TEST(ExportSchema, ScalarTypesByTheSchemasNumbering) {
  EXPECT_EQ(export_scalar_type(7), c10::ScalarType::Float);
  EXPECT_EQ(export_scalar_type(5), c10::ScalarType::Long);
  EXPECT_EQ(export_scalar_type(12), c10::ScalarType::Bool);
  EXPECT_EQ(export_scalar_type(13), c10::ScalarType::BFloat16);
  EXPECT_THROW(export_scalar_type(99), Error);
}

}  // namespace
}  // namespace genie
