#include "io/weights.h"

#include "support/error.h"

namespace genie {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

void weights_check(const Graph& graph, const SafetensorsFile& weights) {
  for (const NamedValue& p : graph.parameters) {
    const TensorView* t = weights.find(p.name);
    const TensorType& type = graph.values[p.value].type;
    if (!t) fail(ErrorKind::kBadInput, "weights file has no tensor \"" + p.name + "\" (a parameter of the graph)");
    if (t->dtype != type.dtype || t->shape != type.shape)
      fail(ErrorKind::kBadInput, "weights tensor \"" + p.name + "\" is " + std::string(dtype_name(t->dtype)) +
                                     shape_text(t->shape) + ", the graph expects " +
                                     std::string(dtype_name(type.dtype)) + shape_text(type.shape));
  }
}

std::string weights_path_beside(const std::string& graph_path) {
  std::string base = graph_path;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0) base.resize(base.size() - 5);
  return base + ".safetensors";
}

}  // namespace genie
