// Graphs for the pattern tests and benchmark, built by hand so each test states what it
// has: a small builder, and a synthetic BERT-like encoder whose layers have exactly the
// operators genie-capture recorded for a BertLayer, decomposed (54 nodes, docs/patterns.md).
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace genie::testing {

inline Argument T(ValueId v, std::string name = "") {
  return Argument{std::move(name), TensorRef{v}};
}
inline Argument A(std::string name, ArgValue value) {
  return Argument{std::move(name), std::move(value)};
}
inline Argument Ints(std::string name, std::vector<int64_t> v) {
  return Argument{std::move(name), std::move(v)};
}

class GraphMaker {
 public:
  ValueId input(const std::string& name, std::vector<int64_t> shape, DType dtype = DType::kFloat32) {
    return graph.add_input(name, TensorType{dtype, std::move(shape), {}});
  }
  ValueId param(const std::string& name, std::vector<int64_t> shape, Residency residency = Residency::kParameter) {
    return graph.add_parameter(name, TensorType{DType::kFloat32, std::move(shape), {}}, residency);
  }
  // A node of `qualified` ("aten::add.Tensor") with `outputs` outputs of `shape`; returns
  // its first output.
  ValueId op(const std::string& qualified, std::vector<Argument> args, std::vector<int64_t> shape,
             const std::string& scope = "", int outputs = 1, DType dtype = DType::kFloat32) {
    Node n;
    size_t sep = qualified.find("::");
    size_t dot = qualified.find('.', sep);
    n.op = qualified.substr(0, dot);
    if (dot != std::string::npos) n.overload = qualified.substr(dot + 1);
    n.inputs = std::move(args);
    n.scope = scope;
    ValueId first = kNoValue;
    for (int i = 0; i < outputs; ++i) {
      ValueId v = graph.add_value(TensorType{dtype, shape, {}});
      if (i == 0) first = v;
      n.outputs.push_back({{v}, false});
    }
    last = graph.add_node(std::move(n));
    return first;
  }
  ValueId output_of(NodeId n, uint32_t slot) const { return graph.nodes[n].outputs[slot].values[0]; }
  void output(const std::string& name, ValueId v) { graph.add_output(name, v); }

  // Shorthands for the operators the tests use most.
  ValueId unary(const std::string& op, ValueId x, const std::vector<int64_t>& shape, const std::string& scope = "") {
    return this->op(op, {T(x, "self")}, shape, scope);
  }
  ValueId binary(const std::string& op, ValueId a, ValueId b, const std::vector<int64_t>& shape,
                 const std::string& scope = "") {
    return this->op(op, {T(a, "self"), T(b, "other")}, shape, scope);
  }
  ValueId conv(ValueId x, const std::string& scope, int64_t channels, std::vector<int64_t> out_shape) {
    ValueId w = param(scope + ".weight", {channels, graph.values[x].type.shape[1], 3, 3});
    return op(
        "aten::_convolution",
        {T(x, "input"), T(w, "weight"), A("bias", std::monostate{}), Ints("stride", {1, 1}), Ints("padding", {1, 1}),
         Ints("dilation", {1, 1}), A("transposed", false), Ints("output_padding", {0, 0}), A("groups", int64_t{1})},
        std::move(out_shape), scope);
  }
  ValueId batch_norm(ValueId x, const std::string& scope) {
    int64_t c = graph.values[x].type.shape[1];
    return op("aten::native_batch_norm",
              {T(x, "input"), T(param(scope + ".weight", {c}), "weight"), T(param(scope + ".bias", {c}), "bias"),
               T(param(scope + ".running_mean", {c}, Residency::kBuffer), "running_mean"),
               T(param(scope + ".running_var", {c}, Residency::kBuffer), "running_var"), A("training", false),
               A("momentum", 0.1), A("eps", 1e-5)},
              graph.values[x].type.shape, scope, 3);
  }
  ValueId linear(ValueId x, const std::string& scope, int64_t out_features) {
    std::vector<int64_t> shape = graph.values[x].type.shape;
    ValueId w = param(scope + ".weight", {out_features, shape.back()});
    ValueId b = param(scope + ".bias", {out_features});
    shape.back() = out_features;
    return op("aten::linear", {T(x, "input"), T(w, "weight"), T(b, "bias")}, shape, scope);
  }

  Graph graph;
  NodeId last = kNoNode;
};

// A BERT-like encoder: word, token-type and position embeddings, their layer norm, then
// `layers` layers "encoder.N", each the 54 operators genie-capture recorded for a BertLayer
// with its linears and attention decomposed (query/key/value projections as
// view+t+addmm+view, heads split with view_copy and
// transpose_copy, q and k scaled by mul, QK^T by bmm, + mask, _safe_softmax, .V by bmm, the
// output projection, residual add, native_layer_norm, then an intermediate
// addmm+gelu, output addmm, residual add and layer norm). 6 + 54 * layers nodes.
inline Graph synthetic_transformer(size_t layers, int64_t seq = 16, int64_t hidden = 64, int64_t heads = 4,
                                   int64_t ffn = 128) {
  GraphMaker g;
  const int64_t hd = hidden / heads;
  g.graph.nodes.reserve(6 + 54 * layers);
  g.graph.values.reserve(20 + 90 * layers);
  ValueId ids = g.input("input_ids", {1, seq}, DType::kInt64);
  ValueId types = g.input("token_type_ids", {1, seq}, DType::kInt64);
  ValueId mask = g.input("mask", {1, 1, seq, seq});
  ValueId positions = g.param("embeddings.position_ids", {1, seq}, Residency::kBuffer);
  auto embedding = [&](const std::string& name, ValueId indices, int64_t rows) {
    ValueId table = g.param("embeddings." + name + ".weight", {rows, hidden});
    return g.op("aten::embedding",
                {T(table, "weight"), T(indices, "indices"), A("padding_idx", int64_t{-1}),
                 A("scale_grad_by_freq", false), A("sparse", false)},
                {1, seq, hidden}, "embeddings." + name);
  };
  auto layer_norm = [&](ValueId x, const std::string& scope) {
    ValueId w = g.param(scope + ".weight", {hidden});
    ValueId b = g.param(scope + ".bias", {hidden});
    return g.op("aten::native_layer_norm",
                {T(x, "input"), Ints("normalized_shape", {hidden}), T(w, "weight"), T(b, "bias"), A("eps", 1e-12)},
                {1, seq, hidden}, scope, 3);
  };
  auto dense = [&](ValueId x, const std::string& scope, int64_t in, int64_t out) {
    ValueId flat = g.op("aten::view", {T(x, "self"), Ints("size", {seq, in})}, {seq, in}, scope);
    ValueId w = g.param(scope + ".weight", {out, in});
    ValueId b = g.param(scope + ".bias", {out});
    ValueId wt = g.op("aten::t", {T(w, "self")}, {in, out}, scope);
    ValueId mm = g.op("aten::addmm",
                      {T(b, "self"), T(flat, "mat1"), T(wt, "mat2"), A("beta", int64_t{1}), A("alpha", int64_t{1})},
                      {seq, out}, scope);
    return g.op("aten::view", {T(mm, "self"), Ints("size", {1, seq, out})}, {1, seq, out}, scope);
  };
  ValueId words = embedding("word_embeddings", ids, 1000);
  ValueId token_types = embedding("token_type_embeddings", types, 2);
  ValueId e = g.binary("aten::add.Tensor", words, token_types, {1, seq, hidden}, "embeddings");
  ValueId position = embedding("position_embeddings", positions, 512);
  e = g.binary("aten::add.Tensor", e, position, {1, seq, hidden}, "embeddings");
  ValueId h = layer_norm(e, "embeddings.LayerNorm");
  for (size_t l = 0; l < layers; ++l) {
    const std::string s = "encoder." + std::to_string(l);
    const std::string self = s + ".attention.self";
    auto heads_of = [&](const std::string& name) {
      ValueId x = dense(h, self + "." + name, hidden, hidden);
      x = g.op("aten::view_copy", {T(x, "self"), Ints("size", {1, -1, heads, hd})}, {1, seq, heads, hd}, self);
      return g.op("aten::transpose_copy.int", {T(x, "self"), A("dim0", int64_t{1}), A("dim1", int64_t{2})},
                  {1, heads, seq, hd}, self);
    };
    ValueId q = heads_of("query"), k = heads_of("key"), v = heads_of("value");
    auto scalar_mul = [&](ValueId x, const std::vector<int64_t>& shape) {
      return g.op("aten::mul.Scalar", {T(x, "self"), A("other", 0.5)}, shape, self);
    };
    auto expand = [&](ValueId x, const std::vector<int64_t>& shape) {
      return g.op("aten::expand", {T(x, "self"), Ints("size", shape), A("implicit", false)}, shape, self);
    };
    auto view = [&](ValueId x, const std::vector<int64_t>& shape) {
      return g.op("aten::view", {T(x, "self"), Ints("size", shape)}, shape, self);
    };
    ValueId qs = scalar_mul(q, {1, heads, seq, hd});
    ValueId kt = g.op("aten::transpose.int", {T(k, "self"), A("dim0", int64_t{-2}), A("dim1", int64_t{-1})},
                      {1, heads, hd, seq}, self);
    ValueId ks = scalar_mul(kt, {1, heads, hd, seq});
    ValueId q3 = view(expand(qs, {1, heads, seq, hd}), {heads, seq, hd});
    ValueId k3 = g.op(
        "aten::_reshape_alias",
        {T(expand(ks, {1, heads, hd, seq}), "self"), Ints("size", {heads, hd, seq}), Ints("stride", {hd * seq, 1, hd})},
        {heads, hd, seq}, self);
    ValueId scores = g.op("aten::bmm", {T(q3, "self"), T(k3, "mat2")}, {heads, seq, seq}, self);
    scores =
        g.op("aten::_unsafe_view", {T(scores, "self"), Ints("size", {1, heads, seq, seq})}, {1, heads, seq, seq}, self);
    scores = g.binary("aten::add.Tensor", scores, mask, {1, heads, seq, seq}, self);
    ValueId probs =
        g.op("aten::_safe_softmax", {T(scores, "self"), A("dim", int64_t{-1}), A("dtype", std::monostate{})},
             {1, heads, seq, seq}, self);
    ValueId p3 = view(expand(probs, {1, heads, seq, seq}), {heads, seq, seq});
    ValueId v3 = view(expand(v, {1, heads, seq, hd}), {heads, seq, hd});
    ValueId ctx = g.op("aten::bmm", {T(p3, "self"), T(v3, "mat2")}, {heads, seq, hd}, self);
    ctx = g.op("aten::_unsafe_view", {T(ctx, "self"), Ints("size", {1, heads, seq, hd})}, {1, heads, seq, hd}, self);
    ctx = g.op("aten::transpose_copy.int", {T(ctx, "self"), A("dim0", int64_t{1}), A("dim1", int64_t{2})},
               {1, seq, heads, hd}, self);
    ctx = g.op("aten::view_copy", {T(ctx, "self"), Ints("size", {1, seq, hidden})}, {1, seq, hidden}, self);
    ValueId attn = dense(ctx, s + ".attention.output.dense", hidden, hidden);
    attn = g.binary("aten::add.Tensor", attn, h, {1, seq, hidden}, s + ".attention.output");
    attn = layer_norm(attn, s + ".attention.output.LayerNorm");
    ValueId up = dense(attn, s + ".intermediate.dense", hidden, ffn);
    up = g.op("aten::gelu", {T(up, "self"), A("approximate", std::string("none"))}, {1, seq, ffn},
              s + ".intermediate.intermediate_act_fn");
    ValueId down = dense(up, s + ".output.dense", ffn, hidden);
    down = g.binary("aten::add.Tensor", down, attn, {1, seq, hidden}, s + ".output");
    h = layer_norm(down, s + ".output.LayerNorm");
  }
  g.output("last_hidden_state", h);
  return std::move(g.graph);
}

}  // namespace genie::testing
