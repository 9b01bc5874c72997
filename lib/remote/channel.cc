#include "remote/channel.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "remote/frame.h"
#include "support/error.h"

namespace genie::remote {

void Channel::send(const Message& message) {
  EncodedFrame frame = message_encode_pieces(message, layout_);
  if (frame.size() - kFrameHeaderBytes > peer_limit_)
    fail(ErrorKind::kUsage, "a " + std::string(message_type_name(static_cast<uint8_t>(message.index() + 1))) +
                                " message of " + std::to_string(frame.size() - kFrameHeaderBytes) + " bytes exceeds the " +
                                std::to_string(peer_limit_) + " bytes " + connection_->peer() +
                                " takes in one frame (a server's --max-request-bytes)");
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

void Channel::discard(uint64_t size) {
  char sink[16 * 1024];
  while (size > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size, sizeof sink));
    read_exact(sink, n, false);
    size -= n;
  }
}

std::optional<Message> Channel::receive() {
  char header[kFrameHeaderBytes];
  if (!read_exact(header, sizeof header, true)) return std::nullopt;
  FrameHeader h = frame_header_decode(std::string_view(header, sizeof header), limits_.max_frame_bytes);
  const size_t total = static_cast<size_t>(h.payload_bytes);
  last_frame_bytes_ = kFrameHeaderBytes + total;
  if (header_check_) {
    try {
      header_check_(static_cast<MessageType>(h.type), total);
    } catch (const Error& e) {
      discard(total);
      throw RefusedFrame(e);
    }
  }
  if (total == 0) return message_decode(h.type, std::string_view(), limits_, h.flags);
  // One buffer, aligned as the CPU allocator aligns tensors, which the decoded tensors then
  // share (no copy). It is the size the header declared, checked against the limit; memory is
  // backed by the kernel only as bytes are written into it, so a header that claims gigabytes
  // and a peer that then sends nothing cost address space, not memory.
  constexpr std::align_val_t kAlign{kTensorAlignment};
  std::shared_ptr<char> payload;
  try {
    payload.reset(static_cast<char*>(::operator new(total, kAlign)), [](char* p) { ::operator delete(p, kAlign); });
  } catch (const std::bad_alloc&) {
    fail(ErrorKind::kRuntime, "no memory for a frame of " + std::to_string(total) + " bytes from " + connection_->peer());
  }
  read_exact(payload.get(), total, false);
  return message_decode(h.type, std::string_view(payload.get(), total), limits_, h.flags, payload);
}

}  // namespace genie::remote
