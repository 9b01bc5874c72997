// GraphBuilder scopes, threads, materialisation records, and clear errors.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/_native_batch_norm_legit.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include <ATen/FunctionalTensorWrapper.h>
#include <c10/core/InferenceMode.h>

#include <functional>
#include <sstream>
#include <thread>

#include "capture/capture_kernel.h"
#include "capture/device.h"
#include "capture/graph_builder.h"
#include "capture/lazy_tensor.h"
#include "graph/validate.h"
#include "support/error.h"

namespace genie {
namespace {

TEST(CaptureScope, NestsAndRestoresTheCurrentBuilder) {
  GraphBuilder* outer_default = &GraphBuilder::current();
  {
    CaptureScope a;
    EXPECT_EQ(&GraphBuilder::current(), &a.builder());
    {
      CaptureScope b;
      EXPECT_EQ(&GraphBuilder::current(), &b.builder());
      at::Tensor t = at::zeros({2}, at::TensorOptions().device(remote_accelerator()));
      EXPECT_EQ(b.builder().graph().nodes.size(), 1u);
      EXPECT_EQ(a.builder().graph().nodes.size(), 0u);
    }
    EXPECT_EQ(&GraphBuilder::current(), &a.builder());
  }
  EXPECT_EQ(&GraphBuilder::current(), outer_default);
}

TEST(CaptureScope, OperationsFollowTheirInputsGraph) {
  at::Tensor kept;
  std::shared_ptr<const Graph> graph_of_a;
  CaptureScope a;
  at::Tensor x = a.builder().add_input(at::ones({3}), "x");
  {
    CaptureScope b;
    kept = x * 2;  // recorded in a's graph: x belongs to it
    EXPECT_EQ(b.builder().graph().nodes.size(), 0u);
  }
  EXPECT_EQ(a.builder().graph().nodes.back().qualified_name(), "aten::mul.Scalar");
  EXPECT_TRUE(at::equal(kept.cpu(), at::full({3}, 2.0)));
}

TEST(CaptureScope, TwoThreadsCaptureIndependentGraphs) {
  constexpr int kOps = 2000;
  auto work = [&](double scale, std::vector<std::string>* ops, at::Tensor* result) {
    CaptureScope scope;
    at::Tensor x = scope.builder().add_input(at::ones({4}), "x");
    for (int i = 0; i < kOps; ++i) x = (i % 2) ? x * scale : x + scale;
    *result = x.cpu();
    for (const Node& n : scope.builder().graph().nodes) ops->push_back(n.qualified_name());
    graph_validate(scope.builder().graph());
  };
  std::vector<std::string> ops1, ops2;
  at::Tensor r1, r2;
  std::thread t1(work, 1.0, &ops1, &r1), t2(work, 0.5, &ops2, &r2);
  t1.join();
  t2.join();
  ASSERT_EQ(ops1.size(), size_t(kOps));
  ASSERT_EQ(ops2.size(), size_t(kOps));
  EXPECT_EQ(ops1[0], "aten::add.Scalar");
  EXPECT_EQ(ops1[1], "aten::mul.Scalar");
  EXPECT_TRUE(at::allclose(r1, at::full({4}, 1.0 + kOps / 2)));
  double expected = 1.0;
  for (int i = 0; i < kOps; ++i) expected = (i % 2) ? expected * 0.5 : expected + 0.5;
  EXPECT_TRUE(at::allclose(r2, at::full({4}, expected)));
}

TEST(Materialisation, DataDependentControlFlowIsRecorded) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::tensor({1.0f, -2.0f, 3.0f}), "x");
  at::Tensor y = x.sum().item<float>() > 0 ? x.relu() : x.neg();
  at::Tensor z = y * 2;
  EXPECT_TRUE(at::equal(z.cpu(), at::tensor({2.0f, 0.0f, 6.0f})));
  const auto& annotations = scope.builder().graph().annotations;
  ASSERT_TRUE(annotations.contains("materialized"));
  const auto& first = annotations["materialized"][0];
  EXPECT_EQ(first["op"], "aten::_local_scalar_dense");
  EXPECT_EQ(first["device"], "cpu");
  EXPECT_EQ(first["after_node"], 1);  // after the sum
  // The branch taken is what the graph holds.
  std::vector<std::string> ops;
  for (const Node& n : scope.builder().graph().nodes) ops.push_back(n.qualified_name());
  EXPECT_EQ(ops, (std::vector<std::string>{"aten::sum", "aten::relu", "aten::mul.Scalar"}));
}

