// Read-only bytes a message carries, and what keeps them alive: its own string, or memory
// another object owns — a tensor's storage on the sending side, the received frame on the
// receiving side — so that a tensor crosses from one to the other without being copied.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace genie::remote {

class Bytes {
 public:
  Bytes() = default;
  // Takes the string over (implicit: a payload's bytes are often a string made for it).
  Bytes(std::string owned) {
    auto held = std::make_shared<const std::string>(std::move(owned));
    view_ = *held;
    keeper_ = std::move(held);
  }
  // `view` lies in memory that `keeper` keeps alive.
  Bytes(std::string_view view, std::shared_ptr<const void> keeper) : view_(view), keeper_(std::move(keeper)) {}

  std::string_view view() const { return view_; }
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  const std::shared_ptr<const void>& keeper() const { return keeper_; }

  friend bool operator==(const Bytes& a, const Bytes& b) { return a.view_ == b.view_; }
  friend bool operator!=(const Bytes& a, const Bytes& b) { return a.view_ != b.view_; }

 private:
  std::string_view view_;
  std::shared_ptr<const void> keeper_;
};

}  // namespace genie::remote
