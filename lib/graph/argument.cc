#include "graph/argument.h"

#include <array>

namespace genie {
namespace {

constexpr std::array<std::string_view, 8> kLayoutNames = {
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "mkldnn", "jagged"};
constexpr std::array<std::string_view, 4> kMemoryFormatNames = {
    "contiguous_format", "preserve_format", "channels_last", "channels_last_3d"};
constexpr std::array<std::string_view, 15> kArgKindNames = {
    "none", "tensor", "tensors", "int",  "ints",   "float",  "floats",        "bool",
    "bools", "string", "dtype",  "layout", "device", "memory_format", "complex"};
static_assert(kArgKindNames.size() == std::variant_size_v<ArgValue>);

template <typename Enum, size_t N>
bool enum_from_name(const std::array<std::string_view, N>& names, std::string_view name, Enum* out) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      *out = static_cast<Enum>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view layout_name(Layout layout) { return kLayoutNames[static_cast<size_t>(layout)]; }
bool layout_from_name(std::string_view name, Layout* out) { return enum_from_name(kLayoutNames, name, out); }

std::string_view memory_format_name(MemoryFormat format) {
  return kMemoryFormatNames[static_cast<size_t>(format)];
}
bool memory_format_from_name(std::string_view name, MemoryFormat* out) {
  return enum_from_name(kMemoryFormatNames, name, out);
}

std::string_view arg_kind_name(ArgKind kind) { return kArgKindNames[static_cast<size_t>(kind)]; }

}  // namespace genie
