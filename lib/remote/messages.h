// The typed messages of Genie's remote-execution protocol, version 1 (docs/protocol.md),
// and their encoding into frames. Plain data only: graphs travel as genie.graph JSON,
// weights as safetensors bytes, tensors as a descriptor plus raw bytes — nothing a peer
// could execute. Decoding checks every count and size against Limits before allocating.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "graph/dtype.h"
#include "remote/bytes.h"
#include "remote/wire.h"

namespace genie::remote {

inline constexpr uint16_t kProtocolMajor = 1;
// 1.1: put-part / received; 1.2: aligned tensors; 1.3: a same-host client moves to shared memory
inline constexpr uint16_t kProtocolMinor = 3;

// SHA-256 of the bytes a graph or weights file is sent as (remote/content_hash.h).
using Digest = std::array<uint8_t, 32>;

enum class ContentKind : uint8_t { kGraph = 1, kWeights = 2 };

// A tensor crossing the wire: its descriptor and its bytes (contiguous, little-endian).
struct TensorPayload {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  Bytes data;
};

// Client -> server, first message: the versions it speaks and its credentials.
struct Hello {
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;
  std::string token;   // "" when the server needs none
  std::string client;  // free text for the server's log ("genie-run 0.1.0")
  // (1.3) On the connection a welcome's `same_host` named: the ticket that welcome gave. On the
  // wire only when not empty, so a hello without one reads as 1.2's.
  std::string ticket;
};
// Server -> client: the version both will speak and what the server runs on.
struct Welcome {
  uint16_t major = kProtocolMajor;
  uint16_t minor = kProtocolMinor;
  std::string server;  // "genie-serve 0.1.0"
  std::string device;  // "cuda:0"
  uint64_t max_frame_bytes = 0;
  // (1.3) To a client that reached it over loopback TCP: an address on this machine that
  // reaches the same server without TCP ("unix:@genie-serve.<random>", where the connection
  // goes through shared memory); a ticket for one hello there, which stands for this
  // connection's credentials; and the proof the server there answers with, so that the client
  // knows it is this server before it sends anything else. On the socket itself, the welcome
  // carries the proof alone. On the wire only when one is given, and only to a client that
  // said 1.3.
  std::string same_host;
  std::string ticket;
  std::string proof;
};
// Either way: the request failed (or the hello was refused); the connection stays usable
// unless the error says otherwise. `code` is a genie::ErrorKind (support/error.h).
struct ErrorReply {
  uint8_t code = 0;
  std::string text;
};
// Which of these does the server hold?
struct Query {
  std::vector<std::pair<ContentKind, Digest>> items;
};
// One answer per queried item, in order: true = have, false = need.
struct Have {
  std::vector<bool> present;
};
// Content the server needs; it checks the digest against the bytes and keeps them.
struct Put {
  ContentKind kind = ContentKind::kGraph;
  Digest digest{};
  std::string content;
};
struct Stored {
  ContentKind kind = ContentKind::kGraph;
  Digest digest{};
};
// (1.1) A piece of content too large for one frame: `bytes` go at `offset` of `total`.
// Pieces come in order; the server answers each with Received, the last with Stored.
struct PutPart {
  ContentKind kind = ContentKind::kGraph;
  Digest digest{};
  uint64_t total = 0;
  uint64_t offset = 0;
  std::string bytes;
};
// (1.1) A piece was kept; the next starts at `next_offset`.
struct Received {
  uint64_t next_offset = 0;
};
// Run a graph the server holds, with weights it holds, on these inputs.
struct RunRequest {
  Digest graph{};
  Digest weights{};
  std::vector<TensorPayload> inputs;
};
struct Outputs {
  std::vector<TensorPayload> outputs;
  uint64_t server_micros = 0;  // time the server spent on the run, for the client's report
};

using Message =
    std::variant<Hello, Welcome, ErrorReply, Query, Have, Put, Stored, RunRequest, Outputs, PutPart, Received>;

// How an error reply to a run begins when the server does not hold the run's graph or
// weights (evicted since they were sent): a client sends them again.
inline constexpr std::string_view kNotHeld = "the server does not hold ";

// Frame type bytes; the order of Message's alternatives, from 1.
enum class MessageType : uint8_t {
  kHello = 1, kWelcome, kError, kQuery, kHave, kPut, kStored, kRun, kOutputs, kPutPart, kReceived
};

std::string_view message_type_name(uint8_t type);

// What a decoder accepts; the server's flags set these (--max-request-bytes).
struct Limits {
  uint64_t max_frame_bytes = uint64_t{1} << 32;  // 4 GiB
  uint32_t max_tensors = 4096;
  uint32_t max_rank = 16;
  uint32_t max_query_items = 4096;
  size_t max_string_bytes = 4096;
};

// A message's frame as the pieces to write: its header and fields, and between them its
// large byte blocks (tensors, uploaded content) where they lie in the message, so that a
// tensor goes onto the wire without a copy of its own. Views into `message`: send before it
// changes or goes.
struct EncodedFrame {
  std::string fields;            // header and everything but the spliced blocks
  std::vector<Spliced> spliced;  // each belongs at its offset of `fields`
  uint64_t size() const;
  std::vector<std::string_view> pieces() const;
};
// How tensor data is laid out in a frame: packed after its length (1.0, 1.1), or aligned to
// kTensorAlignment (1.2, frame flag kFrameAlignedTensors) for a peer that agreed to it.
enum class TensorLayout : uint8_t { kPacked, kAligned };

EncodedFrame message_encode_pieces(const Message& message, TensorLayout layout = TensorLayout::kPacked);
EncodedFrame message_encode_pieces(Message&&, TensorLayout = TensorLayout::kPacked) = delete;  // the views would outlive it
// The whole frame (header + payload) for a message, in one string.
std::string message_encode(const Message& message, TensorLayout layout = TensorLayout::kPacked);
// A message from a frame's type, flags and payload. Tensor data is copied out of `payload`,
// unless `keeper` keeps the payload alive: then tensors are views into it that share the
// keeper. Throws Error(kBadInput) naming the message and what is wrong: an unknown type, a
// truncated or overlong field, a count over a limit, a tensor whose bytes do not match its
// dtype and shape, padding that is not zero, trailing bytes.
Message message_decode(uint8_t type, std::string_view payload, const Limits& limits, uint8_t frame_flags = 0,
                       const std::shared_ptr<const void>& keeper = nullptr);

}  // namespace genie::remote
