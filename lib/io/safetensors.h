// Weights files in the safetensors format (the format Hugging Face tools read), so that
// Python reads Genie's weights as they are. Reading is memory-mapped and enforces the
// format's safety rules: bounded header, offsets in bounds, no overlap, no gaps, sizes that
// match shape and dtype, known dtypes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/dtype.h"

namespace genie {

// The format refuses larger headers; so do we, before reading them.
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

// "F32", "BF16", ... the format's names; nullopt for types it has no name for.
std::optional<std::string_view> safetensors_dtype_name(DType dtype);
std::optional<DType> safetensors_dtype_from_name(std::string_view name);

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;  // not necessarily aligned beyond what the writer chose
  size_t size;          // bytes
};

// An open safetensors file. Views point into the mapping and live as long as the file.
class SafetensorsFile {
 public:
  // Maps `path` ("-" reads stdin into memory). Throws Error(kIo) if it cannot be read,
  // Error(kBadInput) naming the file and the rule broken if it is not a valid file.
  static SafetensorsFile open(const std::string& path);
  // Parses bytes already in memory; `source` names them in errors.
  static SafetensorsFile from_bytes(std::string bytes, const std::string& source);
  // The same over bytes shared with others (a server's cache): kept alive, not copied.
  static SafetensorsFile from_shared_bytes(std::shared_ptr<const std::string> bytes, const std::string& source);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  // In the order of their data in the file.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  // Throws Error(kBadInput) "FILE: no tensor named NAME" when absent.
  const TensorView& at(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Storage;
  SafetensorsFile(std::unique_ptr<Storage> storage, const std::string& source);

  std::unique_ptr<Storage> storage_;
  std::string source_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // shape's element count times the dtype's size, contiguous
  size_t size;
};

// Writes a safetensors file, whole or not at all ("-" is stdout). Tensors are laid out
// largest element size first, then by name, so each is aligned to its element size; the
// same tensors always give the same bytes. Throws Error(kUsage) for duplicate names, a
// size that does not match the shape, or a dtype the format cannot hold.
void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same bytes in memory (what is sent to a genie-serve).
std::string safetensors_bytes(const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace genie
