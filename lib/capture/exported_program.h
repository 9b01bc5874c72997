// A torch.export program read from its archive (.pt2, PyTorch's "PT2 Archive Spec"): the
// serialized graph (models/model.json, torch/_export/serde/schema.yaml), its signature and
// its weights, checked once on reading so that running it can only fail for reasons of
// the inputs. Run by the .pt2 front end (exported_model.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <nlohmann/json.hpp>

#include "graph/graph.h"

namespace genie {

// The serialization schema major version this reader understands (torch 2.x writes 8.x).
inline constexpr int kExportSchemaMajor = 8;

// A dimension of a user input as the program declares it.
struct ProgramDim {
  int64_t example = 0;            // the size the program was exported with
  std::string symbol;             // "s77" when dynamic, empty when static
  int64_t min = 0, max = 0;       // the dynamic range (max = INT64_MAX: unbounded)
};

struct ProgramInput {
  enum class Kind { kUser, kParameter, kBuffer, kConstant };
  Kind kind;
  std::string graph_name;  // the program's placeholder ("p_conv1_weight", "x")
  std::string model_name;  // the model's name ("conv1.weight"; user inputs: graph_name)
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<ProgramDim> dims;  // user inputs
  at::Tensor data;               // parameters, buffers and constants
};

struct ProgramNode {
  enum class Kind {
    kOperator,   // an ATen operator, run through the dispatcher
    kSymbolic,   // integer arithmetic on sizes (aten.sym_size, _operator.mul): computed
    kAssertion,  // a check export inserted (_assert_tensor_metadata): skipped
  };
  Kind kind;
  std::string target;                  // "torch.ops.aten.conv2d.default", "_operator.mul"
  std::optional<c10::OperatorHandle> op;
  const nlohmann::json* json = nullptr;  // the node, inside ExportedProgram::document
  std::string scope, module_type;        // from nn_module_stack: "layer1.0.conv1", "Conv2d"
};

// Move-only: its nodes point into its document.
struct ExportedProgram {
  ExportedProgram() = default;
  ExportedProgram(ExportedProgram&&) = default;
  ExportedProgram& operator=(ExportedProgram&&) = default;
  ExportedProgram(const ExportedProgram&) = delete;
  ExportedProgram& operator=(const ExportedProgram&) = delete;

  nlohmann::json document;  // models/model.json
  int schema_major = 0, schema_minor = 0;
  std::vector<ProgramInput> inputs;         // in the program's order (parameters first)
  std::vector<std::string> user_outputs;    // graph names of the tensors returned, in order
  std::vector<ProgramNode> nodes;
  size_t user_input_count() const;
};

// Reads and checks a .pt2 archive. Throws Error(kBadInput) for what is not a readable
// program, Error(kUnsupported) for an unknown schema major version, an archive holding only
// an AOTInductor-compiled model, operators outside ATen or unknown to this LibTorch, and
// program features a Genie graph cannot hold (control flow, custom objects).
ExportedProgram exported_program_read(const std::string& path);

// True when the zip archive at `path` says it is a PT2 archive (its `archive_format` record).
bool is_pt2_archive(const std::string& path);

// The (scope, type) of an nn_module_stack entry:
// "L__self__,,m.ResNet;L__self___layer1,layer1,torch.nn.Sequential" -> {"layer1", "Sequential"}.
std::pair<std::string, std::string> module_scope_of_stack(const std::string& nn_module_stack);

// The serialized program names the member of a union by its one key: {"as_int": 3} ->
// "as_int"; empty for anything else.
const std::string& export_union_tag(const nlohmann::json& value);

// c10's scalar type for the schema's ScalarType enum (its numbering is its own).
c10::ScalarType export_scalar_type(int value);

}  // namespace genie
