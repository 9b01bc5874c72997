// Messages over a Connection: send() frames and writes one; receive() reads a header,
// refuses it by the limits before reading on, then reads exactly its payload. Counts the
// bytes each way (what the benchmark reports as moved per call).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "remote/messages.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {

// A frame the receiver's header check refused; its payload was skipped.
class RefusedFrame : public Error {
 public:
  explicit RefusedFrame(const Error& why) : Error(why) {}
};

class Channel {
 public:
  Channel(std::unique_ptr<Connection> connection, const Limits& limits)
      : connection_(std::move(connection)), limits_(limits) {}

  // (1.2) Tensor data in later frames starts at aligned offsets (frame flag
  // kFrameAlignedTensors): for a peer that agreed to minor 2 or later.
  void set_tensor_layout(TensorLayout layout) { layout_ = layout; }
  // The largest payload the peer takes (a server's welcome says it): send() refuses a larger
  // frame before writing any of it, rather than have the peer cut the connection mid-frame.
  void set_peer_limit(uint64_t max_frame_bytes) { peer_limit_ = max_frame_bytes; }
  // Judges a frame by its header, before any of its payload is read or allocated: a check
  // that throws genie::Error refuses the frame. Its payload is then read and dropped, so the
  // stream stays at a frame boundary, and receive() throws RefusedFrame with that error.
  using HeaderCheck = std::function<void(MessageType type, uint64_t payload_bytes)>;
  void set_header_check(HeaderCheck check) { header_check_ = std::move(check); }
  // Throws Error(kUsage) for a frame over the peer's limit, Error(kIo) when the peer has gone.
  void send(const Message& message);
  // The next message; nullopt when the peer closed the stream cleanly between messages. Its
  // tensors are views into the frame as received, which they keep alive.
  // Throws Error(kBadInput) for a frame or message that breaks the protocol, Error(kIo) for
  // a stream that ends inside a frame ("truncated frame") or breaks, RefusedFrame for a frame
  // the header check refused (the connection can go on).
  std::optional<Message> receive();

  Connection& connection() { return *connection_; }
  const Limits& limits() const { return limits_; }
  void set_limits(const Limits& limits) { limits_ = limits; }
  uint64_t bytes_sent() const { return sent_; }
  uint64_t bytes_received() const { return received_; }
  // The size of the last frame receive() returned or refused, header included: what that
  // message brought in, whichever read brought its bytes (a read may take in the next too).
  uint64_t last_frame_bytes() const { return last_frame_bytes_; }

 private:
  // False if the stream ended before the first byte; throws if it ends after it.
  bool read_exact(char* buffer, size_t size, bool at_message_start);
  void discard(uint64_t size);

  std::unique_ptr<Connection> connection_;
  Limits limits_;
  TensorLayout layout_ = TensorLayout::kPacked;
  uint64_t peer_limit_ = UINT64_MAX;
  HeaderCheck header_check_;
  // Bytes read ahead: one read usually brings a whole small message, header and payload.
  // [read_pos_, read_end_) is what is left of the last read; the buffer keeps its size.
  std::string read_ahead_;
  size_t read_pos_ = 0, read_end_ = 0;
  uint64_t sent_ = 0, received_ = 0, last_frame_bytes_ = 0;
};

}  // namespace genie::remote
