// The .pt2 reader and front end on archives written here with LibTorch's own zip writer: a
// small valid program captured and run, and archives with one thing wrong, each refused
// with its kind of error (these run under the sanitizers without Python).
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "capture/exported_program.h"
#include "capture/model_capture.h"
#include "support/error.h"

namespace genie {
namespace {

using nlohmann::json;

json tensor_meta(int dtype, std::vector<int64_t> sizes, json first_size = nullptr) {
  json m = {{"dtype", dtype}, {"sizes", json::array()}, {"strides", json::array()},
            {"storage_offset", {{"as_int", 0}}}, {"requires_grad", false},
            {"device", {{"type", "cpu"}, {"index", nullptr}}}, {"layout", 7}};
  int64_t stride = 1;
  std::vector<int64_t> strides(sizes.size());
  for (size_t i = sizes.size(); i-- > 0;) strides[i] = stride, stride *= sizes[i];
  for (size_t i = 0; i < sizes.size(); ++i) {
    m["sizes"].push_back(i == 0 && !first_size.is_null() ? first_size : json{{"as_int", sizes[i]}});
    m["strides"].push_back({{"as_int", strides[i]}});
  }
  return m;
}

json node(const std::string& target, json inputs, const std::string& output, const std::string& stack) {
  return {{"target", target}, {"inputs", inputs}, {"outputs", {{{"as_tensor", {{"name", output}}}}}},
          {"metadata", {{"nn_module_stack", stack}}}, {"name", output}};
}

json arg(const std::string& name, json value) { return {{"name", name}, {"arg", value}, {"kind", 1}}; }
json tensor_arg(const std::string& name) { return {{"as_tensor", {{"name", name}}}}; }

// forward(x): relu_(x * 2 + bias).view(s0 * 4) * scale.weight, x float32[s0, 4] (s0 in 1..8,
// example 2): a Python number for a tensor argument, a left-out default (alpha), an in-place
// operator, size arithmetic, module scopes from nn_module_stack.
json program() {
  const std::string root = "L__self__,,m.Net";
  json nodes = {
      node("torch.ops.aten.mul.Tensor", {arg("self", tensor_arg("x")), arg("other", {{"as_float", 2.0}})}, "mul",
           root),
      // alpha left out: the schema's default.
      node("torch.ops.aten.add.Tensor", {arg("self", tensor_arg("mul")), arg("other", tensor_arg("b_bias"))}, "add",
           root + ";L__self___block,block,m.Block"),
      node("torch.ops.aten.relu_.default", {arg("self", tensor_arg("add"))}, "relu_",
           root + ";L__self___block,block,m.Block;L__self___block_act,block.act,torch.nn.ReLU"),
      {{"target", "torch.ops.aten.sym_size.int"},
       {"inputs", {arg("self", tensor_arg("x")), arg("dim", {{"as_int", 0}})}},
       {"outputs", {{{"as_sym_int", {{"as_name", "sym_size_int"}}}}}},
       {"metadata", json::object()}},
      {{"target", "_operator.mul"},
       {"inputs", {arg("a", {{"as_sym_int", {{"as_name", "sym_size_int"}}}}), arg("b", {{"as_int", 4}})}},
       {"outputs", {{{"as_sym_int", {{"as_name", "numel"}}}}}},
       {"metadata", json::object()}},
      node("torch.ops.aten.view.default",
           {arg("self", tensor_arg("relu_")), arg("size", {{"as_sym_ints", {{{"as_name", "numel"}}}}})}, "view", root),
      node("torch.ops.aten.mul.Tensor", {arg("self", tensor_arg("view")), arg("other", tensor_arg("p_scale_weight"))},
           "out", root + ";L__self___scale,scale,m.Scale"),
  };
  json sym = {{"as_expr", {{"expr_str", "Symbol('s0', positive=True, integer=True)"}, {"hint", {{"as_int", 2}}}}}};
  return {
      {"schema_version", {{"major", 8}, {"minor", 20}}},
      {"range_constraints", {{"s0", {{"min_val", 1}, {"max_val", 8}}}}},
      {"graph_module",
       {{"graph",
         {{"inputs", {tensor_arg("p_scale_weight"), tensor_arg("b_bias"), tensor_arg("x")}},
          {"outputs", {tensor_arg("out")}},
          {"nodes", nodes},
          {"tensor_values", {{"x", tensor_meta(7, {2, 4}, sym)}}}}},
        {"signature",
         {{"input_specs",
           {{{"parameter", {{"arg", {{"name", "p_scale_weight"}}}, {"parameter_name", "scale.weight"}}}},
            {{"buffer", {{"arg", {{"name", "b_bias"}}}, {"buffer_name", "bias"}, {"persistent", true}}}},
            {{"user_input", {{"arg", tensor_arg("x")}}}}}},
          {"output_specs", {{{"user_output", {{"arg", tensor_arg("out")}}}}}}}}}}};
}

struct Archive {
  std::map<std::string, std::string> records;

