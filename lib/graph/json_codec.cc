#include "graph/json_codec.h"

#include <functional>
#include <cmath>
#include <limits>
#include <ostream>

#include "graph/validate.h"
#include "support/error.h"
#include "support/files.h"
#include "support/json_text.h"

namespace genie {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Writing

// One of the format's own names (a dtype, a residency, an argument kind): plain ASCII, so
// it needs no escaping.
void append_name(TextOut& out, std::string_view name) {
  out.push_back('"');
  out.append(name);
  out.push_back('"');
}

void append_value_list(TextOut& out, const std::vector<ValueId>& ids) {
  out.push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    if (ids[i] == kNoValue) out += "null";
    else json_append_int(out, ids[i]);
  }
  out.push_back(']');
}

template <typename T, typename Fn>
void append_list(TextOut& out, const std::vector<T>& items, Fn&& append_item) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_item(items[i]);
  }
  out.push_back(']');
}

void append_argument_value(TextOut& out, const ArgValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, TensorRef>) {
          json_append_int(out, v.value);
        } else if constexpr (std::is_same_v<T, TensorListRef>) {
          append_value_list(out, v.values);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          json_append_int(out, v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          append_list(out, v, [&](int64_t x) { json_append_int(out, x); });
        } else if constexpr (std::is_same_v<T, double>) {
          json_append_double(out, v);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          append_list(out, v, [&](double x) { json_append_double(out, x); });
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
          append_list(out, v, [&](bool x) { out += x ? "true" : "false"; });
        } else if constexpr (std::is_same_v<T, std::string>) {
          json_append_string(out, v);
        } else if constexpr (std::is_same_v<T, DType>) {
          append_name(out, dtype_name(v));
        } else if constexpr (std::is_same_v<T, Layout>) {
          append_name(out, layout_name(v));
        } else if constexpr (std::is_same_v<T, Device>) {
          json_append_string(out, v.name);
        } else if constexpr (std::is_same_v<T, MemoryFormat>) {
          append_name(out, memory_format_name(v));
        } else {
          static_assert(std::is_same_v<T, std::complex<double>>);
          out.push_back('[');
          json_append_double(out, v.real());
          out += ", ";
          json_append_double(out, v.imag());
          out.push_back(']');
        }
      },
      value);
}

void append_named(TextOut& out, const std::vector<NamedValue>& list) {
  out.push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    out += i ? ",\n    " : "\n    ";
    out += "{\"name\": ";
    json_append_string(out, list[i].name);
    out += ", \"value\": ";
    json_append_int(out, list[i].value);
    out.push_back('}');
  }
  out += list.empty() ? "]" : "\n  ]";
}

// Annotations are free-form JSON; deeper nesting than this is refused on reading, so the
// recursive writer below stays shallow.
constexpr int kMaxAnnotationDepth = 64;

void append_json(TextOut& out, const json& j, int depth) {
  if (depth > kMaxAnnotationDepth)
    fail(ErrorKind::kBadInput, "annotations nest deeper than " + std::to_string(kMaxAnnotationDepth) + " levels");
  switch (j.type()) {
    case json::value_t::null: out += "null"; break;
    case json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; break;
    case json::value_t::number_integer: json_append_int(out, j.get<int64_t>()); break;
    case json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); break;
    case json::value_t::number_float: json_append_double(out, j.get<double>()); break;
    case json::value_t::string: json_append_string(out, j.get_ref<const std::string&>()); break;
    case json::value_t::array: {
      out.push_back('[');
      for (size_t i = 0; i < j.size(); ++i) {
        if (i) out += ", ";
        append_json(out, j[i], depth + 1);
      }
      out.push_back(']');
      break;
    }
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {  // std::map: sorted keys, stable bytes
        if (!first) out += ", ";
        first = false;
        json_append_string(out, it.key());
        out += ": ";
        append_json(out, it.value(), depth + 1);
      }
      out.push_back('}');
      break;
    }
    default: fail(ErrorKind::kBadInput, "annotations hold a value JSON cannot represent");
  }
}

void append_annotations(TextOut& out, const json& annotations) { append_json(out, annotations, 0); }

