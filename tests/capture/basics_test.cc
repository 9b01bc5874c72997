// The remote_accelerator device from C++: the basic cases a user tries first.
#include <ATen/TensorIndexing.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/_native_multi_head_attention.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/multiply.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "capture/device.h"
#include "capture/graph_builder.h"
#include "capture/lazy_tensor.h"
#include "graph/validate.h"

namespace genie {
namespace {

std::vector<std::string> ops_of(const Graph& g) {
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) ops.push_back(n.qualified_name());
  return ops;
}

TEST(Device, ParsesAndPrintsUnderItsName) {
  c10::Device d("remote_accelerator:0");
  EXPECT_EQ(d.type(), c10::DeviceType::PrivateUse1);
  EXPECT_EQ(d, remote_accelerator(0));
  EXPECT_EQ(d.str(), "remote_accelerator:0");
}

TEST(LazyTensor, AddOfTwoInputs) {
  CaptureScope scope;
  at::Tensor xr = at::randn({2, 3}), yr = at::randn({2, 3});
  at::Tensor x = scope.builder().add_input(xr, "x");
  at::Tensor y = scope.builder().add_input(yr, "y");
  at::Tensor z = x + y;
  EXPECT_TRUE(is_lazy(z));
  EXPECT_EQ(z.device(), remote_accelerator(0));
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ops_of(scope.builder().graph()), (std::vector<std::string>{"aten::add.Tensor"}));
  at::Tensor real = z.cpu();
  EXPECT_FALSE(is_lazy(real));
  EXPECT_TRUE(at::equal(real, xr + yr));
  graph_validate(scope.builder().graph());
}

TEST(LazyTensor, MatmulAndFactories) {
  CaptureScope scope;
  at::Tensor a = at::randn({4, 5}).to(remote_accelerator());
  at::Tensor b = at::ones({5, 3}, at::TensorOptions().device(remote_accelerator()));
  at::Tensor c = a.matmul(b);
  EXPECT_TRUE(is_lazy(c));
  EXPECT_EQ(c.sizes(), (std::vector<int64_t>{4, 3}));
  for (const auto& op : ops_of(scope.builder().graph())) std::cerr << op << "\n";
  at::Tensor r = c.cpu();
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{4, 3}));
}

TEST(LazyTensor, ItemMaterialises) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::arange(10, at::kFloat), "x");
  at::Tensor s = (x * 2).sum();
  EXPECT_TRUE(is_lazy(s));
  EXPECT_EQ(s.item<float>(), 90.0f);
  EXPECT_TRUE(scope.builder().graph().annotations.contains("materialized"));
}

TEST(LazyTensor, WritesThroughViews) {
  CaptureScope scope;
  at::Tensor yr = at::randn({4, 8});
  at::Tensor y = scope.builder().add_input(yr, "y");
  using namespace at::indexing;
  y.index({Slice(), Slice(None, 4)}) += 1;
  y.narrow(1, 4, 2).mul_(2);
  at::Tensor expected = yr.clone();
  expected.index({Slice(), Slice(None, 4)}) += 1;
  expected.narrow(1, 4, 2).mul_(2);
  EXPECT_TRUE(at::allclose(y.cpu(), expected));
  for (const auto& op : ops_of(scope.builder().graph())) std::cerr << op << "\n";
}

// Composite operators that write into an argument reach functionalization undecomposed under
// InferenceMode (which model capture runs in): nn.Dropout(inplace=True) in mobilenet_v3.
TEST(LazyTensor, CompositeWritesUnderInferenceMode) {
  c10::InferenceMode inference;
  CaptureScope scope;
  at::Tensor xr = at::rand({3, 4}) + 0.5;
  at::Tensor x = scope.builder().add_input(xr, "x");
  at::dropout_(x, 0.5, /*train=*/false);
  x.divide_(2);
  x.square_();
  at::Tensor out = at::empty({3, 4}, x.options());
  at::multiply_out(out, x, x);
  EXPECT_TRUE(is_lazy(out));
  EXPECT_TRUE(at::allclose(out.cpu(), (xr / 2).square().square()));
  scope.builder().add_output("out", out);
  graph_validate(scope.builder().graph());
}

// A traced `table[index]` passes its indices as a list typed by what the trace saw,
// Optional[Long(3)][] rather than Optional[Tensor][]: its LazyTensors must still be found
// (they were not, and shape inference fell back to running the call, which came back here
// without end).
TEST(LazyTensor, IndexListTypedByTheTrace) {
  c10::InferenceMode inference;
  CaptureScope scope;
  at::Tensor table_r = at::randn({10, 4});
  at::Tensor index_r = at::tensor({3, 1, 7}, at::kLong);
  at::Tensor table = scope.builder().add_input(table_r, "table");
  at::Tensor index = scope.builder().add_input(index_r, "index");
  c10::impl::GenericList indices(c10::OptionalType::create(c10::TensorType::create(index_r)));
  indices.push_back(index);
  ASSERT_FALSE(c10::IValue(indices).isOptionalTensorList());  // the case at hand
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("aten::index", "Tensor");
  torch::jit::Stack stack{table, indices};
  op.callBoxed(&stack);
  at::Tensor out = stack.at(0).toTensor();
  EXPECT_TRUE(is_lazy(out));
  EXPECT_EQ(ops_of(scope.builder().graph()), (std::vector<std::string>{"aten::index.Tensor"}));
  EXPECT_TRUE(at::equal(out.cpu(), table_r.index({index_r})));
}

// nn.MultiheadAttention's fast path under no_grad (torchvision's ViT) leaves its attention
// weights undefined when they are not asked for: the node records the one result it has.
TEST(LazyTensor, TrailingResultLeftUndefined) {
  c10::InferenceMode inference;
  CaptureScope scope;
  const int64_t embed = 8, heads = 2;
  at::Tensor xr = at::randn({1, 5, embed});
  at::Tensor w_in = at::randn({3 * embed, embed}), b_in = at::randn({3 * embed});
  at::Tensor w_out = at::randn({embed, embed}), b_out = at::randn({embed});
  at::Tensor x = scope.builder().add_input(xr, "x");
  auto [out, weights] = at::_native_multi_head_attention(x, x, x, embed, heads, w_in, b_in, w_out, b_out, std::nullopt,
                                                         /*need_weights=*/false);
  EXPECT_FALSE(weights.defined());
  const Graph& g = scope.builder().graph();
  ASSERT_EQ(ops_of(g), (std::vector<std::string>{"aten::_native_multi_head_attention"}));
  EXPECT_EQ(g.nodes[0].outputs.size(), 1u);
  auto [expected, none] = at::_native_multi_head_attention(xr, xr, xr, embed, heads, w_in, b_in, w_out, b_out,
                                                           std::nullopt, false);
  EXPECT_TRUE(at::allclose(out.cpu(), expected, 1e-5, 1e-6));
  scope.builder().add_output("out", out);
  graph_validate(g);
}

}  // namespace
}  // namespace genie
