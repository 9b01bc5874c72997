// The LibTorch this project builds against is the torch wheel's, and it runs here: the
// capture and exec layers stand on these facts (see cmake/GenieTorch.cmake).
#include <ATen/core/Tensor.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <c10/core/Device.h>
#include <torch/version.h>

#include <gtest/gtest.h>

TEST(LibTorch, RunsAnOperatorOnTheCpu) {
  at::Tensor a = at::ones({2, 3});
  at::Tensor b = at::ones({3, 4});
  at::Tensor c = at::matmul(a, b);
  EXPECT_EQ(c.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(c[1][3].item<float>(), 3.0f);
}

TEST(LibTorch, IsTheVersionTheSetUpInstalled) {
  EXPECT_EQ(TORCH_VERSION_MAJOR, 2);
  EXPECT_GE(TORCH_VERSION_MINOR, 13);
}

TEST(LibTorch, ParsesDeviceStrings) {
  EXPECT_EQ(c10::Device("cpu").type(), c10::DeviceType::CPU);
  EXPECT_EQ(c10::Device("cuda:1").index(), 1);
}
