// Operators that let Python (or any TorchScript caller) reach the capture from outside C++,
// once the library is loaded: torch.ops.genie.graph_json(), torch.ops.genie.new_graph().
#include <torch/library.h>

#include "capture/graph_builder.h"
#include "graph/json_codec.h"

namespace {

std::string graph_json() { return genie::graph_to_json(genie::GraphBuilder::current().graph()); }

void new_graph() { genie::GraphBuilder::reset_current(); }

}  // namespace

TORCH_LIBRARY(genie, m) {
  m.def("graph_json() -> str", &graph_json);
  m.def("new_graph() -> ()", &new_graph);
}