TEST(Materialisation, PrintingShowsValues) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::tensor({1.5f, 2.5f}), "x");
  std::ostringstream text;
  text << (x + 1);
  EXPECT_NE(text.str().find("2.5000"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("3.5000"), std::string::npos) << text.str();
}

TEST(Materialisation, ResultsAreKeptAndReused) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::arange(6, at::kFloat), "x");
  at::Tensor y = x * 3;
  at::Tensor first = y.cpu();
  at::Tensor second = y.cpu();
  EXPECT_TRUE(at::equal(first, second));
  EXPECT_TRUE(at::equal(first, at::arange(6, at::kFloat) * 3));
}

TEST(Materialisation, DataDependentShapesAreComputed) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::tensor({0.0f, 1.0f, 0.0f, 2.0f}), "x");
  at::Tensor idx = at::nonzero(x);
  EXPECT_TRUE(is_lazy(idx));
  EXPECT_EQ(idx.sizes(), (std::vector<int64_t>{2, 1}));  // known only by running it
  const Node& node = scope.builder().graph().nodes.back();
  EXPECT_EQ(node.op, "aten::nonzero");
  EXPECT_EQ(node.annotations["shape_from"], "execution");
}

TEST(Errors, AGeneratorArgumentNamesTheOperator) {
  CaptureScope scope;
  at::Generator gen = at::detail::createCPUGenerator(7);
  try {
    at::randn({2, 2}, gen, at::TensorOptions().device(remote_accelerator()));
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    EXPECT_NE(what.find("genie: cannot capture aten::randn.generator"), std::string::npos) << what;
    EXPECT_NE(what.find("torch.Generator"), std::string::npos) << what;
  }
}

TEST(Errors, ReadingDataOfALazyTensorFailsLoudly) {
  CaptureScope scope;
  at::Tensor x = at::zeros({2}, at::TensorOptions().device(remote_accelerator()));
  at::Tensor inner = at::Tensor(c10::make_intrusive<LazyTensorImpl>(
      lazy_impl(x)->graph(), lazy_impl(x)->value(), c10::kFloat, x.sizes(), x.strides(), remote_accelerator()));
  EXPECT_THROW(inner.data_ptr(), c10::Error);
}

TEST(Errors, ShapeMismatchIsPyTorchsOwnMessage) {
  CaptureScope scope;
  at::Tensor a = scope.builder().add_input(at::ones({2, 3}), "a");
  at::Tensor b = scope.builder().add_input(at::ones({4}), "b");
  try {
    (void)(a + b);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("must match the size of tensor b"), std::string::npos)
        << e.what_without_backtrace();
  }
}

// What cannot enter a graph is named by its kind and name, with the reason and its kind.
TEST(Errors, ATensorThatCannotEnterTheGraphIsNamed) {
  CaptureScope scope;
  GraphBuilder& builder = scope.builder();
  auto error_of = [](const std::function<void()>& f) -> std::pair<ErrorKind, std::string> {
    try {
      f();
    } catch (const Error& e) {
      return {e.kind(), e.what()};
    }
    ADD_FAILURE() << "no error";
    return {ErrorKind::kUsage, ""};
  };
  EXPECT_EQ(error_of([&] { builder.add_input(at::Tensor(), "x"); }),
            std::make_pair(ErrorKind::kUsage, std::string("input \"x\": the tensor is undefined")));
  at::Tensor lazy = builder.add_input(at::ones({2}), "y");
  EXPECT_EQ(error_of([&] { builder.add_parameter(lazy, "fc.weight"); }),
            std::make_pair(ErrorKind::kUsage, std::string("parameter \"fc.weight\": the tensor is already a LazyTensor")));
  EXPECT_EQ(error_of([&] { builder.constant_for(at::ones({2, 2}).to_sparse()); }),
            std::make_pair(ErrorKind::kUnsupported, std::string("a constant: only dense (strided) tensors can enter a graph")));
  EXPECT_EQ(builder.graph().values.size(), 1u);  // only "y" entered
}

