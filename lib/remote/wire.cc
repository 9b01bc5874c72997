#include "remote/wire.h"

#include "support/error.h"

namespace genie::remote {

void WireWriter::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  raw(s);
}

void WireWriter::bytes(std::string_view b, size_t align) {
  u64(b.size());
  if (align > 1) {
    const size_t at = out_.size() + spliced_bytes_ - origin_;  // spliced blocks count where they belong
    out_.append((align - at % align) % align, '\0');
  }
  if (spliced_ && b.size() >= splice_min_ && !b.empty()) {
    spliced_->push_back({out_.size(), b});
    spliced_bytes_ += b.size();
  } else {
    raw(b);
  }
}

void WireReader::fail_bad(const std::string& message) const { fail(ErrorKind::kBadInput, what_ + ": " + message); }

void WireReader::need(uint64_t n, const char* field) const {
  if (n > remaining())
    fail_bad("truncated message: " + std::string(field) + " needs " + std::to_string(n) + " bytes at offset " +
             std::to_string(pos_) + ", " + std::to_string(remaining()) + " left");
}

uint64_t WireReader::fixed(int n) {
  need(static_cast<uint64_t>(n), "an integer");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
  pos_ += static_cast<size_t>(n);
  return v;
}

std::string WireReader::str(size_t max_length) {
  uint32_t n = u32();
  if (n > max_length)
    fail_bad("a string of " + std::to_string(n) + " bytes is longer than the limit of " + std::to_string(max_length));
  need(n, "a string");
  std::string s(data_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::string_view WireReader::bytes(uint64_t max_length, size_t align) {
  uint64_t n = u64();
  if (n > max_length)
    fail_bad("a block of " + std::to_string(n) + " bytes is longer than the limit of " + std::to_string(max_length));
  if (align > 1) {
    std::string_view padding = raw((align - pos_ % align) % align);
    if (padding.find_first_not_of('\0') != std::string_view::npos)
      fail_bad("padding before a byte block at offset " + std::to_string(pos_) + " is not zero");
  }
  need(n, "a byte block");
  std::string_view b = data_.substr(pos_, static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return b;
}

std::string_view WireReader::raw(size_t n) {
  need(n, "a fixed field");
  std::string_view b = data_.substr(pos_, n);
  pos_ += n;
  return b;
}

uint32_t WireReader::count(uint32_t max, size_t min_item_bytes, const char* of_what) {
  uint32_t n = u32();
  if (n > max) fail_bad(std::to_string(n) + " " + of_what + " exceed the limit of " + std::to_string(max));
  if (min_item_bytes && n > remaining() / min_item_bytes)
    fail_bad("truncated message: " + std::to_string(n) + " " + of_what + " cannot fit in the " +
             std::to_string(remaining()) + " bytes left");
  return n;
}

void WireReader::expect_end() const {
  if (remaining() != 0) fail_bad(std::to_string(remaining()) + " unexpected bytes after the message");
}

}  // namespace genie::remote
