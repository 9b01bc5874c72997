#include "exec/fold_batch_norm.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>

#include <optional>
#include <string_view>

#include "exec/aten_types.h"

namespace genie {
namespace {

const Argument* find_arg(const Node& node, std::string_view name) {
  for (const Argument& arg : node.inputs)
    if (arg.name == name) return &arg;
  return nullptr;
}

// The tensor an argument names, if it is one; kNoValue for None or absent.
ValueId tensor_arg(const Node& node, std::string_view name) {
  const Argument* arg = find_arg(node, name);
  if (!arg) return kNoValue;
  const auto* ref = std::get_if<TensorRef>(&arg->value);
  return ref ? ref->value : kNoValue;
}

bool is_batch_norm(const Node& node) {
  if (node.op != "aten::native_batch_norm" && node.op != "aten::batch_norm" &&
      node.op != "aten::_native_batch_norm_legit_no_training")
    return false;
  const Argument* training = find_arg(node, "training");
  return !training || (std::holds_alternative<bool>(training->value) && !std::get<bool>(training->value));
}

bool is_convolution(const Node& node) {
  if (node.op != "aten::_convolution" && node.op != "aten::convolution" && node.op != "aten::conv1d" &&
      node.op != "aten::conv2d" && node.op != "aten::conv3d")
    return false;
  const Argument* transposed = find_arg(node, "transposed");
  return !transposed || (std::holds_alternative<bool>(transposed->value) && !std::get<bool>(transposed->value));
}

std::optional<double> eps_of(const Node& bn) {
  const Argument* eps = find_arg(bn, "eps");
  if (eps && std::holds_alternative<double>(eps->value)) return std::get<double>(eps->value);
  return std::nullopt;
}

void set_tensor_arg(Node& node, std::string_view name, ValueId value) {
  for (Argument& arg : node.inputs)
    if (arg.name == name) arg.value = TensorRef{value};
}

}  // namespace

size_t fold_batch_norm(Graph& graph, StoredTensors& stored) {
  const std::vector<NodeId> producer = graph_producers(graph);
  std::vector<uint32_t> uses(graph.values.size(), 0);
  for (const Node& node : graph.nodes) node_for_each_input(node, [&](ValueId v) { ++uses[v]; });
  for (const NamedValue& out : graph.outputs) ++uses[out.value];
  std::unordered_map<ValueId, std::string> names;
  for (const NamedValue& p : graph.parameters) names[p.value] = p.name;
  auto stored_or_none = [&](ValueId v) { return v == kNoValue || stored.count(v); };

  std::unordered_map<ValueId, ValueId> replace;  // batch-norm result -> convolution result
  for (NodeId b = 0; b < graph.nodes.size(); ++b) {
    const Node& bn = graph.nodes[b];
    if (!is_batch_norm(bn) || bn.outputs.empty() || bn.outputs[0].values.size() != 1) continue;
    const ValueId y = tensor_arg(bn, "input");
    if (y == kNoValue || producer[y] == kNoNode || uses[y] != 1) continue;
    Node& conv = graph.nodes[producer[y]];
    if (!is_convolution(conv) || conv.outputs.size() != 1) continue;
    bool extra_results_read = false;  // save_mean, save_invstd
    for (size_t o = 1; o < bn.outputs.size(); ++o)
      for (ValueId v : bn.outputs[o].values) extra_results_read = extra_results_read || uses[v] != 0;
    const ValueId w = tensor_arg(conv, "weight"), bias = tensor_arg(conv, "bias");
    const ValueId gamma = tensor_arg(bn, "weight"), beta = tensor_arg(bn, "bias");
    const ValueId mean = tensor_arg(bn, "running_mean"), var = tensor_arg(bn, "running_var");
    const std::optional<double> eps = eps_of(bn);
    if (extra_results_read || !eps || !stored.count(w) || !stored.count(mean) || !stored.count(var) ||
        !stored_or_none(bias) || !stored_or_none(gamma) || !stored_or_none(beta))
      continue;

    const at::Tensor& weight = stored.at(w);
    const auto out_channels = weight.size(0);
    auto channel = [&](ValueId v, double fill) {
      return v == kNoValue ? at::full({out_channels}, fill, at::dtype(at::kDouble).device(weight.device()))
                           : stored.at(v).to(at::kDouble);
    };
    at::Tensor scale = channel(gamma, 1.0) / (stored.at(var).to(at::kDouble) + *eps).sqrt();
    std::vector<int64_t> per_channel(weight.dim(), 1);
    per_channel[0] = out_channels;
    at::Tensor new_weight = (weight.to(at::kDouble) * scale.reshape(per_channel)).to(weight.scalar_type()).contiguous();
    at::Tensor new_bias = ((channel(bias, 0.0) - stored.at(mean).to(at::kDouble)) * scale + channel(beta, 0.0))
                              .to(weight.scalar_type())
                              .contiguous();

    const std::string base = names.count(w) ? names[w] : "value." + std::to_string(w);
    ValueId folded_w = graph.add_parameter(base + ".bn_folded", tensor_type_of(new_weight));
    ValueId folded_b = graph.add_parameter(base + ".bn_folded_bias", tensor_type_of(new_bias));
    stored[folded_w] = new_weight;
    stored[folded_b] = new_bias;
    set_tensor_arg(conv, "weight", folded_w);
    set_tensor_arg(conv, "bias", folded_b);
    replace[bn.outputs[0].values[0]] = y;
  }

  if (!replace.empty()) {
    auto remap = [&](ValueId& v) {
      auto it = replace.find(v);
      if (it != replace.end()) v = it->second;
    };
    for (Node& node : graph.nodes)
      for (Argument& arg : node.inputs) {
        if (auto* t = std::get_if<TensorRef>(&arg.value)) remap(t->value);
        else if (auto* l = std::get_if<TensorListRef>(&arg.value))
          for (ValueId& v : l->values) remap(v);
      }
    for (NamedValue& out : graph.outputs) remap(out.value);
  }
  return replace.size();
}

}  // namespace genie