  Archive() {
    records["archive_format"] = "pt2";
    records["models/model.json"] = program().dump();
    std::vector<float> weight{1, 2, 3, 4, 5, 6, 7, 8}, bias{0.5f, -1, 0, 2};
    records["data/weights/weight_0"] = std::string(reinterpret_cast<const char*>(weight.data()), weight.size() * 4);
    records["data/weights/weight_1"] = std::string(reinterpret_cast<const char*>(bias.data()), bias.size() * 4);
    json config = {{"config",
                    {{"scale.weight", {{"path_name", "weight_0"}, {"is_param", true}, {"use_pickle", false},
                                       {"tensor_meta", tensor_meta(7, {8})}}},
                     {"bias", {{"path_name", "weight_1"}, {"is_param", false}, {"use_pickle", false},
                               {"tensor_meta", tensor_meta(7, {4})}}}}}};
    records["data/weights/model_weights_config.json"] = config.dump();
  }

  void edit_program(const std::function<void(json&)>& change) {
    json p = json::parse(records["models/model.json"]);
    change(p);
    records["models/model.json"] = p.dump();
  }

  std::string write(const std::string& name) const {
    const std::string path = ::testing::TempDir() + name + ".pt2";
    caffe2::serialize::PyTorchStreamWriter writer(path);
    for (const auto& [record, data] : records) writer.writeRecord(record, data.data(), data.size());
    writer.writeEndOfFile();
    return path;
  }
};

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::kInternal;
}

TEST(ExportedProgram, CapturesAndRunsASmallProgram) {
  const std::string path = Archive().write("small");
  ASSERT_TRUE(is_pt2_archive(path));
  auto model = model_open(path);
  EXPECT_EQ(model->format(), "torch.export");
  EXPECT_EQ(model->input_names(), std::vector<std::string>{"x"});
  ASSERT_EQ(model->example_input_types().size(), 1u);
  EXPECT_EQ(model->example_input_types()[0].shape, (std::vector<int64_t>{2, 4}));

  // Batch 2: the flattened result multiplies scale.weight's 8 elements.
  at::Tensor x = at::arange(8, at::kFloat).reshape({2, 4}) - 3;
  at::Tensor bias = at::tensor({0.5f, -1.f, 0.f, 2.f});
  at::Tensor expected = (x * 2 + bias).relu().view({8}) * at::arange(1, 9, at::kFloat);

  CapturedModel captured = model_capture(*model, {x});
  const Graph& g = captured.graph;
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) ops.push_back(n.op + "@" + n.scope + ":" + n.module_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"aten::mul@:Net", "aten::add@block:Block", "aten::relu@block.act:ReLU",
                                           "aten::view_copy@:Net", "aten::mul@scale:Scale"}));
  EXPECT_FALSE(captured.functionalized);
  // Functionalization regenerates the view of the base relu_ wrote (a second view_copy, in
  // the scope of the node that reads it): the same computation, one node more.
  std::vector<std::string> functionalized_ops;
  for (const Node& n : model_capture(*model, {x}, GraphBuilder::default_options(), Functionalization::kAlways).graph.nodes)
    functionalized_ops.push_back(n.op + "@" + n.scope + ":" + n.module_type);
  EXPECT_EQ(functionalized_ops, (std::vector<std::string>{"aten::mul@:Net", "aten::add@block:Block",
                                                          "aten::relu@block.act:ReLU", "aten::view_copy@:Net",
                                                          "aten::view_copy@scale:Scale", "aten::mul@scale:Scale"}));
  EXPECT_EQ(g.annotations["dynamic_dims"], json::parse(R"({"x": {"0": {"symbol": "s0", "min": 1, "max": 8}}})"));
  EXPECT_EQ(g.annotations["source_format"], "torch.export");
  // Parameters and buffers by model name; the number 2 became a 0-dim constant.
  ASSERT_EQ(captured.weights.size(), 3u);
  EXPECT_EQ(captured.weights[0].first, "scale.weight");
  EXPECT_EQ(captured.weights[1].first, "bias");
  EXPECT_TRUE(at::equal(captured.weights[1].second, bias));
  EXPECT_EQ(captured.weights[2].first, "constant.0");
  EXPECT_EQ(captured.weights[2].second.item<double>(), 2.0);

  auto eager = model->run_eager({x});
  ASSERT_EQ(eager.size(), 1u);
  EXPECT_EQ(eager[0].first, "output");
  EXPECT_TRUE(at::allclose(eager[0].second, expected));

  // Inputs held to the program: a dynamic size out of range, a static one that differs.
  std::string message;
  EXPECT_EQ(kind_of([&] { model_capture(*model, {at::zeros({9, 4})}); }, &message), ErrorKind::kUsage);
  EXPECT_NE(message.find("dimension 0 is 9, outside its range"), std::string::npos) << message;
  EXPECT_EQ(kind_of([&] { model_capture(*model, {at::zeros({2, 5})}); }, &message), ErrorKind::kUsage);
  EXPECT_NE(message.find("dimension 1 is 5, not 4"), std::string::npos) << message;
  EXPECT_EQ(kind_of([] { model_open(Archive().write("m"), "encode"); }), ErrorKind::kUsage);
  std::remove(path.c_str());
}

