#include "io/safetensors.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <ostream>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/error.h"
#include "support/files.h"

namespace genie {
namespace {

using nlohmann::json;

struct NamePair {
  DType dtype;
  std::string_view name;
};

constexpr std::array<NamePair, 16> kNames = {{
    {DType::kBool, "BOOL"},      {DType::kUInt8, "U8"},          {DType::kInt8, "I8"},
    {DType::kInt16, "I16"},      {DType::kInt32, "I32"},         {DType::kInt64, "I64"},
    {DType::kUInt16, "U16"},     {DType::kUInt32, "U32"},        {DType::kUInt64, "U64"},
    {DType::kFloat16, "F16"},    {DType::kBFloat16, "BF16"},     {DType::kFloat32, "F32"},
    {DType::kFloat64, "F64"},    {DType::kComplex64, "C64"},     {DType::kFloat8E4M3, "F8_E4M3"},
    {DType::kFloat8E5M2, "F8_E5M2"},
}};

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::optional<std::string_view> safetensors_dtype_name(DType dtype) {
  for (const auto& p : kNames)
    if (p.dtype == dtype) return p.name;
  return std::nullopt;
}

std::optional<DType> safetensors_dtype_from_name(std::string_view name) {
  for (const auto& p : kNames)
    if (p.name == name) return p.dtype;
  return std::nullopt;
}

// Either a read-only mapping of a file or bytes held in memory.
struct SafetensorsFile::Storage {
  std::shared_ptr<const std::string> bytes;
  void* map = nullptr;
  size_t map_size = 0;

  // Neither for an empty file (nothing to map).
  const uint8_t* data() const {
    if (map) return static_cast<const uint8_t*>(map);
    return bytes ? reinterpret_cast<const uint8_t*>(bytes->data()) : nullptr;
  }
  size_t size() const { return map ? map_size : bytes ? bytes->size() : 0; }
  ~Storage() {
    if (map) ::munmap(map, map_size);
  }
};

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  if (path == "-") return from_bytes(read_file(path), display_path(path));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::kIo, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(ErrorKind::kIo, path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kIo, path + ": not a regular file");
  }
  auto storage = std::make_unique<Storage>();
  if (st.st_size > 0) {
    void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorKind::kIo, path + ": cannot map: " + std::strerror(err));
    }
    storage->map = map;
    storage->map_size = static_cast<size_t>(st.st_size);
  }
  ::close(fd);
  return SafetensorsFile(std::move(storage), path);
}

SafetensorsFile SafetensorsFile::from_bytes(std::string bytes, const std::string& source) {
  return from_shared_bytes(std::make_shared<const std::string>(std::move(bytes)), source);
}

