#include "patterns/graph_index.h"

#include "graph/topo_order.h"

namespace genie {

GraphIndex::GraphIndex(const Graph& graph) : graph_(&graph) {
  const size_t value_count = graph.values.size();
  const size_t node_count = graph.nodes.size();
  producer_.assign(value_count, kNoNode);
  producer_slot_.assign(value_count, 0);
  is_output_.assign(value_count, 0);
  for (const NamedValue& out : graph.outputs) is_output_[out.value] = 1;

  // One pass over the nodes themselves (large, scattered objects); everything after it
  // reads the compact arrays built here.
  std::unordered_map<std::string, uint32_t> ids;
  std::string key;                  // reused: no allocation per node
  std::vector<uint32_t> input_arg;  // the argument of each entry of input_values_
  op_of_node_.resize(node_count);
  arg_begin_.reserve(node_count + 1);
  input_begin_.reserve(node_count + 1);
  out_begin_.reserve(node_count + 1);
  arg_begin_.push_back(0);
  input_begin_.push_back(0);
  out_begin_.push_back(0);
  for (NodeId n = 0; n < node_count; ++n) {
    const Node& node = graph.nodes[n];
    for (uint32_t slot = 0; slot < node.outputs.size(); ++slot) {
      const Output& out = node.outputs[slot];
      for (ValueId v : out.values) {
        producer_[v] = n;
        producer_slot_[v] = slot;
      }
      out_values_.push_back(!out.is_list && out.values.size() == 1 ? out.values[0] : kNoValue);
    }
    out_begin_.push_back(static_cast<uint32_t>(out_values_.size()));
    for (uint32_t a = 0; a < node.inputs.size(); ++a) {
      const ArgValue& arg = node.inputs[a].value;
      if (const auto* t = std::get_if<TensorRef>(&arg)) {
        arg_tensor_.push_back(t->value);
        input_values_.push_back(t->value);
        input_arg.push_back(a);
        continue;
      }
      arg_tensor_.push_back(kNoValue);
      if (const auto* l = std::get_if<TensorListRef>(&arg)) {
        for (ValueId v : l->values)
          if (v != kNoValue) {
            input_values_.push_back(v);
            input_arg.push_back(a);
          }
      }
    }
    arg_begin_.push_back(static_cast<uint32_t>(arg_tensor_.size()));
    input_begin_.push_back(static_cast<uint32_t>(input_values_.size()));
    key.assign(node.op);
    if (!node.overload.empty()) {
      key.push_back('.');
      key += node.overload;
    }
    auto it = ids.find(key);
    if (it == ids.end()) {
      it = ids.emplace(key, static_cast<uint32_t>(op_qualified_.size())).first;
      op_qualified_.push_back(key);
      op_base_.push_back(node.op);
      nodes_of_op_.emplace_back();
    }
    op_of_node_[n] = it->second;
  }

  // Readers as compressed rows: count, prefix sums, fill (node order, then argument order).
  use_begin_.assign(value_count + 1, 0);
  for (ValueId v : input_values_) ++use_begin_[v + 1];
  for (size_t v = 0; v < value_count; ++v) use_begin_[v + 1] += use_begin_[v];
  uses_.resize(use_begin_[value_count]);
  std::vector<uint32_t> fill(use_begin_.begin(), use_begin_.end() - 1);
  bool ordered = true;
  for (NodeId n = 0; n < node_count; ++n)
    for (uint32_t i = input_begin_[n]; i < input_begin_[n + 1]; ++i) {
      const ValueId v = input_values_[i];
      uses_[fill[v]++] = {n, input_arg[i]};
      ordered = ordered && (producer_[v] == kNoNode || producer_[v] < n);
    }

  // A graph in order (as Genie writes them) is recognised here; otherwise Kahn's algorithm.
  if (ordered) {
    order_.resize(node_count);
    for (NodeId n = 0; n < node_count; ++n) order_[n] = n;
  } else {
    order_ = graph_topological_order(graph);
  }
  position_.resize(node_count);
  for (uint32_t i = 0; i < order_.size(); ++i) {
    position_[order_[i]] = i;
    nodes_of_op_[op_of_node_[order_[i]]].push_back(order_[i]);
  }
}

}  // namespace genie