TEST(ShapeCache, RepeatedCallsHitTheCache) {
  CaptureScope scope;
  at::Tensor x = scope.builder().add_input(at::ones({8, 8}), "x");
  ShapeCacheStats before = shape_cache_stats();
  for (int i = 0; i < 100; ++i) x = x + 1;
  ShapeCacheStats after = shape_cache_stats();
  EXPECT_LE(after.misses - before.misses, 2u);
  EXPECT_GE(after.hits - before.hits, 98u);
}

// Without functionalization (how model_capture runs a model first): in-place operators and
// views are recorded as functionalization records them, and a write that has to reach another
// tensor's memory asks for functionalization instead of being recorded wrong.
TEST(WithoutFunctionalization, InPlaceAndViewsAreRecordedAsValues) {
  auto model = [](const at::Tensor& x) {
    at::Tensor y = x * 2 - 5;
    y.add_(1).relu_();                                    // rebound: add, relu
    at::Tensor v = y.t().unsqueeze(0).expand({2, 3, 2});  // t_copy, unsqueeze_copy, expand_copy
    return v.sum(0).detach();                             // detach_copy
  };
  const at::Tensor real = at::arange(6, at::kFloat).reshape({2, 3});
  c10::InferenceMode inference;
  CaptureScope scope;
  scope.builder().set_functionalize(false);
  at::Tensor x = scope.builder().add_input(real, "x");
  EXPECT_FALSE(at::functionalization::impl::isFunctionalTensor(x));
  at::Tensor y = model(x);
  EXPECT_TRUE(at::equal(y.cpu(), model(real)));
  EXPECT_FALSE(scope.builder().functionalization_needed());
  std::vector<std::string> ops;
  for (const Node& n : scope.builder().graph().nodes) ops.push_back(n.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"aten::mul", "aten::sub", "aten::add", "aten::relu", "aten::t_copy",
                                           "aten::unsqueeze_copy", "aten::expand_copy", "aten::sum", "aten::detach_copy"}));
}

TEST(WithoutFunctionalization, AWriteThroughAViewAsksForIt) {
  c10::InferenceMode inference;
  for (int write_into_base = 0; write_into_base < 2; ++write_into_base) {
    CaptureScope scope;
    scope.builder().set_functionalize(false);
    at::Tensor y = scope.builder().add_input(at::zeros({2, 3}), "x") * 1;
    at::Tensor row = y.select(0, 0);
    try {
      (write_into_base ? y : row).fill_(5);
      FAIL() << "the write was recorded without functionalization";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find("aten::fill_.Scalar"), std::string::npos)
          << e.what_without_backtrace();
    }
    EXPECT_TRUE(scope.builder().functionalization_needed());
  }
  // With it, the same write reaches the base.
  CaptureScope scope;
  at::Tensor y = scope.builder().add_input(at::zeros({2, 3}), "x") * 1;
  y.select(0, 0).fill_(5);
  EXPECT_TRUE(at::equal(y.cpu(), at::tensor({5.f, 5.f, 5.f, 0.f, 0.f, 0.f}).reshape({2, 3})));
}

// In-place operators that change their tensor's shape (t_, squeeze_, unsqueeze_) or whose
// functional form promotes the dtype (a float16 add_ of a float32 tensor, cast back in place)
// cannot be recorded by rebinding: they ask for functionalization, which records them
// exactly. Before, the graph kept the old shape or the promoted dtype, silently.
TEST(WithoutFunctionalization, InPlaceShapeOrDtypeChangesAskForIt) {
  using Case = std::function<at::Tensor(const at::Tensor&)>;
  const std::vector<std::pair<std::string, Case>> cases = {
      {"aten::t_", [](const at::Tensor& x) { at::Tensor y = x + 1; y.t_(); return y.reshape({y.size(0), -1}); }},
      {"aten::squeeze_", [](const at::Tensor& x) { at::Tensor y = x.unsqueeze(0) + 1; y.squeeze_(0); return y * 2; }},
      {"aten::unsqueeze_", [](const at::Tensor& x) { at::Tensor y = x + 1; y.unsqueeze_(0); return y * 2; }},
      {"aten::add_", [](const at::Tensor& x) {
         at::Tensor y = x.to(at::kHalf) * 1;
         y.add_(x * 0.5);  // float32 into float16: the result stays float16
         return y * 3;
       }},
  };
  const at::Tensor real = at::arange(12, at::kFloat).reshape({3, 4});
  c10::InferenceMode inference;
  for (const auto& [op, model] : cases) {
    SCOPED_TRACE(op);
    {
      CaptureScope scope;
      scope.builder().set_functionalize(false);
      at::Tensor x = scope.builder().add_input(real, "x");
      try {
        model(x);
        FAIL() << "recorded without functionalization";
      } catch (const c10::Error& e) {
        EXPECT_NE(std::string(e.what_without_backtrace()).find(op), std::string::npos) << e.what_without_backtrace();
      }
      EXPECT_TRUE(scope.builder().functionalization_needed());
    }
    CaptureScope scope;
    at::Tensor y = model(scope.builder().add_input(real, "x"));
    at::Tensor want = model(real);
    EXPECT_EQ(y.sizes(), want.sizes());
    EXPECT_EQ(y.scalar_type(), want.scalar_type());
    EXPECT_TRUE(at::equal(y.cpu(), want));
  }
}