void append_value(TextOut& out, ValueId id, const Value& value) {
  out += "{\"id\": ";
  json_append_int(out, id);
  out += ", \"dtype\": ";
  append_name(out, dtype_name(value.type.dtype));
  out += ", \"shape\": ";
  append_list(out, value.type.shape, [&](int64_t x) { json_append_int(out, x); });
  if (!value.type.strides.empty() && value.type.strides != contiguous_strides(value.type.shape)) {
    out += ", \"strides\": ";
    append_list(out, value.type.strides, [&](int64_t x) { json_append_int(out, x); });
  }
  out += ", \"residency\": ";
  append_name(out, residency_name(value.residency));
  out.push_back('}');
}

void append_node(TextOut& out, NodeId id, const Node& node) {
  out += "{\"id\": ";
  json_append_int(out, id);
  out += ", \"op\": ";
  json_append_string(out, node.op);
  out += ", \"overload\": ";
  json_append_string(out, node.overload);
  out += ", \"scope\": ";
  json_append_string(out, node.scope);
  out += ", \"module_type\": ";
  json_append_string(out, node.module_type);
  out += ", \"inputs\": [";
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Argument& arg = node.inputs[i];
    if (i) out += ", ";
    out += "{\"name\": ";
    json_append_string(out, arg.name);
    out += ", ";
    append_name(out, arg_kind_name(arg.kind()));
    out += ": ";
    append_argument_value(out, arg.value);
    out.push_back('}');
  }
  out += "], \"outputs\": [";
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (i) out += ", ";
    if (node.outputs[i].is_list) append_value_list(out, node.outputs[i].values);
    else json_append_int(out, node.outputs[i].values.at(0));
  }
  out.push_back(']');
  if (!node.annotations.is_null()) {
    out += ", \"annotations\": ";
    append_annotations(out, node.annotations);
  }
  out.push_back('}');
}

// ---------------------------------------------------------------------------------------
// Reading

// Where we are in the document, as a chain on the stack; turned into a JSON Pointer only
// when an error needs it.
struct Path {
  const Path* parent = nullptr;
  const char* key = nullptr;  // null: an array index
  size_t index = 0;

  Path operator/(const char* k) const { return Path{this, k, 0}; }
  Path operator/(size_t i) const { return Path{this, nullptr, i}; }

  std::string pointer() const {
    std::vector<const Path*> chain;
    for (const Path* p = this; p->parent; p = p->parent) chain.push_back(p);
    std::string out;
    for (size_t i = chain.size(); i-- > 0;) {
      out.push_back('/');
      out += chain[i]->key ? std::string(chain[i]->key) : std::to_string(chain[i]->index);
    }
    return out.empty() ? "/" : out;
  }
};

class Reader {
 public:
  explicit Reader(bool strict) : strict_(strict) {}

  [[noreturn]] void error(const Path& at, const std::string& what) const {
    fail(ErrorKind::kBadInput, at.pointer() + ": " + what);
  }
  [[noreturn]] void expected(const Path& at, const std::string& what, const json& found) const {
    error(at, "expected " + what + ", found " + json_describe(found));
  }

