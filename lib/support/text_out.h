// An append-only text buffer for writers that emit millions of small pieces (a graph file
// is ~40 appends a node): appends are inline, one capacity check and a copy, where
// std::string's append is a call into the library each time.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace genie {

class TextOut {
 public:
  TextOut() = default;
  explicit TextOut(size_t capacity) { reserve(capacity); }
  TextOut(const TextOut&) = delete;
  TextOut& operator=(const TextOut&) = delete;

  // `s` must not point into this buffer: growing frees it before copying.
  void append(const char* s, size_t n) {
    if (n == 0) return;  // an empty buffer has no data pointer to copy to
    if (n > capacity_ - size_) grow(n);
    std::memcpy(data_.get() + size_, s, n);
    size_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push_back(char c) {
    if (size_ == capacity_) grow(1);
    data_[size_++] = c;
  }
  TextOut& operator+=(std::string_view s) {
    append(s);
    return *this;
  }

  void reserve(size_t capacity) {
    if (capacity > capacity_) grow(capacity - size_);
  }
  void clear() { size_ = 0; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  // Out of line, so that the appends around it stay small enough to inline.
  [[gnu::noinline]] void grow(size_t more) {
    size_t capacity = capacity_ ? capacity_ : 256;
    while (capacity - size_ < more) capacity *= 2;
    std::unique_ptr<char[]> data(new char[capacity]);
    if (size_) std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace genie
