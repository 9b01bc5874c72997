// Which operators a client's graph may run on genie-serve.
#include <gtest/gtest.h>

#include "remote/operator_policy.h"

namespace genie::remote {
namespace {

TEST(OperatorPolicy, OnlyAtenOperatorsThatStayWithinTheirTensors) {
  for (const char* op : {"aten::add", "aten::_convolution", "aten::scaled_dot_product_attention", "aten::empty",
                         "aten::_assert_async", "aten::einsum"})
    EXPECT_EQ(operator_refusal(op), "") << op;
  EXPECT_NE(operator_refusal("genie::relu").find("not an ATen operator"), std::string::npos);
  EXPECT_NE(operator_refusal("c10d::allreduce_").find("not an ATen operator"), std::string::npos);
  EXPECT_NE(operator_refusal("aten").find("not an ATen operator"), std::string::npos);
  EXPECT_NE(operator_refusal("aten::from_file").find("files on the server"), std::string::npos);
  EXPECT_NE(operator_refusal("aten::_print").find("the server's output"), std::string::npos);
  EXPECT_NE(operator_refusal("aten::_cufft_set_plan_cache_max_size").find("every client"), std::string::npos);
  EXPECT_NE(operator_refusal("aten::_cufft_clear_plan_cache").find("every client"), std::string::npos);
  for (const char* op : {"aten::resize", "aten::resize_as", "aten::_resize_output", "aten::_empty_affine_quantized",
                         "aten::empty_quantized"})
    EXPECT_NE(operator_refusal(op).find("as the allocator found it"), std::string::npos) << op;
  EXPECT_EQ(operator_refusal("aten::from_filex"), "");  // names match whole
}

}  // namespace
}  // namespace genie::remote