  const json& object(const json& j, const Path& at) const {
    if (!j.is_object()) expected(at, "an object", j);
    return j;
  }
  const json& array(const json& j, const Path& at) const {
    if (!j.is_array()) expected(at, "an array", j);
    return j;
  }
  const json& required(const json& obj, const Path& at, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) error(at, std::string("missing required key \"") + key + "\"");
    return *it;
  }
  // Unknown keys are typos when the file's minor version is one this build knows.
  void known_keys(const json& obj, const Path& at, std::initializer_list<const char*> keys) const {
    if (!strict_) return;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool known = false;
      for (const char* k : keys) known = known || it.key() == k;
      if (!known) error(at, "unknown key \"" + it.key() + "\"");
    }
  }

  int64_t integer(const json& j, const Path& at) const {
    if (j.is_number_integer()) {
      if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        expected(at, "an integer within 64 bits", j);
      return j.get<int64_t>();
    }
    expected(at, "an integer", j);
  }
  double number(const json& j, const Path& at) const {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      const auto& s = j.get_ref<const std::string&>();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    }
    expected(at, "a number (or \"inf\", \"-inf\", \"nan\")", j);
  }
  bool boolean(const json& j, const Path& at) const {
    if (!j.is_boolean()) expected(at, "true or false", j);
    return j.get<bool>();
  }
  const std::string& string(const json& j, const Path& at) const {
    if (!j.is_string()) expected(at, "a string", j);
    return j.get_ref<const std::string&>();
  }
  const json& annotations(const json& j, const Path& at) const {
    object(j, at);
    check_depth(j, at, 0);
    return j;
  }
  void check_depth(const json& j, const Path& at, int depth) const {
    if (depth > kMaxAnnotationDepth)
      error(at, "annotations nest deeper than " + std::to_string(kMaxAnnotationDepth) + " levels");
    if (j.is_structured())
      for (const json& child : j) check_depth(child, at, depth + 1);
  }
  ValueId value_id(const json& j, const Path& at) const {
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() >= int64_t(kNoValue))
      expected(at, "a value id (an integer >= 0)", j);
    return static_cast<ValueId>(j.get<int64_t>());
  }
  std::vector<int64_t> integers(const json& j, const Path& at) const {
    array(j, at);
    std::vector<int64_t> out;
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) out.push_back(integer(j[i], at / i));
    return out;
  }
  DType dtype(const json& j, const Path& at) const {
    auto d = dtype_from_name(string(j, at));
    if (!d) expected(at, "a dtype name such as \"float32\"", j);
    return *d;
  }

  ArgValue argument_value(ArgKind kind, const json& j, const Path& at) const {
    switch (kind) {
      case ArgKind::kNone:
        if (!j.is_null()) expected(at, "null", j);
        return std::monostate{};
      case ArgKind::kTensor: return TensorRef{value_id(j, at)};
      case ArgKind::kTensors: {
        array(j, at);
        TensorListRef list;
        list.values.reserve(j.size());
        for (size_t i = 0; i < j.size(); ++i)
          list.values.push_back(j[i].is_null() ? kNoValue : value_id(j[i], at / i));
        return list;
      }
      case ArgKind::kInt: return integer(j, at);
      case ArgKind::kInts: return integers(j, at);
      case ArgKind::kFloat: return number(j, at);
      case ArgKind::kFloats: {
        array(j, at);
        std::vector<double> out;
        for (size_t i = 0; i < j.size(); ++i) out.push_back(number(j[i], at / i));
        return out;
      }
      case ArgKind::kBool: return boolean(j, at);
      case ArgKind::kBools: {
        array(j, at);
        std::vector<bool> out;
        for (size_t i = 0; i < j.size(); ++i) out.push_back(boolean(j[i], at / i));
        return out;
      }
      case ArgKind::kString: return string(j, at);
      case ArgKind::kDType: return dtype(j, at);
      case ArgKind::kLayout: {
        Layout layout;
        if (!layout_from_name(string(j, at), &layout)) expected(at, "a layout such as \"strided\"", j);
        return layout;
      }
      case ArgKind::kDevice: {
        const std::string& s = string(j, at);
        if (s.empty()) expected(at, "a device such as \"cpu\"", j);
        return Device{s};
      }
      case ArgKind::kMemoryFormat: {
        MemoryFormat format;
        if (!memory_format_from_name(string(j, at), &format))
          expected(at, "a memory format such as \"contiguous_format\"", j);
        return format;
      }
      case ArgKind::kComplex:
        if (!j.is_array() || j.size() != 2) expected(at, "[real, imaginary]", j);
        return std::complex<double>(number(j[0], at / size_t(0)), number(j[1], at / size_t(1)));
    }
    error(at, "internal: unhandled argument kind");
  }

  Argument argument(const json& j, const Path& at) const {
    object(j, at);
    Argument arg;
    bool have_value = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (key == "name") {
        arg.name = string(*it, at / "name");
        continue;
      }
      std::optional<ArgKind> kind;
      for (size_t k = 0; k < std::variant_size_v<ArgValue>; ++k)
        if (arg_kind_name(static_cast<ArgKind>(k)) == key) kind = static_cast<ArgKind>(k);
      if (!kind) {
        if (!strict_) continue;
        error(at, "unknown argument kind \"" + key + "\" (expected one of tensor, tensors, int, ints, "
                  "float, floats, bool, bools, string, dtype, layout, device, memory_format, complex, none)");
      }
      if (have_value) error(at, "an argument holds exactly one value; found a second (\"" + key + "\")");
      Path value_at{&at, arg_kind_name(*kind).data(), 0};
      arg.value = argument_value(*kind, *it, value_at);
      have_value = true;
    }
    if (!have_value) error(at, "the argument has no value (expected a key such as \"tensor\" or \"int\")");
    return arg;
  }

  Value value(const json& j, const Path& at, size_t index) const {
    object(j, at);
    known_keys(j, at, {"id", "dtype", "shape", "strides", "residency"});
    if (integer(required(j, at, "id"), at / "id") != int64_t(index))
      error(at / "id", "expected " + std::to_string(index) + " (ids are positions in \"values\"), found " +
                           json_describe(j["id"]));
    Value v;
    v.type.dtype = dtype(required(j, at, "dtype"), at / "dtype");
    v.type.shape = integers(required(j, at, "shape"), at / "shape");
    if (auto it = j.find("strides"); it != j.end()) v.type.strides = integers(*it, at / "strides");
    const json& residency = required(j, at, "residency");
    if (!residency_from_name(string(residency, at / "residency"), &v.residency))
      expected(at / "residency", "one of \"input\", \"parameter\", \"buffer\", \"constant\", \"activation\"",
               residency);
    return v;
  }

  Node node(const json& j, const Path& at, size_t index) const {
    object(j, at);
    known_keys(j, at, {"id", "op", "overload", "scope", "module_type", "inputs", "outputs", "annotations"});
    if (integer(required(j, at, "id"), at / "id") != int64_t(index))
      error(at / "id", "expected " + std::to_string(index) + " (ids are positions in \"nodes\"), found " +
                           json_describe(j["id"]));
    Node n;
    n.op = string(required(j, at, "op"), at / "op");
    if (auto it = j.find("overload"); it != j.end()) n.overload = string(*it, at / "overload");
    n.scope = string(required(j, at, "scope"), at / "scope");
    if (auto it = j.find("module_type"); it != j.end()) n.module_type = string(*it, at / "module_type");
    const json& inputs = array(required(j, at, "inputs"), at / "inputs");
    n.inputs.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) n.inputs.push_back(argument(inputs[i], at / "inputs" / i));
    const json& outputs = array(required(j, at, "outputs"), at / "outputs");
    n.outputs.reserve(outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      Path out_at = at / "outputs" / i;
      Output out;
      if (outputs[i].is_array()) {
        out.is_list = true;
        for (size_t k = 0; k < outputs[i].size(); ++k) out.values.push_back(value_id(outputs[i][k], out_at / k));
      } else {
        out.values.push_back(value_id(outputs[i], out_at));
      }
      n.outputs.push_back(std::move(out));
    }
    if (auto it = j.find("annotations"); it != j.end()) n.annotations = annotations(*it, at / "annotations");
    return n;
  }

  std::vector<NamedValue> named_list(const json& j, const Path& at) const {
    array(j, at);
    std::vector<NamedValue> out;
    for (size_t i = 0; i < j.size(); ++i) {
      Path item = at / i;
      object(j[i], item);
      known_keys(j[i], item, {"name", "value"});
      out.push_back({string(required(j[i], item, "name"), item / "name"),
                     value_id(required(j[i], item, "value"), item / "value")});
    }
    return out;
  }

  Graph graph(const json& doc) const {
    Path root;
    Graph g;
    const json& values = array(required(doc, root, "values"), root / "values");
    g.values.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) g.values.push_back(value(values[i], root / "values" / i, i));
    const json& nodes = array(required(doc, root, "nodes"), root / "nodes");
    g.nodes.reserve(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) g.nodes.push_back(node(nodes[i], root / "nodes" / i, i));
    g.inputs = named_list(required(doc, root, "inputs"), root / "inputs");
    if (auto it = doc.find("parameters"); it != doc.end()) g.parameters = named_list(*it, root / "parameters");
    g.outputs = named_list(required(doc, root, "outputs"), root / "outputs");
    if (auto it = doc.find("annotations"); it != doc.end()) g.annotations = annotations(*it, root / "annotations");
    return g;
  }

 private:
  bool strict_;
};

