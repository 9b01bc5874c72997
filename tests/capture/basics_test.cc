// The remote_accelerator device from C++: the basic cases a user tries first.
#include <ATen/ATen.h>
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

}  // namespace
}  // namespace genie
