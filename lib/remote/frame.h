// Frames: how messages are cut out of a byte stream (docs/protocol.md). Every frame is a
// 16-byte header — magic "GNIE", message type, flags, reserved, payload length — followed by
// the payload. The header alone decides whether the payload may be received at all, so an
// oversized or foreign frame is refused before anything is allocated for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace genie::remote {

inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr char kFrameMagic[4] = {'G', 'N', 'I', 'E'};

// (1.2) The frame's tensor data starts at multiples of kTensorAlignment from the start of its
// payload, so that a receiver whose payload buffer is so aligned can use the tensors where
// they lie. Sent only to a peer that agreed to minor 2 or later.
inline constexpr uint8_t kFrameAlignedTensors = 1;
inline constexpr size_t kTensorAlignment = 64;

struct FrameHeader {
  uint8_t type = 0;
  uint8_t flags = 0;  // 0 or kFrameAlignedTensors
  uint64_t payload_bytes = 0;
};

// The 16 header bytes for a payload of `payload_bytes`.
std::string frame_header_encode(uint8_t type, uint64_t payload_bytes, uint8_t flags = 0);

// Parses and checks a header: magic, flags and reserved bytes, and the payload against
// `max_payload_bytes`. Throws Error(kBadInput) with a line that says what was wrong (for
// bytes that are not Genie's protocol at all: "not a Genie frame ... (an HTTP request?)").
FrameHeader frame_header_decode(std::string_view header16, uint64_t max_payload_bytes);

// Cuts frames out of bytes as they arrive, in whatever pieces: feed() what was received,
// then next() until it returns nothing. Holds at most one partial frame.
class FrameDecoder {
 public:
  struct Frame {
    uint8_t type;
    uint8_t flags;
    std::string payload;
  };
  explicit FrameDecoder(uint64_t max_payload_bytes) : max_payload_bytes_(max_payload_bytes) {}
  void feed(std::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  // The next whole frame, if one has arrived. Throws as frame_header_decode does.
  std::optional<Frame> next();
  // Bytes received that do not yet form a whole frame.
  size_t pending() const { return buffer_.size() - consumed_; }

 private:
  uint64_t max_payload_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
};

}  // namespace genie::remote
