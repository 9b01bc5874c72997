// Test helper: lets the Python interop test drive Genie's safetensors reader and writer.
//   safetensors_tool write PATH   writes the reference tensors (see test_safetensors_interop.py)
//   safetensors_tool dump PATH    prints every tensor as JSON: dtype, shape, bytes in hex
#include <cstring>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "support/error.h"

namespace {

// Element i of each reference tensor is a simple function of i, recomputed in Python.
int write(const std::string& path) {
  std::vector<float> f32(2 * 3 * 4);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<float>(i) * 0.5f - 3.0f;
  std::vector<double> f64 = {1.0 / 3.0, -2.5, 1e300};
  std::vector<int64_t> i64 = {-(int64_t{1} << 62), 0, 42};
  std::vector<int32_t> i32 = {7, -7};
  std::vector<uint8_t> u8 = {0, 127, 255};
  std::vector<uint8_t> b = {1, 0, 1, 1};
  std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7C00};   // 1.0, -2.0, inf
  std::vector<uint16_t> bf16 = {0x3F80, 0x4040};          // 1.0, 3.0
  genie::safetensors_write(path,
                           {{"encoder.layer.0.weight", genie::DType::kFloat32, {2, 3, 4}, f32.data(), f32.size() * 4},
                            {"f64", genie::DType::kFloat64, {3}, f64.data(), 24},
                            {"i64", genie::DType::kInt64, {3}, i64.data(), 24},
                            {"i32", genie::DType::kInt32, {2, 1}, i32.data(), 8},
                            {"u8", genie::DType::kUInt8, {3}, u8.data(), 3},
                            {"mask", genie::DType::kBool, {2, 2}, b.data(), 4},
                            {"half", genie::DType::kFloat16, {3}, f16.data(), 6},
                            {"brain", genie::DType::kBFloat16, {2}, bf16.data(), 4},
                            {"scalar", genie::DType::kFloat32, {}, f32.data() + 1, 4},
                            {"empty", genie::DType::kFloat32, {0, 5}, nullptr, 0}},
                           {{"producer", "genie"}});
  return 0;
}

int dump(const std::string& path) {
  genie::SafetensorsFile file = genie::SafetensorsFile::open(path);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  static const char* kHex = "0123456789abcdef";
  for (const auto& t : file.tensors()) {
    std::string hex;
    for (size_t i = 0; i < t.size; ++i) {
      hex.push_back(kHex[t.data[i] >> 4]);
      hex.push_back(kHex[t.data[i] & 15]);
    }
    out[t.name] = {{"dtype", std::string(genie::dtype_name(t.dtype))}, {"shape", t.shape}, {"hex", hex}};
  }
  out["__metadata__"] = file.metadata();
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: safetensors_tool write|dump PATH\n";
    return 2;
  }
  try {
    std::string verb = argv[1];
    if (verb == "write") return write(argv[2]);
    if (verb == "dump") return dump(argv[2]);
  } catch (const genie::Error& e) {
    std::cerr << "safetensors_tool: " << e.what() << "\n";
    return genie::exit_code_for(e.kind());
  }
  std::cerr << "usage: safetensors_tool write|dump PATH\n";
  return 2;
}
