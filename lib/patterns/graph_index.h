// What the matcher asks of a graph, answered in O(1): a value's producer and consumers, a
// node's topological position, and the nodes of each operator. Built once per graph in
// O(nodes + edges) and shared by every pattern.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "graph/graph.h"

namespace genie {

class GraphIndex {
 public:
  struct Use {
    NodeId node;
    uint32_t arg;  // the argument that reads the value
  };
  struct Uses {
    const Use* first;
    const Use* last;
    const Use* begin() const { return first; }
    const Use* end() const { return last; }
  };

  // Assumes a valid graph (graph_read validates). Throws Error(kBadInput) on a cycle.
  explicit GraphIndex(const Graph& graph);

  const Graph& graph() const { return *graph_; }
  size_t node_count() const { return graph_->nodes.size(); }

  NodeId producer(ValueId v) const { return producer_[v]; }
  uint32_t producer_slot(ValueId v) const { return producer_slot_[v]; }
  // Readers of a value, by node id then argument.
  Uses uses(ValueId v) const { return {uses_.data() + use_begin_[v], uses_.data() + use_begin_[v + 1]}; }
  bool is_graph_output(ValueId v) const { return is_output_[v] != 0; }

  // Position of a node in topological order; producers come before their readers.
  uint32_t position(NodeId n) const { return position_[n]; }
  const std::vector<NodeId>& order() const { return order_; }

  // Operators are numbered per graph: one id per qualified name ("aten::add.Tensor").
  uint32_t op_id(NodeId n) const { return op_of_node_[n]; }
  size_t op_count() const { return op_qualified_.size(); }
  const std::string& op_qualified(uint32_t id) const { return op_qualified_[id]; }
  const std::string& op_base(uint32_t id) const { return op_base_[id]; }
  // Nodes of an operator, in topological order.
  const std::vector<NodeId>& nodes_of_op(uint32_t id) const { return nodes_of_op_[id]; }

  // The tensor a node's argument holds; kNoValue for another kind or an absent argument.
  ValueId arg_value(NodeId n, uint32_t arg) const {
    return arg < arg_count(n) ? arg_tensor_[arg_begin_[n] + arg] : kNoValue;
  }
  uint32_t arg_count(NodeId n) const { return arg_begin_[n + 1] - arg_begin_[n]; }
  // Every tensor a node reads, list elements included, in argument order.
  struct Values {
    const ValueId* first;
    const ValueId* last;
    const ValueId* begin() const { return first; }
    const ValueId* end() const { return last; }
  };
  Values inputs(NodeId n) const {
    return {input_values_.data() + input_begin_[n], input_values_.data() + input_begin_[n + 1]};
  }
  // The tensor of an output slot; kNoValue for a list slot or no such slot.
  ValueId output_value(NodeId n, uint32_t slot) const {
    return slot < out_begin_[n + 1] - out_begin_[n] ? out_values_[out_begin_[n] + slot] : kNoValue;
  }

 private:
  const Graph* graph_;
  std::vector<NodeId> producer_;
  std::vector<uint32_t> producer_slot_;
  std::vector<uint32_t> use_begin_;
  std::vector<Use> uses_;
  std::vector<uint8_t> is_output_;
  // Compact copies of the nodes' arguments: the matcher walks these, not the Node objects.
  std::vector<uint32_t> arg_begin_, input_begin_, out_begin_;
  std::vector<ValueId> arg_tensor_, input_values_, out_values_;
  std::vector<uint32_t> position_;
  std::vector<NodeId> order_;
  std::vector<uint32_t> op_of_node_;
  std::vector<std::string> op_qualified_, op_base_;
  std::vector<std::vector<NodeId>> nodes_of_op_;
};

}  // namespace genie
