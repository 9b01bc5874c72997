#include "remote/frame.h"

#include <cctype>
#include <cstring>

#include "remote/wire.h"
#include "support/error.h"

namespace genie::remote {

std::string frame_header_encode(uint8_t type, uint64_t payload_bytes, uint8_t flags) {
  std::string out(kFrameMagic, sizeof kFrameMagic);
  WireWriter w(out);
  w.u8(type);
  w.u8(flags);
  w.u16(0);
  w.u64(payload_bytes);
  return out;
}

namespace {

// What a peer that is not speaking this protocol probably is, from its first bytes.
std::string guess_speaker(std::string_view bytes) {
  for (const char* verb : {"GET ", "POST", "PUT ", "HEAD", "PRI "})
    if (bytes.substr(0, 4) == verb) return " (an HTTP request?)";
  if (!bytes.empty() && bytes[0] == 0x16) return " (a TLS handshake? the server may need --tls-cert, or the client TLS)";
  return "";
}

}  // namespace

FrameHeader frame_header_decode(std::string_view header, uint64_t max_payload_bytes) {
  if (header.size() != kFrameHeaderBytes) fail(ErrorKind::kInternal, "frame header must be 16 bytes");
  if (std::memcmp(header.data(), kFrameMagic, sizeof kFrameMagic) != 0)
    fail(ErrorKind::kBadInput, "not a Genie frame: the first bytes are not \"GNIE\"" + guess_speaker(header));
  WireReader r(header.substr(4), "frame header");
  FrameHeader h;
  h.type = r.u8();
  h.flags = r.u8();
  uint16_t reserved = r.u16();
  h.payload_bytes = r.u64();
  if ((h.flags & ~kFrameAlignedTensors) != 0 || reserved != 0)
    fail(ErrorKind::kBadInput, "frame header has flags or reserved bits set that this version does not define");
  if (h.payload_bytes > max_payload_bytes)
    fail(ErrorKind::kBadInput, "frame of " + std::to_string(h.payload_bytes) + " bytes exceeds the limit of " +
                                   std::to_string(max_payload_bytes) + " bytes");
  return h;
}

std::optional<FrameDecoder::Frame> FrameDecoder::next() {
  if (pending() < kFrameHeaderBytes) return std::nullopt;
  std::string_view rest(buffer_.data() + consumed_, pending());
  FrameHeader h = frame_header_decode(rest.substr(0, kFrameHeaderBytes), max_payload_bytes_);
  if (rest.size() - kFrameHeaderBytes < h.payload_bytes) return std::nullopt;
  Frame frame{h.type, h.flags, std::string(rest.substr(kFrameHeaderBytes, static_cast<size_t>(h.payload_bytes)))};
  consumed_ += kFrameHeaderBytes + static_cast<size_t>(h.payload_bytes);
  // Drop consumed bytes once they dominate, so the buffer does not grow with the stream.
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return frame;
}

}  // namespace genie::remote
