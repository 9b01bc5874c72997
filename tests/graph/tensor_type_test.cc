#include "graph/tensor_type.h"

#include <gtest/gtest.h>

namespace genie {
namespace {

TEST(TensorType, ContiguousStridesMatchPyTorch) {
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({2, 0, 3}), (std::vector<int64_t>{3, 3, 1}));  // torch.empty(2,0,3).stride()
  EXPECT_EQ(contiguous_strides({}), (std::vector<int64_t>{}));
}

TEST(TensorType, SizesAndOverflow) {
  TensorType t{DType::kBFloat16, {2, 3}, {}};
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 12);
  TensorType huge{DType::kFloat64, {int64_t{1} << 40, int64_t{1} << 30}, {}};
  EXPECT_FALSE(huge.numel());
  TensorType big_bytes{DType::kFloat64, {int64_t{1} << 61}, {}};
  EXPECT_TRUE(big_bytes.numel());
  EXPECT_FALSE(big_bytes.nbytes());
  EXPECT_EQ((TensorType{DType::kFloat32, {}, {}}).numel(), 1);  // a scalar
}

TEST(TensorType, ContiguityIgnoresStridesOfSizeOneDims) {
  EXPECT_TRUE((TensorType{DType::kFloat32, {1, 4}, {99, 1}}).is_contiguous());
  EXPECT_FALSE((TensorType{DType::kFloat32, {2, 4}, {1, 2}}).is_contiguous());
}

TEST(DType, NamesRoundTrip) {
  for (int i = 0; i < kDTypeCount; ++i) {
    auto d = static_cast<DType>(i);
    EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
  }
  EXPECT_FALSE(dtype_from_name("float"));
  EXPECT_EQ(dtype_size(DType::kComplex128), 16);
}

}  // namespace
}  // namespace genie
