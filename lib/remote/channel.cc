#include "remote/channel.h"

#include <algorithm>
#include <cstring>

#include "remote/frame.h"
#include "support/error.h"

namespace genie::remote {

void Channel::send(const Message& message) {
  std::string frame = message_encode(message);
  connection_->write_all(frame);
  sent_ += frame.size();
}

bool Channel::read_exact(char* buffer, size_t size, bool at_message_start) {
  constexpr size_t kReadAhead = 64 * 1024;
  size_t done = 0;
  while (done < size) {
    if (read_pos_ == read_end_) {
      // Large payloads go straight to their buffer; small reads fill the read-ahead.
      const bool direct = size - done >= kReadAhead;
      if (!direct && read_ahead_.size() < kReadAhead) read_ahead_.resize(kReadAhead);
      size_t n = direct ? connection_->read_some(buffer + done, size - done)
                        : connection_->read_some(read_ahead_.data(), kReadAhead);
      read_pos_ = read_end_ = 0;
      if (n == 0) {
        if (at_message_start && done == 0) return false;
        fail(ErrorKind::kIo, "truncated frame from " + connection_->peer() + ": the stream ended after " +
                                 std::to_string(done) + " of " + std::to_string(size) + " bytes");
      }
      received_ += n;
      if (direct) {
        done += n;
        continue;
      }
      read_end_ = n;
    }
    size_t take = std::min(size - done, read_end_ - read_pos_);
    std::memcpy(buffer + done, read_ahead_.data() + read_pos_, take);
    read_pos_ += take;
    done += take;
  }
  return true;
}

std::optional<Message> Channel::receive() {
  char header[kFrameHeaderBytes];
  if (!read_exact(header, sizeof header, true)) return std::nullopt;
  FrameHeader h = frame_header_decode(std::string_view(header, sizeof header), limits_.max_frame_bytes);
  // The payload grows with what actually arrives: a header that claims gigabytes and a peer
  // that then sends nothing cost one chunk, not the claimed size.
  constexpr size_t kChunk = size_t{1} << 20;
  std::string payload;
  const size_t total = static_cast<size_t>(h.payload_bytes);
  payload.reserve(std::min(total, kChunk));
  while (payload.size() < total) {
    size_t before = payload.size();
    size_t step = std::min(total - before, kChunk);
    payload.resize(before + step);
    read_exact(payload.data() + before, step, false);
  }
  return message_decode(h.type, payload, limits_);
}

}  // namespace genie::remote
