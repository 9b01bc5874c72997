#include "graph/tensor_type.h"

#include <gtest/gtest.h>

#include "support/error.h"

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

namespace genie {
namespace {

TEST(TensorSpec, ParsesTheCommandLineSpelling) {
  TensorType t = tensor_type_parse("1x3x224x224");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  EXPECT_EQ(t.dtype, DType::kFloat32);
  EXPECT_EQ(tensor_type_parse("1x128:int64").dtype, DType::kInt64);
  EXPECT_TRUE(tensor_type_parse("scalar:float64").shape.empty());
  EXPECT_EQ(tensor_type_spec(tensor_type_parse("2x0x5:bool")), "2x0x5:bool");
}

TEST(TensorSpec, BadSpecsSayWhatWasExpected) {
  for (const char* bad : {"", "1x", "x3", "1xax3", "1x3:float", "-1x3", "1x3:", "99999999999999999999",
                          "4611686018427387904x4"}) {
    try {
      tensor_type_parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_NE(std::string(e.what()).find("expected sizes like 1x3x224x224"), std::string::npos) << e.what();
    }
  }
  try {
    tensor_type_parse("1x3:float");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "input spec \"1x3:float\": unknown dtype \"float\" (expected sizes like 1x3x224x224, "
                           "optionally :dtype such as :int64)");
  }
}

}  // namespace
}  // namespace genie
