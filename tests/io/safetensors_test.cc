#include "io/safetensors.h"

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "graph/json_codec.h"
#include "io/weights.h"
#include "support/error.h"
#include "support/files.h"

namespace genie {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("genie-st-" + std::to_string(::getpid()) + "-" + name)).string();
}

// A file in memory: 8-byte length, header, data.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

std::string parse_error(const std::string& bytes) {
  try {
    SafetensorsFile::from_bytes(bytes, "w.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Safetensors, WriteThenReadMapped) {
  std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  std::vector<int64_t> idx = {1, -2, 3};
  std::vector<uint8_t> mask = {1, 0};
  std::string path = temp_path("rt.safetensors");
  safetensors_write(path,
                    {{"layer.weight", DType::kFloat32, {2, 3}, w.data(), w.size() * 4},
                     {"idx", DType::kInt64, {3}, idx.data(), idx.size() * 8},
                     {"mask", DType::kBool, {2}, mask.data(), 2},
                     {"empty", DType::kFloat16, {0, 4}, nullptr, 0}},
                    {{"format", "pt"}});
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 4u);
  // Largest element size first, then by name: every tensor aligned to its element size.
  EXPECT_EQ(f.tensors()[0].name, "idx");
  EXPECT_EQ(f.tensors()[1].name, "layer.weight");
  for (const TensorView& t : f.tensors())
    if (t.size) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype), 0u) << t.name;
    }
  const TensorView& lw = f.at("layer.weight");
  EXPECT_EQ(lw.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(lw.data, w.data(), 24), 0);
  EXPECT_EQ(std::memcmp(f.at("idx").data, idx.data(), 24), 0);
  EXPECT_EQ(f.at("empty").size, 0u);
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_THROW(f.at("nope"), Error);
  fs::remove(path);
}

TEST(Safetensors, SameTensorsSameBytes) {
  std::vector<int32_t> a = {1, 2, 3};
  std::string p1 = temp_path("d1"), p2 = temp_path("d2");
  safetensors_write(p1, {{"b", DType::kInt32, {3}, a.data(), 12}, {"a", DType::kInt32, {3}, a.data(), 12}});
  safetensors_write(p2, {{"a", DType::kInt32, {3}, a.data(), 12}, {"b", DType::kInt32, {3}, a.data(), 12}});
  EXPECT_EQ(read_file(p1), read_file(p2));
  EXPECT_EQ(read_file(p1).size() % 8, 0u);
  fs::remove(p1);
  fs::remove(p2);
}

TEST(Safetensors, WriterRefusesInconsistentTensors) {
  float x[2] = {};
  EXPECT_THROW(safetensors_write(temp_path("bad"), {{"x", DType::kFloat32, {3}, x, 8}}), Error);
  EXPECT_THROW(safetensors_write(temp_path("bad"), {{"x", DType::kFloat32, {2}, x, 8}, {"x", DType::kFloat32, {2}, x, 8}}),
               Error);
  EXPECT_THROW(safetensors_write(temp_path("bad"), {{"x", DType::kComplex128, {0}, x, 0}}), Error);
  EXPECT_FALSE(fs::exists(temp_path("bad")));
}

TEST(Safetensors, CorruptHeadersAreRefusedWithTheRuleBroken) {
  const std::string f32x2 = std::string(8, '\0');
  EXPECT_EQ(parse_error("abc"), "w.safetensors: not a valid safetensors file: shorter than its 8-byte header length (3 bytes)");
  EXPECT_EQ(parse_error(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"),
            "w.safetensors: not a valid safetensors file: header length 9223372036854775807 exceeds the limit of "
            "100000000 bytes");
  EXPECT_EQ(parse_error(std::string("\x40\0\0\0\0\0\0\0", 8) + "{}"),
            "w.safetensors: not a valid safetensors file: header length 64 runs past the end of the file (10 bytes)");
  EXPECT_EQ(parse_error(make_file("[1]", "")), "w.safetensors: not a valid safetensors file: the header does not start with '{'");
  EXPECT_EQ(parse_error(make_file("{\"a\": ", "")).rfind("w.safetensors: not a valid safetensors file: the header is not valid JSON: ", 0), 0u);
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\": unknown dtype \"F33\"");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\": data_offsets span 8 bytes, but shape and "
            "dtype need 12");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\": shape entries must be integers >= 0, found -2");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\": the shape's element count overflows");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\": data_offsets end before they begin");
  // Overlap: both tensors claim bytes 0..8.
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                      "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"b\" starts at byte 0 of the data, expected 8 (it "
            "overlaps the previous tensor)");
  // A gap, and bytes no tensor covers.
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: tensor \"a\" starts at byte 4 of the data, expected 0 (a gap)");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: the tensors cover 4 bytes of data, but the file holds 8");
  EXPECT_EQ(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", f32x2)),
            "w.safetensors: not a valid safetensors file: the tensors cover 16 bytes of data, but the file holds 8");
  EXPECT_EQ(parse_error(make_file(R"({"__metadata__": {"a": 1}})", "")),
            "w.safetensors: not a valid safetensors file: \"__metadata__\"/\"a\" must be a string");
}

TEST(Safetensors, EveryTruncationIsRefused) {
  std::vector<double> v(5, 2.0);
  std::string path = temp_path("trunc");
  safetensors_write(path, {{"v", DType::kFloat64, {5}, v.data(), 40}});
  std::string bytes = read_file(path);
  for (size_t len = 0; len < bytes.size(); ++len) EXPECT_THROW(SafetensorsFile::from_bytes(bytes.substr(0, len), "t"), Error);
  fs::remove(path);
}

TEST(Safetensors, SharedBytesAreViewedNotCopied) {
  const std::string f32x2("\0\0\x80\x3f\0\0\0\x40", 8);  // 1.0f, 2.0f
  auto bytes = std::make_shared<const std::string>(
      make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", f32x2));
  const uint8_t* begin = reinterpret_cast<const uint8_t*>(bytes->data());
  SafetensorsFile file = SafetensorsFile::from_shared_bytes(bytes, "shared");
  EXPECT_EQ(bytes.use_count(), 2);  // the file keeps the bytes alive
  const TensorView& a = file.at("a");
  EXPECT_GE(a.data, begin);
  EXPECT_LT(a.data, begin + bytes->size());
  float second;
  std::memcpy(&second, a.data + 4, 4);
  EXPECT_EQ(second, 2.0f);
  EXPECT_THROW(SafetensorsFile::from_shared_bytes(std::make_shared<const std::string>("short"), "s"), Error);
}

TEST(Safetensors, MissingFileIsAnIoError) {
  try {
    SafetensorsFile::open("/nonexistent/w.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

TEST(Weights, CheckAgainstGraph) {
  Graph g;
  g.add_parameter("w", TensorType{DType::kFloat32, {2}, {}});
  float x[2] = {1, 2};
  std::string path = temp_path("wc");
  safetensors_write(path, {{"w", DType::kFloat32, {2}, x, 8}});
  weights_check(g, SafetensorsFile::open(path));
  g.values[0].type.shape = {3};
  try {
    weights_check(g, SafetensorsFile::open(path));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "weights tensor \"w\" is float32[2], the graph expects float32[3]");
  }
  g.parameters[0].name = "v";
  EXPECT_THROW(weights_check(g, SafetensorsFile::open(path)), Error);
  fs::remove(path);
}

}  // namespace
}  // namespace genie