SafetensorsFile SafetensorsFile::from_shared_bytes(std::shared_ptr<const std::string> bytes, const std::string& source) {
  auto storage = std::make_unique<Storage>();
  storage->bytes = std::move(bytes);
  return SafetensorsFile(std::move(storage), source);
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<Storage> storage, const std::string& source)
    : storage_(std::move(storage)), source_(source) {
  auto bad = [&](const std::string& what) { fail(ErrorKind::kBadInput, source_ + ": not a valid safetensors file: " + what); };
  const uint8_t* base = storage_->data();
  const uint64_t file_size = storage_->size();
  if (file_size < 8) bad("shorter than its 8-byte header length (" + std::to_string(file_size) + " bytes)");
  const uint64_t header_size = read_le64(base);
  if (header_size > kSafetensorsMaxHeader)
    bad("header length " + std::to_string(header_size) + " exceeds the limit of " +
        std::to_string(kSafetensorsMaxHeader) + " bytes");
  if (header_size > file_size - 8)
    bad("header length " + std::to_string(header_size) + " runs past the end of the file (" +
        std::to_string(file_size) + " bytes)");
  if (header_size < 2 || base[8] != '{') bad("the header does not start with '{'");

  json header;
  try {
    header = json::parse(base + 8, base + 8 + header_size);
  } catch (const json::exception& e) {
    std::string what = e.what();
    auto at = what.find("] ");
    bad("the header is not valid JSON: " + (at == std::string::npos ? what : what.substr(at + 2)));
  }
  if (!header.is_object()) bad("the header is not a JSON object");

  struct Entry {
    uint64_t begin, end;
    TensorView view;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& info = it.value();
    if (name == "__metadata__") {
      if (!info.is_object()) bad("\"__metadata__\" must be an object of strings");
      for (auto m = info.begin(); m != info.end(); ++m) {
        if (!m.value().is_string()) bad("\"__metadata__\"/\"" + m.key() + "\" must be a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto tensor_bad = [&](const std::string& what) { bad("tensor \"" + name + "\": " + what); };
    if (!info.is_object()) tensor_bad("expected an object with dtype, shape and data_offsets");
    auto dtype_it = info.find("dtype");
    auto shape_it = info.find("shape");
    auto offsets_it = info.find("data_offsets");
    if (dtype_it == info.end() || shape_it == info.end() || offsets_it == info.end())
      tensor_bad("expected keys dtype, shape and data_offsets");
    if (!dtype_it->is_string()) tensor_bad("dtype must be a string");
    auto dtype = safetensors_dtype_from_name(dtype_it->get<std::string>());
    if (!dtype) tensor_bad("unknown dtype \"" + dtype_it->get<std::string>() + "\"");
    if (!shape_it->is_array()) tensor_bad("shape must be an array of sizes");
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (const json& d : *shape_it) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
        tensor_bad("shape entries must be integers >= 0, found " + d.dump());
      int64_t dim = d.get<int64_t>();
      if (__builtin_mul_overflow(numel, dim, &numel)) tensor_bad("the shape's element count overflows");
      shape.push_back(dim);
    }
    int64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, dtype_size(*dtype), &nbytes)) tensor_bad("the tensor's byte size overflows");
    if (!offsets_it->is_array() || offsets_it->size() != 2 || !(*offsets_it)[0].is_number_unsigned() ||
        !(*offsets_it)[1].is_number_unsigned())
      tensor_bad("data_offsets must be [begin, end] with integers >= 0");
    uint64_t begin = (*offsets_it)[0].get<uint64_t>();
    uint64_t end = (*offsets_it)[1].get<uint64_t>();
    if (end < begin) tensor_bad("data_offsets end before they begin");
    if (end - begin != uint64_t(nbytes))
      tensor_bad("data_offsets span " + std::to_string(end - begin) + " bytes, but shape and dtype need " +
                 std::to_string(nbytes));
    entries.push_back({begin, end, TensorView{name, *dtype, std::move(shape), nullptr, size_t(end - begin)}});
  }

  // Sorted by offset, each tensor must start where the previous one ended, and the last
  // one end where the file does: no overlap, no gap, no trailing bytes.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const uint64_t data_size = file_size - 8 - header_size;
  uint64_t expected = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected)
      bad("tensor \"" + e.view.name + "\" starts at byte " + std::to_string(e.begin) + " of the data, expected " +
          std::to_string(expected) + (e.begin < expected ? " (it overlaps the previous tensor)" : " (a gap)"));
    expected = e.end;
  }
  if (expected != data_size)
    bad("the tensors cover " + std::to_string(expected) + " bytes of data, but the file holds " +
        std::to_string(data_size));

  const uint8_t* data = base + 8 + header_size;
  tensors_.reserve(entries.size());
  for (Entry& e : entries) {
    e.view.data = data + e.begin;
    index_[e.view.name] = tensors_.size();
    tensors_.push_back(std::move(e.view));
  }
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
  const TensorView* view = find(name);
  if (!view) fail(ErrorKind::kBadInput, source_ + ": no tensor named \"" + name + "\"");
  return *view;
}

namespace {

// Checks the tensors and returns a function that writes the file's bytes to a stream.
std::function<void(std::ostream&)> safetensors_writer(const std::vector<TensorToWrite>& tensors,
                                                      const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  std::set<std::string> names;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__") fail(ErrorKind::kUsage, "a tensor cannot be named \"__metadata__\"");
    if (!names.insert(t.name).second) fail(ErrorKind::kUsage, "two tensors are named \"" + t.name + "\"");
    if (!safetensors_dtype_name(t.dtype))
      fail(ErrorKind::kUnsupported, "tensor \"" + t.name + "\": safetensors cannot hold dtype " +
                                        std::string(dtype_name(t.dtype)));
    int64_t numel = 1;
    for (int64_t d : t.shape)
      if (d < 0 || __builtin_mul_overflow(numel, d, &numel))
        fail(ErrorKind::kUsage, "tensor \"" + t.name + "\": invalid shape");
    if (uint64_t(numel) * uint64_t(dtype_size(t.dtype)) != t.size)
      fail(ErrorKind::kUsage, "tensor \"" + t.name + "\": " + std::to_string(t.size) +
                                  " bytes given, shape and dtype need " +
                                  std::to_string(numel * dtype_size(t.dtype)));
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    int64_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite* t : order) {
    header[t->name] = {{"dtype", std::string(*safetensors_dtype_name(t->dtype))},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->size}}};
    offset += t->size;
  }
  std::string text;
  try {
    text = header.dump(-1, ' ', false, json::error_handler_t::strict);
  } catch (const json::exception&) {
    fail(ErrorKind::kUsage, "tensor names and metadata must be valid UTF-8");
  }
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));

  std::string head(reinterpret_cast<const char*>(length), 8);
  head += text;
  return [head = std::move(head), order = std::move(order)](std::ostream& out) {
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const TensorToWrite* t : order)
      out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->size));
  };
}

}  // namespace

void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_writer(tensors, metadata));
}

std::string safetensors_bytes(const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::ostringstream out;
  safetensors_writer(tensors, metadata)(out);
  return out.str();
}

}  // namespace genie
