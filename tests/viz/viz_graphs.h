// Small graphs for the genie-viz tests, built by hand so each test states what it draws.
#pragma once

#include <string>

#include "patterns/graph_maker.h"

namespace genie::testing {

// x[2, 8] -> `blocks` blocks "blocks.I", each a Linear "blocks.I.fc" (16 features) and a
// ReLU "blocks.I.act" -> a Linear "head" (4 features) -> y. Nodes: fc0, act0, fc1, act1, ...,
// head. Scopes: blocks (1 deep), blocks.I (2), blocks.I.fc and blocks.I.act (3), head (1).
inline Graph mlp_blocks(size_t blocks) {
  GraphMaker g;
  ValueId h = g.input("x", {2, 8});
  for (size_t i = 0; i < blocks; ++i) {
    const std::string s = "blocks." + std::to_string(i);
    h = g.linear(h, s + ".fc", 16);
    g.graph.nodes[g.last].module_type = "Linear";
    h = g.unary("aten::relu", h, {2, 16}, s + ".act");
    g.graph.nodes[g.last].module_type = "ReLU";
  }
  h = g.linear(h, "head", 4);
  g.graph.nodes[g.last].module_type = "Linear";
  g.output("y", h);
  return g.graph;
}

// One ReLU module called twice, as resnet's blocks do: fc1 -> act -> fc2 -> act (nodes 0..3).
inline Graph relu_called_twice() {
  GraphMaker g;
  ValueId h = g.input("x", {2, 8});
  h = g.linear(h, "fc1", 8);
  h = g.unary("aten::relu", h, {2, 8}, "act");
  g.graph.nodes[g.last].module_type = "ReLU";
  h = g.linear(h, "fc2", 8);
  h = g.unary("aten::relu", h, {2, 8}, "act");
  g.graph.nodes[g.last].module_type = "ReLU";
  g.output("y", h);
  return g.graph;
}

// `readers` blocks "layers.I", each adding the same input "mask" to the running value: the
// mask is read by `readers` boxes at --depth 2, as an attention mask is by every layer.
inline Graph mask_read_by_every_layer(size_t readers) {
  GraphMaker g;
  ValueId h = g.input("x", {1, 4});
  ValueId mask = g.input("mask", {1, 4});
  for (size_t i = 0; i < readers; ++i) {
    const std::string s = "layers." + std::to_string(i);
    h = g.binary("aten::add.Tensor", h, mask, {1, 4}, s);
    h = g.unary("aten::tanh", h, {1, 4}, s + ".act");
  }
  g.output("y", h);
  return g.graph;
}

}  // namespace genie::testing
