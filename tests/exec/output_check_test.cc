// genie-run --check's rule: allclose per element with atol relative to the output's magnitude;
// default tolerances follow the least precise arithmetic (a format, or TF32 on CUDA).
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/tensor.h>
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include "exec/executable.h"
#include "exec/output_check.h"

namespace genie {
namespace {

using Named = std::vector<std::pair<std::string, at::Tensor>>;

OutputDifference compare_one(const at::Tensor& got, const at::Tensor& want, double rtol = 1e-4, double atol = 1e-5) {
  std::vector<OutputDifference> d = outputs_compare(Named{{"y", got}}, Named{{"y", want}}, rtol, atol);
  EXPECT_EQ(d.size(), 1u);
  return d.at(0);
}

TEST(OutputCheck, AnElementNearZeroOfALargeOutputMayCarryTheOutputsRoundingError) {
  // resnet50's logits: most near 25, up to 93; float error of a few 1e-5 everywhere.
  at::Tensor want = at::tensor({93.0, 25.0, 0.001}, at::kFloat);
  at::Tensor got = want + at::tensor({3e-5, -2e-5, 7e-5}, at::kFloat);
  OutputDifference d = compare_one(got, want);
  EXPECT_TRUE(d.ok);
  EXPECT_NEAR(d.scale, 93.0, 1e-9);
  EXPECT_NEAR(d.max_abs, 7e-5, 1e-6);
  // Without the scale (allclose itself) that element fails.
  EXPECT_FALSE(at::allclose(got, want, 1e-4, 1e-5));
}

TEST(OutputCheck, ADifferenceAtTheOutputsScaleFails) {
  at::Tensor want = at::tensor({93.0, 25.0, 0.001}, at::kFloat);
  EXPECT_FALSE(compare_one(want + at::tensor({0.0, 0.0, 0.01}, at::kFloat), want).ok);
  EXPECT_FALSE(compare_one(want * 1.001, want).ok);
}

TEST(OutputCheck, SmallOutputsKeepAllclosesRule) {
  at::Tensor want = at::tensor({0.5, -0.25, 0.0}, at::kFloat);
  OutputDifference near = compare_one(want + 5e-6, want);
  EXPECT_TRUE(near.ok);
  EXPECT_EQ(near.scale, 1.0);
  EXPECT_FALSE(compare_one(want + at::tensor({0.0, 0.0, 2e-5}, at::kFloat), want).ok);
}

TEST(OutputCheck, NanShapeAndNamesAreDifferences) {
  at::Tensor want = at::ones({2, 3});
  at::Tensor nan = want.clone();
  nan[0][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(compare_one(nan, want).ok);
  OutputDifference shape = compare_one(at::ones({3, 2}), want);
  EXPECT_FALSE(shape.ok);
  EXPECT_NE(shape.problem.find("shape differs"), std::string::npos) << shape.problem;
  std::vector<OutputDifference> missing = outputs_compare(Named{{"z", want}}, Named{{"y", want}}, 1e-4, 1e-5);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_FALSE(missing[0].ok);
  EXPECT_EQ(missing[0].problem, "the model has no output of this name");
}

TEST(OutputCheck, DefaultsFollowTheLeastPreciseOutput) {
  Tolerance f32 = default_tolerance(Named{{"y", at::ones({2})}, {"i", at::ones({2}, at::kLong)}});
  EXPECT_EQ(f32.rtol, 1e-4);
  EXPECT_EQ(f32.atol, 1e-5);
  Tolerance bf16 = default_tolerance(Named{{"y", at::ones({2})}, {"z", at::ones({2}, at::kBFloat16)}});
  EXPECT_EQ(bf16.rtol, 1.6e-2);
  EXPECT_EQ(default_tolerance(Named{{"h", at::ones({2}, at::kHalf)}}).atol, 1e-3);
  // One bfloat16 unit in the last place at the scale of 3 (what a channels-last convolution
  // changes in resnet18 run in bfloat16) passes by bfloat16's defaults only.
  at::Tensor want = at::tensor({3.0, 0.01}).to(at::kBFloat16);
  at::Tensor got = at::tensor({3.0, 0.0256}).to(at::kBFloat16);
  EXPECT_TRUE(outputs_compare(Named{{"y", got}}, Named{{"y", want}}, bf16.rtol, bf16.atol)[0].ok);
  EXPECT_FALSE(outputs_compare(Named{{"y", got}}, Named{{"y", want}}, f32.rtol, f32.atol)[0].ok);
}

// TF32 keeps float16's 10 mantissa bits: float32 outputs computed with it are held to
// float16's tolerance, and only they (an int64 output stays exact, a bfloat16 one looser).
TEST(OutputCheck, Tf32OutputsAreComparedAtFloat16Precision) {
  Tolerance tf32 = default_tolerance(Named{{"y", at::ones({2})}, {"i", at::ones({2}, at::kLong)}}, true);
  EXPECT_EQ(tf32.rtol, 1e-3);
  EXPECT_EQ(tf32.atol, 1e-3);
  EXPECT_EQ(default_tolerance(Named{{"i", at::ones({2}, at::kLong)}}, true).rtol, 1e-4);
  EXPECT_EQ(default_tolerance(Named{{"z", at::ones({2}, at::kBFloat16)}}, true).rtol, 1.6e-2);
  // A logit of scale 6 off by 3e-3, as TF32 convolutions leave resnet18's: float32's rule
  // calls it different, TF32's equal.
  at::Tensor want = at::tensor({6.0, -2.0, 0.5}, at::kFloat), got = want + at::tensor({3e-3, -2e-3, 1e-3});
  EXPECT_FALSE(compare_one(got, want).ok);
  EXPECT_TRUE(compare_one(got, want, tf32.rtol, tf32.atol).ok);
}

Graph graph_of(const std::vector<std::string>& ops) {
  Graph g;
  for (const std::string& op : ops) {
    Node n;
    n.op = op;
    g.nodes.push_back(n);
  }
  return g;
}

// By LibTorch's settings, which these tests restore: cuDNN convolutions may use TF32 by
// default, cuBLAS products may not; nothing on the CPU does. Needs no GPU.
TEST(OutputCheck, Tf32FollowsTheDeviceTheOperatorsAndLibTorchsSettings) {
  at::Context& ctx = at::globalContext();
  const bool cudnn = ctx.allowTF32CuDNN(), cublas = ctx.allowTF32CuBLAS();
  const c10::Device cuda(c10::kCUDA, 0), cpu(c10::kCPU);
  const Graph convolutions = graph_of({"aten::_convolution", "aten::relu"});
  const Graph products = graph_of({"aten::addmm", "aten::softmax"});
  ctx.setAllowTF32CuDNN(true);
  ctx.setAllowTF32CuBLAS(false);
  EXPECT_TRUE(float32_may_run_as_tf32(convolutions, cuda));
  EXPECT_FALSE(float32_may_run_as_tf32(convolutions, cpu));
  EXPECT_FALSE(float32_may_run_as_tf32(products, cuda));
  ctx.setAllowTF32CuBLAS(true);
  EXPECT_TRUE(float32_may_run_as_tf32(products, cuda));
  ctx.setAllowTF32CuDNN(false);
  EXPECT_FALSE(float32_may_run_as_tf32(convolutions, cuda));
  ctx.setAllowTF32CuDNN(cudnn);
  ctx.setAllowTF32CuBLAS(cublas);
}

}  // namespace
}  // namespace genie
