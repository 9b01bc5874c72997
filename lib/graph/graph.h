// The graph IR every Genie tool shares: values (typed tensors with a residency), nodes
// (one ATen operator call each, with its module scope) and the graph's named inputs,
// parameters and outputs. Plain data; ids are positions in `values` and `nodes`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "graph/argument.h"
#include "graph/tensor_type.h"

namespace genie {

using NodeId = uint32_t;
inline constexpr NodeId kNoNode = UINT32_MAX;

// Where a value lives, which decides what must move between machines and what can stay.
enum class Residency : uint8_t {
  kInput,       // supplied by the caller on every run
  kParameter,   // a model weight, loaded once
  kBuffer,      // persistent model state that is not a weight (running_mean)
  kConstant,    // a tensor the model's code holds (torch.tensor([...]) in forward)
  kActivation,  // produced by a node
};

std::string_view residency_name(Residency residency);
bool residency_from_name(std::string_view name, Residency* out);
// Parameters, buffers and constants: their data lives in the weights file.
inline bool residency_is_stored(Residency r) {
  return r == Residency::kParameter || r == Residency::kBuffer || r == Residency::kConstant;
}

struct Value {
  TensorType type;
  Residency residency = Residency::kActivation;
};

// One returned slot of an operator: a tensor, or a tensor list (aten::split returns Tensor[]).
struct Output {
  std::vector<ValueId> values;
  bool is_list = false;
};

struct Node {
  std::string op;        // qualified operator name: "aten::conv2d"
  std::string overload;  // "" for the default overload; "Tensor" in aten::add.Tensor
  std::vector<Argument> inputs;
  std::vector<Output> outputs;
  std::string scope;        // module path, "layer1.0.conv1"; "" for the top module
  std::string module_type;  // type of that module, "Conv2d"; "" when unknown
  // Facts later analysis adds (pattern matches, execution phase...): a JSON object, or
  // null when there are none.
  nlohmann::json annotations;

  // "aten::add.Tensor", or "aten::relu" for a default overload.
  std::string qualified_name() const;
};

struct NamedValue {
  std::string name;
  ValueId value;
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<NamedValue> inputs;      // in the order the model takes them
  std::vector<NamedValue> parameters;  // parameters, buffers and constants by model name
  std::vector<NamedValue> outputs;     // in the order the model returns them
  nlohmann::json annotations;          // graph-level facts (producer, source model); or null

  ValueId add_value(TensorType type, Residency residency = Residency::kActivation);
  ValueId add_input(std::string name, TensorType type);
  ValueId add_parameter(std::string name, TensorType type, Residency residency = Residency::kParameter);
  void add_output(std::string name, ValueId value);
  NodeId add_node(const Node& node);
  NodeId add_node(Node&& node);
};

// The node that produces each value (kNoNode for inputs and stored values). Assumes ids in
// range; call graph_validate first on untrusted graphs.
std::vector<NodeId> graph_producers(const Graph& graph);

// Calls fn(value_id) for every tensor a node reads, in argument order (duplicates kept).
template <typename Fn>
void node_for_each_input(const Node& node, Fn&& fn) {
  for (const Argument& arg : node.inputs) {
    if (const auto* t = std::get_if<TensorRef>(&arg.value)) {
      fn(t->value);
    } else if (const auto* l = std::get_if<TensorListRef>(&arg.value)) {
      for (ValueId v : l->values)
        if (v != kNoValue) fn(v);
    }
  }
}

template <typename Fn>
void node_for_each_output(const Node& node, Fn&& fn) {
  for (const Output& out : node.outputs)
    for (ValueId v : out.values) fn(v);
}

}  // namespace genie
