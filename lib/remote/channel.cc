#include "remote/channel.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "remote/frame.h"
#include "support/error.h"

namespace genie::remote {

void Channel::send(const Message& message) {
  EncodedFrame frame = message_encode_pieces(message);
  connection_->write_all(frame.pieces());
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
      if (at_message_start && done == 0) connection_->next_read_starts_message();
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
  // The payload is read in chunks as they arrive: a header that claims gigabytes and a peer
  // that then sends nothing cost one chunk, not the claimed size. A payload of several chunks
  // is joined once at the end (growing one buffer would copy and zero-fill it over again).
  constexpr size_t kChunk = size_t{1} << 20;
  const size_t total = static_cast<size_t>(h.payload_bytes);
  std::vector<std::unique_ptr<char[]>> chunks;
  for (size_t done = 0; done < total;) {
    const size_t step = std::min(total - done, kChunk);
    std::unique_ptr<char[]> chunk(new char[step]);  // not zeroed: read_exact fills it or throws
    read_exact(chunk.get(), step, false);
    chunks.push_back(std::move(chunk));
    done += step;
  }
  if (chunks.empty()) return message_decode(h.type, std::string_view(), limits_);
  if (chunks.size() == 1) return message_decode(h.type, std::string_view(chunks[0].get(), total), limits_);
  std::unique_ptr<char[]> payload(new char[total]);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const size_t offset = i * kChunk;
    std::memcpy(payload.get() + offset, chunks[i].get(), std::min(kChunk, total - offset));
    chunks[i].reset();
  }
  return message_decode(h.type, std::string_view(payload.get(), total), limits_);
}

}  // namespace genie::remote