// Reads "format" and "version" first: a file of another format or a newer major version
// gets that said plainly rather than a complaint about some field.
bool check_header(const json& doc) {
  Path root;
  Reader loose(false);
  loose.object(doc, root);
  const json& format = loose.required(doc, root, "format");
  if (!format.is_string() || format.get<std::string>() != kGraphFormat)
    loose.expected(root / "format", "\"genie.graph\"", format);
  const json& version = loose.object(loose.required(doc, root, "version"), root / "version");
  int64_t major = loose.integer(loose.required(version, root / "version", "major"), root / "version" / "major");
  int64_t minor = loose.integer(loose.required(version, root / "version", "minor"), root / "version" / "minor");
  if (major != kGraphVersionMajor)
    fail(ErrorKind::kUnsupported, "/version: graph format version " + std::to_string(major) + "." +
                                      std::to_string(minor) + " is not supported (this build reads " +
                                      std::to_string(kGraphVersionMajor) + ".x)");
  return minor <= kGraphVersionMinor;
}


}  // namespace

namespace {

// Writes the document into `out`, handing it to `flush` whenever it holds more than a chunk
// and at the end, so that a large graph goes to its file without ever being one string.
void emit_graph(const Graph& graph, TextOut& out, const std::function<void(std::string_view)>& flush) {
  constexpr size_t kChunk = size_t{1} << 20;
  auto maybe_flush = [&] {
    if (out.size() >= kChunk) {
      flush(out.view());
      out.clear();
    }
  };
  out += "{\n  \"format\": \"genie.graph\",\n  \"version\": {\"major\": ";
  json_append_int(out, kGraphVersionMajor);
  out += ", \"minor\": ";
  json_append_int(out, kGraphVersionMinor);
  out += "},\n";
  if (!graph.annotations.is_null()) {
    out += "  \"annotations\": ";
    append_annotations(out, graph.annotations);
    out += ",\n";
  }
  out += "  \"inputs\": ";
  append_named(out, graph.inputs);
  out += ",\n  \"parameters\": ";
  append_named(out, graph.parameters);
  out += ",\n  \"outputs\": ";
  append_named(out, graph.outputs);
  out += ",\n  \"values\": [";
  for (ValueId v = 0; v < graph.values.size(); ++v) {
    out += v ? ",\n    " : "\n    ";
    append_value(out, v, graph.values[v]);
    maybe_flush();
  }
  out += graph.values.empty() ? "],\n" : "\n  ],\n";
  out += "  \"nodes\": [";
  for (NodeId n = 0; n < graph.nodes.size(); ++n) {
    out += n ? ",\n    " : "\n    ";
    append_node(out, n, graph.nodes[n]);
    maybe_flush();
  }
  out += graph.nodes.empty() ? "]\n}\n" : "\n  ]\n}\n";
  flush(out.view());
}

}  // namespace

