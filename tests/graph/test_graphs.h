// Small graphs the graph-layer tests share: built by hand so each test states what it has.
#pragma once

#include "graph/graph.h"

namespace genie::testing {

inline TensorType f32(std::vector<int64_t> shape) { return TensorType{DType::kFloat32, std::move(shape), {}}; }

// x -> conv2d(weight, bias) -> relu -> add(x) : one of everything the format holds.
inline Graph small_cnn() {
  Graph g;
  g.annotations = {{"producer", "test"}};
  ValueId x = g.add_input("x", f32({1, 4, 8, 8}));
  ValueId w = g.add_parameter("conv.weight", f32({4, 4, 3, 3}));
  ValueId b = g.add_parameter("conv.bias", f32({4}));
  ValueId mean = g.add_parameter("bn.running_mean", f32({4}), Residency::kBuffer);
  ValueId conv = g.add_value(f32({1, 4, 8, 8}));
  ValueId relu = g.add_value(f32({1, 4, 8, 8}));
  ValueId sum = g.add_value(f32({1, 4, 8, 8}));
  ValueId transposed = g.add_value(TensorType{DType::kFloat32, {1, 4, 8, 8}, {256, 1, 32, 4}});
  ValueId part_a = g.add_value(f32({1, 2, 8, 8}));
  ValueId part_b = g.add_value(f32({1, 2, 8, 8}));

  Node n;
  n.op = "aten::conv2d";
  n.scope = "conv";
  n.module_type = "Conv2d";
  n.inputs = {{"input", TensorRef{x}},       {"weight", TensorRef{w}},       {"bias", TensorRef{b}},
              {"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{1, 1}},
              {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}}};
  n.outputs = {{{conv}, false}};
  g.add_node(n);

  Node r;
  r.op = "aten::relu";
  r.scope = "act";
  r.module_type = "ReLU";
  r.inputs = {{"self", TensorRef{conv}}};
  r.outputs = {{{relu}, false}};
  r.annotations = {{"matches", {{{"pattern", "conv_relu"}, {"role", "act"}}}}};
  g.add_node(r);

  Node a;
  a.op = "aten::add";
  a.overload = "Tensor";
  a.inputs = {{"self", TensorRef{relu}}, {"other", TensorRef{x}}, {"alpha", int64_t{1}}};
  a.outputs = {{{sum}, false}};
  g.add_node(a);

  Node t;
  t.op = "aten::permute_copy";
  t.inputs = {{"self", TensorRef{sum}}, {"dims", std::vector<int64_t>{0, 1, 2, 3}}};
  t.outputs = {{{transposed}, false}};
  g.add_node(t);

  Node s;
  s.op = "aten::split_with_sizes";
  s.inputs = {{"self", TensorRef{transposed}},
              {"split_sizes", std::vector<int64_t>{2, 2}},
              {"dim", int64_t{1}}};
  s.outputs = {{{part_a, part_b}, true}};
  g.add_node(s);

  // Every remaining argument kind, on an op that reads the running mean.
  ValueId misc = g.add_value(TensorType{DType::kFloat16, {4}, {}});
  Node m;
  m.op = "test::every_kind";
  m.inputs = {{"none", std::monostate{}},
              {"list", TensorListRef{{part_a, kNoValue, mean}}},
              {"f", 0.1},
              {"fs", std::vector<double>{1.0, -2.5e-300, 3.0}},
              {"inf", std::numeric_limits<double>::infinity()},
              {"b", true},
              {"bs", std::vector<bool>{true, false}},
              {"s", std::string("tanh \"approx\"\n\xc3\xa9")},
              {"dtype", DType::kBFloat16},
              {"layout", Layout::kStrided},
              {"device", Device{"cuda:0"}},
              {"memory_format", MemoryFormat::kChannelsLast},
              {"c", std::complex<double>(1.5, -2.0)},
              {"big", int64_t{-9007199254740993}}};
  m.outputs = {{{misc}, false}};
  g.add_node(m);

  g.add_output("out", part_b);
  g.add_output("misc", misc);
  g.add_output("out_again", part_b);
  return g;
}

// A chain x -> relu -> relu -> ... of `length` nodes.
inline Graph chain(size_t length) {
  Graph g;
  ValueId prev = g.add_input("x", f32({16}));
  g.values.reserve(length + 1);
  g.nodes.reserve(length);
  for (size_t i = 0; i < length; ++i) {
    ValueId next = g.add_value(f32({16}));
    Node n;
    n.op = "aten::relu";
    n.scope = "";
    n.inputs = {{"self", TensorRef{prev}}};
    n.outputs = {{{next}, false}};
    g.add_node(std::move(n));
    prev = next;
  }
  g.add_output("y", prev);
  return g;
}

}  // namespace genie::testing
