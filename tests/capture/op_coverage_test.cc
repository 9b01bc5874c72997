// Operator by operator: each case runs eagerly on the CPU and on LazyTensors; the captured
// graph must (1) materialise to the eager result, (2) replay from the graph alone to the same
// result, (3) validate and survive a JSON round trip. A broad sample of ATen: elementwise,
// reductions, views, indexing, in-place, writes through views, matmul/conv/norm, factories,
// and int/bool/half dtypes.
#include <ATen/Context.h>
#include <ATen/TensorIndexing.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/adaptive_avg_pool2d.h>
#include <ATen/ops/add.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/avg_pool2d.h>
#include <ATen/ops/batch_norm.h>
#include <ATen/ops/bitwise_and.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/conv1d.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/floor_divide.h>
#include <ATen/ops/full.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/group_norm.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/logical_and.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/scaled_dot_product_attention.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include "capture/device.h"
#include "capture/graph_builder.h"
#include "capture/lazy_tensor.h"
#include "exec/plan.h"
#include "graph/json_codec.h"
#include "graph/validate.h"

namespace genie {
namespace {

using at::Tensor;
using Inputs = std::vector<Tensor>;
using namespace at::indexing;

struct OpCase {
  std::string name;
  std::function<Inputs()> make_inputs;
  std::function<Tensor(Inputs&)> fn;
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

Tensor f(std::vector<int64_t> shape) { return at::randn(shape); }
Tensor pos(std::vector<int64_t> shape) { return at::rand(shape) + 0.5; }
Tensor longs(std::vector<int64_t> values, std::vector<int64_t> shape = {}) {
  Tensor t = at::tensor(values, at::kLong);
  return shape.empty() ? t : t.view(shape);
}
Tensor ints(std::vector<int64_t> shape, int64_t hi = 10) { return at::randint(1, hi, shape, at::kLong); }

std::vector<OpCase> cases() {
  return {
      // elementwise
      {"add", [] { return Inputs{f({3, 4}), f({3, 4})}; }, [](Inputs& v) { return v[0] + v[1]; }},
      {"add_broadcast_alpha", [] { return Inputs{f({3, 4}), f({4})}; }, [](Inputs& v) { return at::add(v[0], v[1], 2.5); }},
      {"sub_scalar", [] { return Inputs{f({5})}; }, [](Inputs& v) { return v[0] - 3; }},
      {"mul_div", [] { return Inputs{f({2, 3}), pos({2, 3})}; }, [](Inputs& v) { return v[0] * v[1] / (v[1] + 1); }},
      {"unary_chain", [] { return Inputs{pos({4, 4})}; },
       [](Inputs& v) { return v[0].log().exp().sqrt().neg().abs().tanh().sigmoid().sin(); }},
      {"relu_gelu_silu", [] { return Inputs{f({8})}; }, [](Inputs& v) { return at::gelu(v[0]) + at::relu(v[0]) + at::silu(v[0]); }},
      {"clamp_where_pow", [] { return Inputs{f({6}), f({6})}; },
       [](Inputs& v) { return at::where(v[0] > 0, v[0].clamp(-0.5, 0.5), v[1].pow(2)); }},
      {"maximum_erf", [] { return Inputs{f({3, 3}), f({3, 3})}; }, [](Inputs& v) { return at::maximum(v[0], v[1]).erf(); }},
      {"python_scalar_promotion", [] { return Inputs{ints({4})}; }, [](Inputs& v) { return v[0] * 1.5; }},
      // reductions
      {"sum_mean", [] { return Inputs{f({3, 4, 5})}; }, [](Inputs& v) { return v[0].sum() + v[0].mean({1}).sum(); }},
      {"amax_argmax", [] { return Inputs{f({4, 6})}; }, [](Inputs& v) { return v[0].amax(1) + v[0].argmax(1).to(at::kFloat); }},
      {"std_var_prod", [] { return Inputs{f({3, 5})}; }, [](Inputs& v) { return v[0].std(1) + v[0].var(0).sum() + v[0].prod(1); }},
      {"softmax_logsumexp", [] { return Inputs{f({2, 7})}; },
       [](Inputs& v) { return at::softmax(v[0], -1) + at::log_softmax(v[0], 0) + at::logsumexp(v[0], {1}, true); }},
      {"cumsum_topk_sort", [] { return Inputs{f({3, 8})}; },
       [](Inputs& v) { return v[0].cumsum(1).index({Slice(), Slice(None, 3)}) + std::get<0>(v[0].topk(3)) + std::get<0>(v[0].sort(1)).narrow(1, 0, 3); }},
      // views
      {"transpose_permute_reshape", [] { return Inputs{f({2, 3, 4})}; },
       [](Inputs& v) { return v[0].transpose(0, 1).permute({2, 0, 1}).reshape({4, 6}).t().contiguous(); }},
      {"view_flatten_unsqueeze", [] { return Inputs{f({2, 3, 4})}; },
       [](Inputs& v) { return v[0].view({6, 4}).flatten().unsqueeze(0).squeeze(0).expand({2, 24}); }},
      {"select_narrow_slice", [] { return Inputs{f({5, 6})}; },
       [](Inputs& v) { return v[0].select(0, 2) + v[0].narrow(0, 1, 1).squeeze(0) + v[0].index({3, Slice(None, None, 1)}); }},
      {"chunk_split_unbind", [] { return Inputs{f({6, 4})}; },
       [](Inputs& v) { return v[0].chunk(3)[1] + v[0].split(2)[2] + at::stack(v[0].unbind(0)).narrow(0, 0, 2); }},
      {"cat_stack_flip_roll", [] { return Inputs{f({2, 3}), f({2, 3})}; },
       [](Inputs& v) { return at::cat({v[0], v[1].flip(1)}, 0).roll(1, 0) + at::stack({v[0], v[1]}).sum(0).repeat({2, 1}); }},
      {"tril_triu", [] { return Inputs{f({4, 4})}; }, [](Inputs& v) { return v[0].tril() - v[0].triu(1); }},
      // indexing
      {"index_select_gather", [] { return Inputs{f({5, 4}), longs({4, 0, 2})}; },
       [](Inputs& v) { return v[0].index_select(0, v[1]) + v[0].gather(0, v[1].unsqueeze(1).expand({3, 4})); }},
      {"advanced_index", [] { return Inputs{f({5, 4}), longs({1, 3})}; },
       [](Inputs& v) { return v[0].index({v[1]}) * 2; }},
      {"masked_fill", [] { return Inputs{f({4, 4})}; }, [](Inputs& v) { return v[0].masked_fill(v[0] < 0, -1.0); }},
      {"masked_select_nonzero", [] { return Inputs{f({4, 5})}; },
       [](Inputs& v) { return v[0].masked_select(v[0] > 0).sum() + at::nonzero(v[0] > 0).sum().to(at::kFloat); }},
      {"scatter_add", [] { return Inputs{at::zeros({3, 5}), f({2, 5}), longs({0, 1, 2, 0, 0, 2, 0, 0, 1, 2}, {2, 5})}; },
       [](Inputs& v) { return v[0].scatter_add(0, v[2], v[1]); }},
      // in-place and writes through views
      {"in_place_chain", [] { return Inputs{f({3, 3})}; },
       [](Inputs& v) { Tensor t = v[0] * 1; t.add_(1).mul_(2).clamp_(-1, 3).relu_(); return t; }},
      {"write_into_input", [] { return Inputs{f({3, 3}), f({3, 3})}; },
       [](Inputs& v) { v[0].add_(v[1]); return v[0] * 1; }},
      {"slice_add_", [] { return Inputs{f({4, 8})}; },
       [](Inputs& v) { v[0].index({Slice(), Slice(None, 4)}) += 1; return v[0] + 0; }},
      {"narrow_mul_", [] { return Inputs{f({4, 8})}; }, [](Inputs& v) { v[0].narrow(1, 4, 2).mul_(2); return v[0] + 0; }},
      {"masked_fill_", [] { return Inputs{f({4, 4})}; }, [](Inputs& v) { v[0].masked_fill_(v[0] > 0.5, 0.0); return v[0] + 0; }},
      {"index_put_", [] { return Inputs{f({5, 3}), longs({0, 4})}; },
       [](Inputs& v) { v[0].index_put_({v[1]}, at::ones({3})); return v[0] + 0; }},
      {"write_through_transpose", [] { return Inputs{f({3, 4})}; },
       [](Inputs& v) { Tensor w = v[0].transpose(0, 1); w.select(0, 0).copy_(w.select(0, 1)); return v[0] + 0; }},
      {"zero_fill_copy", [] { return Inputs{f({2, 5}), f({2, 5})}; },
       [](Inputs& v) { Tensor t = v[0] * 1; t.zero_(); t.narrow(1, 0, 2).fill_(3.0); t.narrow(1, 2, 3).copy_(v[1].narrow(1, 0, 3)); return t; }},
      // matmul, conv, norm
      {"mm_bmm_matmul", [] { return Inputs{f({2, 3, 4}), f({2, 4, 5}), f({5, 2})}; },
       [](Inputs& v) { return at::bmm(v[0], v[1]).matmul(v[2]) + at::mm(v[0][0], v[1][0]).sum(); }},
      {"linear_addmm", [] { return Inputs{f({3, 8}), f({4, 8}), f({4})}; },
       [](Inputs& v) { return at::linear(v[0], v[1], v[2]) + at::addmm(v[2], v[0], v[1].t()); }},
      {"conv2d_pool", [] { return Inputs{f({1, 3, 10, 10}), f({6, 3, 3, 3}), f({6})}; },
       [](Inputs& v) {
         Tensor y = at::conv2d(v[0], v[1], v[2], {1, 1}, {1, 1});
         return at::max_pool2d(y, {2, 2}) + at::avg_pool2d(y, {2, 2}) + at::adaptive_avg_pool2d(y, {5, 5});
       }},
      {"conv1d_grouped_strided", [] { return Inputs{f({2, 4, 16}), f({8, 2, 3})}; },
       [](Inputs& v) { return at::conv1d(v[0], v[1], {}, {2}, {1}, {1}, 2); }},
      {"batch_norm_eval", [] { return Inputs{f({2, 3, 4, 4}), pos({3}), pos({3}), f({3}), f({3})}; },
       [](Inputs& v) { return at::batch_norm(v[0], v[3], v[4], v[1], v[2], false, 0.1, 1e-5, false); }},
      {"layer_group_norm", [] { return Inputs{f({2, 4, 6}), f({6}), f({6})}; },
       [](Inputs& v) { return at::layer_norm(v[0], {6}, v[1], v[2]) + at::group_norm(v[0], 2).sum(); }},
      {"embedding", [] { return Inputs{f({10, 4}), longs({1, 2, 9, 0}, {2, 2})}; },
       [](Inputs& v) { return at::embedding(v[0], v[1]); }},
      {"scaled_dot_product_attention", [] { return Inputs{f({1, 2, 5, 8}), f({1, 2, 5, 8}), f({1, 2, 5, 8})}; },
       [](Inputs& v) { return at::scaled_dot_product_attention(v[0], v[1], v[2], {}, 0.0, true); }},
      // factories on the device
      {"factories", [] { return Inputs{f({3, 4})}; },
       [](Inputs& v) {
         auto dev = at::TensorOptions().device(v[0].device());
         return v[0] + at::zeros({3, 4}, dev) + at::ones({4}, dev) + at::full({3, 1}, 2.0, dev) +
                at::arange(4, dev.dtype(at::kFloat)) + at::eye(3, 4, dev) + at::ones_like(v[0]);
       }},
      // dtypes
      {"int_ops", [] { return Inputs{ints({6}), ints({6})}; },
       [](Inputs& v) { return at::floor_divide(v[0], v[1]) + v[0].remainder(3) + at::bitwise_and(v[0], v[1]) + v[0] * v[1]; }},
      {"int32_sum_promotes", [] { return Inputs{ints({6}).to(at::kInt)}; }, [](Inputs& v) { return v[0].sum(); }},
      {"bool_logic", [] { return Inputs{f({8}), f({8})}; },
       [](Inputs& v) { return at::logical_and(v[0] > 0, v[1] < 0).logical_or(v[0].eq(v[1])).logical_not(); }},
      {"half", [] { return Inputs{f({4, 4}).to(at::kHalf), f({4, 4}).to(at::kHalf)}; },
       [](Inputs& v) { return (v[0] + v[1] * 2).relu(); }},
      {"casts", [] { return Inputs{f({5})}; },
       [](Inputs& v) { return v[0].to(at::kHalf).to(at::kDouble) + v[0].to(at::kLong).to(at::kDouble); }},
      {"bfloat16_matmul", [] { return Inputs{f({4, 8}).to(at::kBFloat16), f({8, 2}).to(at::kBFloat16)}; },
       [](Inputs& v) { return v[0].matmul(v[1]); }},
  };
}

class OpCoverage : public ::testing::TestWithParam<OpCase> {};

void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_FALSE(is_lazy(got)) << what;
  ASSERT_EQ(got.scalar_type(), want.scalar_type()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  if (want.is_floating_point())
    EXPECT_TRUE(at::allclose(got.to(at::kDouble), want.to(at::kDouble), 1e-5, 1e-6))
        << what << ": max abs diff " << (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  else
    EXPECT_TRUE(at::equal(got, want)) << what;
}

TEST_P(OpCoverage, CaptureReplayEqualsEager) {
  const OpCase& c = GetParam();
  at::manual_seed(0);
  Inputs inputs = c.make_inputs();
  Inputs eager_inputs;
  for (const Tensor& t : inputs) eager_inputs.push_back(t.clone());
  Tensor eager = c.fn(eager_inputs);

  CaptureScope scope;
  GraphBuilder& builder = scope.builder();
  Inputs lazy;
  for (size_t i = 0; i < inputs.size(); ++i) lazy.push_back(builder.add_input(inputs[i].clone(), "in" + std::to_string(i)));
  Tensor out = c.fn(lazy);
  ASSERT_TRUE(is_lazy(out)) << "the result should be a LazyTensor";
  EXPECT_EQ(out.sizes(), eager.sizes());
  EXPECT_EQ(out.scalar_type(), eager.scalar_type());
  builder.add_output("out", out);

  // The graph alone replays to the eager result (no memoised values used).
  Graph graph = builder.graph();
  graph_validate(graph);
  Graph reread = graph_from_json(graph_to_json(graph), "captured.json");
  std::vector<Tensor> replayed = graph_run(reread, ExecOptions{}, [&](ValueId v) { return builder.stored_tensor(v); });
  ASSERT_EQ(replayed.size(), 1u);
  expect_same(replayed[0], eager, "replay");
  // Materialising gives it too.
  expect_same(out.cpu(), eager, "materialise");
}

INSTANTIATE_TEST_SUITE_P(Aten, OpCoverage, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; });

}  // namespace
}  // namespace genie