std::string graph_to_json(const Graph& graph) {
  std::string text;
  text.reserve(256 + graph.values.size() * 80 + graph.nodes.size() * 240);
  TextOut chunk((size_t{1} << 20) + 4096);
  emit_graph(graph, chunk, [&](std::string_view part) { text += part; });
  return text;
}

Graph graph_from_json(std::string_view text, const std::string& source) {
  try {
    json doc;
    try {
      doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
      fail(ErrorKind::kBadInput, "invalid JSON: " + json_parse_error_text(e.what()));
    }
    bool strict = check_header(doc);
    Reader reader(strict);
    reader.known_keys(doc, Path{}, {"format", "version", "annotations", "inputs", "parameters", "outputs",
                                    "values", "nodes"});
    Graph graph = reader.graph(doc);
    graph_validate(graph);
    return graph;
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
}

Graph graph_read(const std::string& path) { return graph_from_json(read_file(path), display_path(path)); }

void graph_write(const Graph& graph, const std::string& path) {
  write_file_atomic(path, [&](std::ostream& file) {
    TextOut chunk((size_t{1} << 20) + 4096);
    emit_graph(graph, chunk, [&](std::string_view text) { file.write(text.data(), static_cast<std::streamsize>(text.size())); });
  });
}

}  // namespace genie