TEST(ExportedProgram, AnArgumentOfTheWrongKindIsBadInput) {
  Archive a;
  a.edit_program([](json& p) {
    p["graph_module"]["graph"]["nodes"][1]["inputs"].push_back(arg("alpha", {{"as_int", "two"}}));
  });
  const std::string path = a.write("wrong_kind");
  auto model = model_open(path);
  std::string message;
  EXPECT_EQ(kind_of([&] { model_capture(*model, {at::zeros({2, 4})}); }, &message), ErrorKind::kBadInput);
  EXPECT_NE(message.find("node add (torch.ops.aten.add.Tensor): "), std::string::npos) << message;
  std::remove(path.c_str());
}

TEST(ExportedProgram, RefusesWhatItCannotRead) {
  auto refused = [](const std::string& name, const Archive& a, ErrorKind want, const std::string& says) {
    const std::string path = a.write(name);
    std::string message;
    EXPECT_EQ(kind_of([&] { exported_program_read(path); }, &message), want) << name << ": " << message;
    EXPECT_NE(message.find(says), std::string::npos) << name << ": " << message;
    std::remove(path.c_str());
  };
  Archive newer;
  newer.edit_program([](json& p) { p["schema_version"]["major"] = 9; });
  refused("newer", newer, ErrorKind::kUnsupported, "export schema version 9.20; Genie reads major version 8");

  Archive foreign;
  foreign.edit_program([](json& p) {
    auto& nodes = p["graph_module"]["graph"]["nodes"];
    nodes[0]["target"] = "torch.ops.mylib.scale.default";
    nodes[1]["target"] = "torch.ops.mylib.scale.default";
  });
  refused("foreign", foreign, ErrorKind::kUnsupported,
          "operators outside ATen: torch.ops.mylib.scale.default (2 nodes)");

  Archive unknown;
  unknown.edit_program([](json& p) { p["graph_module"]["graph"]["nodes"][0]["target"] = "torch.ops.aten.nope.default"; });
  refused("unknown", unknown, ErrorKind::kUnsupported, "operator aten::nope is not known to this LibTorch");

  Archive missing;
  missing.records.erase("data/weights/weight_1");
  refused("missing", missing, ErrorKind::kBadInput, "record data/weights/weight_1 is missing");

  Archive short_record;
  short_record.records["data/weights/weight_0"] = "abcd";
  refused("short", short_record, ErrorKind::kBadInput, "\"scale.weight\" reaches past the end of its record");

  Archive not_json;
  not_json.records["models/model.json"] = "{\"schema_version\": ";
  refused("not_json", not_json, ErrorKind::kBadInput, "models/model.json");

  Archive no_signature;
  no_signature.edit_program([](json& p) { p["graph_module"].erase("signature"); });
  refused("no_signature", no_signature, ErrorKind::kBadInput, "graph_module has no \"signature\"");

  Archive aoti;
  aoti.records.erase("models/model.json");
  aoti.records["data/aotinductor/model/m.wrapper.so"] = "\x7f" "ELF";
  refused("aoti", aoti, ErrorKind::kUnsupported, "only an AOTInductor-compiled model");

  Archive far;  // offset * element size overflows int64
  {
    json config = json::parse(far.records["data/weights/model_weights_config.json"]);
    config["config"]["bias"]["tensor_meta"]["storage_offset"] = {{"as_int", int64_t{1} << 61}};
    far.records["data/weights/model_weights_config.json"] = config.dump();
  }
  refused("far", far, ErrorKind::kBadInput, "\"bias\" reaches past the end of its record");

  Archive backwards;
  {
    json config = json::parse(backwards.records["data/weights/model_weights_config.json"]);
    config["config"]["bias"]["tensor_meta"]["strides"][0] = {{"as_int", -1}};
    backwards.records["data/weights/model_weights_config.json"] = config.dump();
  }
  refused("backwards", backwards, ErrorKind::kBadInput, "\"bias\" has a negative size or stride");

  Archive negative_example;
  negative_example.edit_program([](json& p) {
    p["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][1] = {{"as_int", -4}};
  });
  refused("negative_example", negative_example, ErrorKind::kBadInput, "input \"x\" has a negative example size");

  Archive outside;
  outside.edit_program([](json& p) { p["range_constraints"]["s0"]["max_val"] = 1; });
  refused("outside", outside, ErrorKind::kBadInput, "the example size 2 lies outside its range 1..1");

  Archive pickled;
  pickled.edit_program([](json&) {});
  {
    json config = json::parse(pickled.records["data/weights/model_weights_config.json"]);
    config["config"]["bias"]["use_pickle"] = true;
    pickled.records["data/weights/model_weights_config.json"] = config.dump();
  }
  refused("pickled", pickled, ErrorKind::kUnsupported, "\"bias\" is stored pickled");
}

}  // namespace
}  // namespace genie
