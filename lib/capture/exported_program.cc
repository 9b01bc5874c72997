#include "capture/exported_program.h"

#include <caffe2/serialize/inline_container.h>

#include <ATen/ops/from_blob.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <unordered_map>

#include "exec/aten_types.h"
#include "support/error.h"

namespace genie {
namespace {

using nlohmann::json;
namespace serialize = caffe2::serialize;

[[noreturn]] void bad(const std::string& path, const std::string& what) { fail(ErrorKind::kBadInput, path + ": " + what); }

std::string record_text(serialize::PyTorchStreamReader& reader, const std::string& name) {
  auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

// A JSON member that must be there, with the path of what is missing in the error.
const json& member(const json& object, const char* key, const std::string& where, const std::string& path) {
  if (!object.is_object() || !object.contains(key)) bad(path, "not a torch.export program: " + where + " has no \"" + key + "\"");
  return object.at(key);
}

int64_t sym_int_example(const json& sym, const std::string& path) {
  if (sym.contains("as_int")) return sym.at("as_int").get<int64_t>();
  if (sym.contains("as_expr")) {
    const json& expr = sym.at("as_expr");
    if (expr.contains("hint") && expr.at("hint").is_object() && expr.at("hint").contains("as_int"))
      return expr.at("hint").at("as_int").get<int64_t>();
  }
  bad(path, "a size without an example value: " + sym.dump());
}

// "Symbol('s77', positive=True, integer=True)" -> "s77"; empty for a compound expression.
std::string bare_symbol(const std::string& expr) {
  const std::string prefix = "Symbol('";
  if (expr.rfind(prefix, 0) != 0) return {};
  auto end = expr.find('\'', prefix.size());
  return end == std::string::npos ? std::string() : expr.substr(prefix.size(), end - prefix.size());
}

struct ExportedTensorMeta {
  c10::ScalarType dtype;
  std::vector<int64_t> sizes, strides;
  int64_t storage_offset = 0;
};

ExportedTensorMeta tensor_meta(const json& meta, const std::string& what, const std::string& path) {
  ExportedTensorMeta m;
  m.dtype = export_scalar_type(member(meta, "dtype", what, path).get<int>());
  for (const json& s : member(meta, "sizes", what, path)) m.sizes.push_back(sym_int_example(s, path));
  for (const json& s : member(meta, "strides", what, path)) m.strides.push_back(sym_int_example(s, path));
  if (meta.contains("storage_offset")) m.storage_offset = sym_int_example(meta.at("storage_offset"), path);
  if (m.strides.size() != m.sizes.size()) bad(path, what + ": sizes and strides differ in length");
  return m;
}

// The tensors of a weights or constants config: raw little-endian bytes per storage record
// (shared by tensors that share storage), viewed with the recorded sizes, strides, offset.
class PayloadReader {
 public:
  PayloadReader(serialize::PyTorchStreamReader& reader, const std::string& config, const std::string& folder,
                const std::string& path)
      : reader_(reader), folder_(folder), path_(path) {
    if (!reader.hasRecord(config)) return;
    json doc;
    try {
      doc = json::parse(record_text(reader, config));
    } catch (const json::exception& e) {
      bad(path, config + ": " + e.what());
    }
    for (const auto& [name, entry] : member(doc, "config", config, path).items()) entries_[name] = entry;
  }

  bool has(const std::string& name) const { return entries_.count(name) > 0; }

  at::Tensor tensor(const std::string& name) {
    const json& entry = entries_.at(name);
    if (entry.value("use_pickle", false))
      fail(ErrorKind::kUnsupported, path_ + ": tensor \"" + name + "\" is stored pickled (a tensor subclass); Genie reads plain tensors");
    const std::string record = folder_ + member(entry, "path_name", name, path_).get<std::string>();
    ExportedTensorMeta meta = tensor_meta(member(entry, "tensor_meta", name, path_), name, path_);
    auto& storage = storages_[record];
    if (!storage) {
      if (!reader_.hasRecord(record)) bad(path_, "tensor \"" + name + "\": record " + record + " is missing");
      auto [data, size] = reader_.getRecord(record);
      storage = std::make_shared<std::pair<at::DataPtr, size_t>>(std::move(data), size);
    }
    // The bytes the view reaches, in overflow-checked arithmetic: one past its last element.
    const int64_t item = c10::elementSize(meta.dtype);
    if (meta.storage_offset < 0) bad(path_, "tensor \"" + name + "\" has a negative storage offset");
    bool empty = false;
    for (size_t d = 0; d < meta.sizes.size(); ++d) {
      if (meta.sizes[d] < 0 || meta.strides[d] < 0)
        bad(path_, "tensor \"" + name + "\" has a negative size or stride");
      if (meta.sizes[d] == 0) empty = true;
    }
    int64_t end = meta.storage_offset, bytes = 0;
    bool overflow = false;
    for (size_t d = 0; d < meta.sizes.size() && !empty; ++d) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(meta.sizes[d] - 1, meta.strides[d], &reach);
      overflow |= __builtin_add_overflow(end, reach, &end);
    }
    overflow |= __builtin_add_overflow(end, int64_t{1}, &end);
    overflow |= __builtin_mul_overflow(end, item, &bytes);
    if (!empty && (overflow || bytes > static_cast<int64_t>(storage->second)))
      bad(path_, "tensor \"" + name + "\" reaches past the end of its record " + record);
    auto keep = storage;
    auto* base = static_cast<uint8_t*>(storage->first.get()) + (empty ? 0 : meta.storage_offset * item);
    return at::from_blob(base, meta.sizes, meta.strides, [keep](void*) {}, at::TensorOptions().dtype(meta.dtype));
  }

 private:
  serialize::PyTorchStreamReader& reader_;
  std::string folder_, path_;
  std::unordered_map<std::string, json> entries_;
  std::unordered_map<std::string, std::shared_ptr<std::pair<at::DataPtr, size_t>>> storages_;
};

// Splits at `sep` outside brackets (module keys can hold "[1]" or "(...)").
std::vector<std::string> split_outside_brackets(const std::string& s, char sep) {
  std::vector<std::string> parts(1);
  int depth = 0;
  for (char c : s) {
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (c == sep && depth == 0) parts.emplace_back();
    else parts.back() += c;
  }
  return parts;
}

const std::set<std::string>& symbolic_targets() {
  static const std::set<std::string> kTargets = {
      "torch.ops.aten.sym_size.int", "torch.ops.aten.sym_numel.default", "torch.ops.aten.sym_stride.int",
      "torch.ops.aten.sym_storage_offset.default", "_operator.add", "_operator.sub", "_operator.mul",
      "_operator.floordiv", "_operator.mod", "_operator.neg", "_operator.eq", "_operator.ne", "_operator.lt",
      "_operator.le", "_operator.gt", "_operator.ge", "torch.sym_max", "torch.sym_min", "torch.sym_not",
  };
  return kTargets;
}

const std::set<std::string>& assertion_targets() {
  static const std::set<std::string> kTargets = {
      "torch.ops.aten._assert_tensor_metadata.default", "torch.ops.aten._assert_scalar.default",
      "torch.ops.aten._assert_async.msg", "torch.ops.aten._assert_async.default",
      "torch.ops.aten.sym_constrain_range.default", "torch.ops.aten.sym_constrain_range_for_size.default",
      "torch.ops.aten._functional_assert_async.msg", "torch.ops.aten._functional_sym_constrain_range.default",
  };
  return kTargets;
}

}  // namespace

const std::string& export_union_tag(const json& value) {
  static const std::string none;
  if (!value.is_object() || value.empty()) return none;
  return value.begin().key();
}

size_t ExportedProgram::user_input_count() const {
  size_t n = 0;
  for (const ProgramInput& in : inputs) n += in.kind == ProgramInput::Kind::kUser;
  return n;
}

c10::ScalarType export_scalar_type(int value) {
  using c10::ScalarType;
  switch (value) {
    case 1: return ScalarType::Byte;
    case 2: return ScalarType::Char;
    case 3: return ScalarType::Short;
    case 4: return ScalarType::Int;
    case 5: return ScalarType::Long;
    case 6: return ScalarType::Half;
    case 7: return ScalarType::Float;
    case 8: return ScalarType::Double;
    case 9: return ScalarType::ComplexHalf;
    case 10: return ScalarType::ComplexFloat;
    case 11: return ScalarType::ComplexDouble;
    case 12: return ScalarType::Bool;
    case 13: return ScalarType::BFloat16;
    case 28: return ScalarType::UInt16;
    case 29: return ScalarType::Float8_e4m3fn;
    case 30: return ScalarType::Float8_e5m2;
    case 31: return ScalarType::Float8_e4m3fnuz;
    case 32: return ScalarType::Float8_e5m2fnuz;
    case 33: return ScalarType::Float8_e8m0fnu;
    case 34: return ScalarType::UInt32;
    case 35: return ScalarType::UInt64;
  }
  fail(ErrorKind::kUnsupported, "scalar type " + std::to_string(value) + " of the export schema is not known to Genie");
}

std::pair<std::string, std::string> module_scope_of_stack(const std::string& stack) {
  std::vector<std::string> frames = split_outside_brackets(stack, ';');
  while (!frames.empty() && frames.back().empty()) frames.pop_back();
  if (frames.empty()) return {};
  std::vector<std::string> fields = split_outside_brackets(frames.back(), ',');
  if (fields.size() != 3 || fields[0] == "_empty_nn_module_stack_from_metadata_hook") return {};
  std::string type = fields[2];
  auto dot = type.rfind('.');
  if (dot != std::string::npos) type = type.substr(dot + 1);
  return {fields[1], type};
}

bool is_pt2_archive(const std::string& path) {
  try {
    serialize::PyTorchStreamReader reader(path);
    return reader.hasRecord("archive_format") && record_text(reader, "archive_format") == "pt2";
  } catch (const c10::Error&) {
    return false;
  }
}

ExportedProgram exported_program_read(const std::string& path) {
  std::unique_ptr<serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    bad(path, std::string("not a readable .pt2 archive: ") + first_line(e.what_without_backtrace()));
  }
  ExportedProgram program;
  try {
    // The program: models/<name>.json ("model" unless the archive holds one other).
    std::vector<std::string> models;
    bool aoti = false;
    for (const std::string& record : reader->getAllRecords()) {
      if (record.rfind("models/", 0) == 0 && record.size() > 12 && record.compare(record.size() - 5, 5, ".json") == 0)
        models.push_back(record.substr(7, record.size() - 12));
      if (record.rfind("data/aotinductor/", 0) == 0) aoti = true;
    }
    if (models.empty() && aoti)
      fail(ErrorKind::kUnsupported, path + ": the archive holds only an AOTInductor-compiled model (data/aotinductor/), "
                                           "not a program; save the ExportedProgram with torch.export.save");
    if (models.empty()) bad(path, "a PT2 archive without a program (no models/*.json)");
    std::string model = "model";
    if (std::find(models.begin(), models.end(), model) == models.end()) {
      if (models.size() > 1) bad(path, "the archive holds several programs and none is called \"model\"");
      model = models[0];
    }
    const std::string program_record = "models/" + model + ".json";
    try {
      program.document = json::parse(record_text(*reader, program_record));
    } catch (const json::exception& e) {
      bad(path, program_record + ": " + e.what());
    }
    const json& doc = program.document;

    const json& version = member(doc, "schema_version", program_record, path);
    program.schema_major = member(version, "major", "schema_version", path).get<int>();
    program.schema_minor = member(version, "minor", "schema_version", path).get<int>();
    if (program.schema_major != kExportSchemaMajor)
      fail(ErrorKind::kUnsupported, path + ": export schema version " + std::to_string(program.schema_major) + "." +
                                        std::to_string(program.schema_minor) + "; Genie reads major version " +
                                        std::to_string(kExportSchemaMajor));

    const json& module = member(doc, "graph_module", program_record, path);
    const json& graph = member(module, "graph", "graph_module", path);
    const json& signature = member(module, "signature", "graph_module", path);
    const json& tensor_values = member(graph, "tensor_values", "graph", path);
    const json& ranges = doc.contains("range_constraints") ? doc.at("range_constraints") : json::object();

    // Inputs: the signature says what each of the graph's placeholders is.
    PayloadReader weights(*reader, "data/weights/" + model + "_weights_config.json", "data/weights/", path);
    PayloadReader constants(*reader, "data/constants/" + model + "_constants_config.json", "data/constants/", path);
    auto stored = [&](const std::string& name) {
      if (weights.has(name)) return weights.tensor(name);
      if (constants.has(name)) return constants.tensor(name);
      bad(path, "\"" + name + "\" is in the program's signature but not in its weights or constants");
    };
    for (const json& spec : member(signature, "input_specs", "signature", path)) {
      const std::string& kind = export_union_tag(spec);
      const json& body = spec.at(kind);
      ProgramInput in;
      if (kind == "user_input") {
        const json& arg = member(body, "arg", "user_input", path);
        if (export_union_tag(arg) != "as_tensor")
          fail(ErrorKind::kUnsupported, path + ": a program input that is not a tensor (" + export_union_tag(arg) +
                                            "); Genie graphs take tensors");
        in.kind = ProgramInput::Kind::kUser;
        in.graph_name = in.model_name = arg.at("as_tensor").at("name").get<std::string>();
        const json& meta = member(tensor_values, in.graph_name.c_str(), "tensor_values", path);
        in.dtype = export_scalar_type(member(meta, "dtype", in.graph_name, path).get<int>());
        for (const json& size : member(meta, "sizes", in.graph_name, path)) {
          ProgramDim dim;
          dim.example = sym_int_example(size, path);
          if (dim.example < 0) bad(path, "input \"" + in.graph_name + "\" has a negative example size");
          if (size.contains("as_expr")) {
            const std::string expr = size.at("as_expr").at("expr_str").get<std::string>();
            dim.symbol = bare_symbol(expr);
            dim.min = 0;
            dim.max = std::numeric_limits<int64_t>::max();
            if (dim.symbol.empty()) dim.symbol = expr;
            else if (ranges.contains(dim.symbol)) {
              const json& r = ranges.at(dim.symbol);
              if (r.contains("min_val") && r.at("min_val").is_number_integer()) dim.min = r.at("min_val").get<int64_t>();
              if (r.contains("max_val") && r.at("max_val").is_number_integer()) dim.max = r.at("max_val").get<int64_t>();
            }
            if (dim.example < dim.min || dim.example > dim.max)
              bad(path, "input \"" + in.graph_name + "\": the example size " + std::to_string(dim.example) +
                            " lies outside its range " + std::to_string(dim.min) + ".." + std::to_string(dim.max));
          }
          in.dims.push_back(dim);
        }
      } else if (kind == "parameter" || kind == "buffer" || kind == "tensor_constant") {
        in.kind = kind == "parameter" ? ProgramInput::Kind::kParameter
                  : kind == "buffer"  ? ProgramInput::Kind::kBuffer
                                      : ProgramInput::Kind::kConstant;
        in.graph_name = member(member(body, "arg", kind, path), "name", kind, path).get<std::string>();
        const char* name_key = kind == "parameter" ? "parameter_name" : kind == "buffer" ? "buffer_name" : "tensor_constant_name";
        in.model_name = member(body, name_key, kind, path).get<std::string>();
        in.data = stored(in.model_name);
        in.dtype = in.data.scalar_type();
      } else {
        fail(ErrorKind::kUnsupported, path + ": the program takes a " + kind +
                                          " input; Genie graphs take tensors, parameters, buffers and constants");
      }
      program.inputs.push_back(std::move(in));
    }
    for (const json& spec : member(signature, "output_specs", "signature", path)) {
      // Only what the model returns is an output; buffer mutations (training-mode batch
      // norm) are not part of an inference graph.
      if (export_union_tag(spec) != "user_output") continue;
      const json& arg = member(spec.at("user_output"), "arg", "user_output", path);
      if (export_union_tag(arg) == "as_tensor") program.user_outputs.push_back(arg.at("as_tensor").at("name").get<std::string>());
    }

    // Nodes: each resolved once, and everything outside ATen reported together.
    std::map<std::string, size_t> foreign;
    for (const json& node : member(graph, "nodes", "graph", path)) {
      ProgramNode n;
      n.target = member(node, "target", "a node", path).get<std::string>();
      n.json = &node;
      if (node.contains("metadata") && node.at("metadata").contains("nn_module_stack"))
        std::tie(n.scope, n.module_type) = module_scope_of_stack(node.at("metadata").at("nn_module_stack").get<std::string>());
      if (assertion_targets().count(n.target)) {
        n.kind = ProgramNode::Kind::kAssertion;
      } else if (symbolic_targets().count(n.target)) {
        n.kind = ProgramNode::Kind::kSymbolic;
      } else if (n.target.rfind("torch.ops.aten.", 0) == 0) {
        n.kind = ProgramNode::Kind::kOperator;
        std::string rest = n.target.substr(std::strlen("torch.ops.aten."));
        auto dot = rest.rfind('.');
        std::string name = "aten::" + rest.substr(0, dot);
        std::string overload = dot == std::string::npos ? "" : rest.substr(dot + 1);
        if (overload == "default") overload.clear();
        // Export copies a lifted constant with lift_fresh_copy, which functionalization runs
        // as clone: so does this reader, so that the graph is the same however it is captured
        // (model_capture.h). Its one argument, self, is clone's first.
        if (name == "aten::lift_fresh_copy" && overload.empty()) name = "aten::clone";
        n.op = c10::Dispatcher::singleton().findSchema({name, overload});
        if (!n.op)
          fail(ErrorKind::kUnsupported, path + ": operator " + name + (overload.empty() ? "" : "." + overload) +
                                            " is not known to this LibTorch");
      } else if (n.target.rfind("torch.ops.higher_order.", 0) == 0) {
        fail(ErrorKind::kUnsupported, path + ": the program uses " + n.target +
                                          " (control flow or another higher-order operator), which a Genie graph cannot hold");
      } else {
        ++foreign[n.target];
        continue;
      }
      program.nodes.push_back(std::move(n));
    }
    if (!foreign.empty()) {
      std::string list;
      for (const auto& [target, count] : foreign)
        list += (list.empty() ? "" : ", ") + target + " (" + std::to_string(count) + (count == 1 ? " node)" : " nodes)");
      fail(ErrorKind::kUnsupported, path + ": the program calls operators outside ATen: " + list +
                                        "; Genie graphs hold ATen operators only");
    }
  } catch (const c10::Error& e) {
    bad(path, std::string("not a readable .pt2 archive: ") + first_line(e.what_without_backtrace()));
  } catch (const json::exception& e) {
    bad(path, std::string("not a torch.export program: ") + e.what());
  }
  return program;
}

}  // namespace genie
