// Reading and writing the binary fields of protocol messages: little-endian integers,
// length-prefixed strings and byte blocks. The reader checks every length against what is
// left before it copies or allocates, so a hostile or truncated message fails cleanly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace genie::remote {

// A byte block left out of a writer's output, to be sent from where it lies: it belongs
// at `offset` of the output.
struct Spliced {
  size_t offset = 0;
  std::string_view bytes;
};

// Appends to `out`; offsets for alignment count from where `out` ended when the writer was made.
class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out), origin_(out.size()) {}
  // Byte blocks of at least `min_bytes` are not copied into `out` but listed in `spliced`
  // (their length prefix is written): they must outlive the write of the output.
  WireWriter(std::string& out, std::vector<Spliced>& spliced, size_t min_bytes)
      : out_(out), origin_(out.size()), spliced_(&spliced), splice_min_(min_bytes) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { fixed(v, 2); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void i64(int64_t v) { fixed(static_cast<uint64_t>(v), 8); }
  // u32 length, then the bytes.
  void str(std::string_view s);
  // u64 length, then the bytes (or their place, see above). With `align` > 1, zero bytes
  // after the length pad the bytes to the next multiple of `align` (WireReader::bytes).
  void bytes(std::string_view b, size_t align = 1);
  void raw(std::string_view b) { out_.append(b.data(), b.size()); }

 private:
  void fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string& out_;
  size_t origin_;
  std::vector<Spliced>* spliced_ = nullptr;
  size_t splice_min_ = 0;
  size_t spliced_bytes_ = 0;
};

// Throws Error(kBadInput) "truncated message: ..." or "... longer than the limit of N" when a
// field does not fit; `what` names the message being read in those errors.
class WireReader {
 public:
  WireReader(std::string_view data, std::string what) : data_(data), what_(std::move(what)) {}
  uint8_t u8() { return static_cast<uint8_t>(fixed(1)); }
  uint16_t u16() { return static_cast<uint16_t>(fixed(2)); }
  uint32_t u32() { return static_cast<uint32_t>(fixed(4)); }
  uint64_t u64() { return fixed(8); }
  int64_t i64() { return static_cast<int64_t>(fixed(8)); }
  // A string of at most max_length bytes.
  std::string str(size_t max_length);
  // A byte block of at most max_length bytes, as a view into the message (no copy). With
  // `align` > 1, zero bytes after its length pad it to the next multiple of `align` from the
  // start of the data; any other padding byte is an error.
  std::string_view bytes(uint64_t max_length, size_t align = 1);
  std::string_view raw(size_t n);
  // A count that is about to size a loop or a container: at most `max`, and at most what the
  // remaining bytes could hold at `min_item_bytes` each.
  uint32_t count(uint32_t max, size_t min_item_bytes, const char* of_what);

  size_t remaining() const { return data_.size() - pos_; }
  // Throws unless every byte was read (trailing garbage is an error, not ignored).
  void expect_end() const;
  [[noreturn]] void fail_bad(const std::string& message) const;

 private:
  uint64_t fixed(int n);
  void need(uint64_t n, const char* field) const;
  std::string_view data_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace genie::remote