// Under functionalization an operator that writes into an argument it does not return
// (batch norm's running statistics) arrives in its functional form; one called below
// functionalization all the same is refused, not recorded as a node genie-run would refuse.
TEST(WithFunctionalization, AWriteIntoAnArgumentItDoesNotReturnIsRefused) {
  c10::InferenceMode inference;
  CaptureScope scope;
  ASSERT_TRUE(scope.builder().functionalize());
  auto lazy = [&](const char* name, const at::Tensor& real) {
    return at::functionalization::impl::from_functional_tensor(scope.builder().add_input(real, name));
  };
  at::Tensor x = lazy("x", at::randn({2, 3, 4})), mean = lazy("mean", at::zeros({3})), var = lazy("var", at::ones({3}));
  const size_t before = scope.builder().graph().nodes.size();
  try {
    at::_native_batch_norm_legit(x, {}, {}, mean, var, true, 0.1, 1e-5);
    FAIL() << "a write into the running statistics was recorded";
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    EXPECT_NE(what.find("aten::_native_batch_norm_legit"), std::string::npos) << what;
    EXPECT_NE(what.find("writes into an argument it does not return"), std::string::npos) << what;
  }
  EXPECT_EQ(scope.builder().graph().nodes.size(), before);
  EXPECT_FALSE(scope.builder().functionalization_needed());
}

TEST(Registration, CompositeOperatorsAreRoutedToCapture) {
  // LIBTORCH-NOTES: structured/composite ops bypass a backend fallback unless registered.
  auto op = c10::Dispatcher::singleton().findSchema({"aten::add", "Tensor"});
  ASSERT_TRUE(op.has_value());
  EXPECT_TRUE(op->hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1));
  auto conv = c10::Dispatcher::singleton().findSchema({"aten::convolution", ""});
  EXPECT_TRUE(conv->hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1));
}

}  // namespace
}  // namespace genie

namespace genie {
namespace {

TEST(BackingDevice, MaterialisesOnCudaWhenAsked) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device on this machine";
  ExecOptions options;
  options.device = c10::Device("cuda:0");
  CaptureScope scope(options);
  at::Tensor x = scope.builder().add_input(at::arange(4, at::kFloat), "x");
  at::Tensor y = (x * 2).exp();
  at::Tensor real = scope.builder().materialize(y);
  EXPECT_TRUE(real.is_cuda());
  EXPECT_TRUE(at::allclose(real.cpu(), (at::arange(4, at::kFloat) * 2).exp()));
  EXPECT_EQ(scope.builder().graph().annotations.is_null(), true);
}

TEST(BackingDevice, BadEnvironmentValueIsAClearError) {
  ::setenv("GENIE_BACKING_DEVICE", "gpu0", 1);
  try {
    GraphBuilder::default_options();
    ::unsetenv("GENIE_BACKING_DEVICE");
    FAIL();
  } catch (const Error& e) {
    ::unsetenv("GENIE_BACKING_DEVICE");
    EXPECT_STREQ(e.what(), "GENIE_BACKING_DEVICE=gpu0 is not a device (expected cpu or cuda:N)");
  }
  ::setenv("GENIE_BACKING_DEVICE", "cuda:1", 1);
  EXPECT_EQ(GraphBuilder::default_options().device, c10::Device("cuda:1"));
  ::unsetenv("GENIE_BACKING_DEVICE");
}

}  // namespace
}  // namespace genie
