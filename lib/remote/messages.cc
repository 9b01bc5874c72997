#include "remote/messages.h"

#include "graph/tensor_type.h"
#include "remote/frame.h"
#include "remote/wire.h"
#include "support/error.h"

namespace genie::remote {
namespace {

void put_digest(WireWriter& w, const Digest& d) {
  w.raw(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

Digest get_digest(WireReader& r) {
  std::string_view b = r.raw(32);
  Digest d;
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(b[i]);
  return d;
}

ContentKind get_kind(WireReader& r) {
  uint8_t k = r.u8();
  if (k != static_cast<uint8_t>(ContentKind::kGraph) && k != static_cast<uint8_t>(ContentKind::kWeights))
    r.fail_bad("unknown content kind " + std::to_string(k));
  return static_cast<ContentKind>(k);
}

void put_tensors(WireWriter& w, const std::vector<TensorPayload>& tensors, TensorLayout layout) {
  w.u32(static_cast<uint32_t>(tensors.size()));
  for (const TensorPayload& t : tensors) {
    w.str(t.name);
    w.str(dtype_name(t.dtype));
    w.u32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) w.i64(d);
    w.bytes(t.data.view(), layout == TensorLayout::kAligned ? kTensorAlignment : 1);
  }
}

std::vector<TensorPayload> get_tensors(WireReader& r, const Limits& limits, uint8_t frame_flags,
                                       const std::shared_ptr<const void>& keeper) {
  // The smallest tensor on the wire: empty name (4), dtype "bool" (8), rank (4), no data (8).
  const uint32_t n = r.count(limits.max_tensors, 24, "tensors");
  std::vector<TensorPayload> tensors(n);
  for (TensorPayload& t : tensors) {
    t.name = r.str(limits.max_string_bytes);
    std::string dtype = r.str(limits.max_string_bytes);
    std::optional<DType> parsed = dtype_from_name(dtype);
    if (!parsed) r.fail_bad("tensor \"" + t.name + "\": unknown dtype \"" + dtype + "\"");
    t.dtype = *parsed;
    const uint32_t rank = r.count(limits.max_rank, 8, "dimensions");
    t.shape.resize(rank);
    for (int64_t& d : t.shape) {
      d = r.i64();
      if (d < 0) r.fail_bad("tensor \"" + t.name + "\": negative size " + std::to_string(d));
    }
    TensorType type;
    type.dtype = t.dtype;
    type.shape = t.shape;
    std::optional<int64_t> nbytes = type.nbytes();
    if (!nbytes) r.fail_bad("tensor \"" + t.name + "\": its size overflows");
    std::string_view data =
        r.bytes(limits.max_frame_bytes, (frame_flags & kFrameAlignedTensors) ? kTensorAlignment : 1);
    if (data.size() != static_cast<uint64_t>(*nbytes))
      r.fail_bad("tensor \"" + t.name + "\": " + std::to_string(data.size()) + " bytes for " +
                 tensor_type_spec(type) + ", which needs " + std::to_string(*nbytes));
    t.data = keeper ? Bytes(data, keeper) : Bytes(std::string(data));
  }
  return tensors;
}

uint8_t flags_for(TensorLayout layout) { return layout == TensorLayout::kAligned ? kFrameAlignedTensors : 0; }

struct Encoder {
  WireWriter& w;
  TensorLayout layout;
  void operator()(const Hello& m) {
    w.u16(m.major);
    w.u16(m.minor);
    w.str(m.token);
    w.str(m.client);
    if (!m.ticket.empty()) w.str(m.ticket);
  }
  void operator()(const Welcome& m) {
    w.u16(m.major);
    w.u16(m.minor);
    w.str(m.server);
    w.str(m.device);
    w.u64(m.max_frame_bytes);
    if (!m.same_host.empty() || !m.ticket.empty() || !m.proof.empty()) {
      w.str(m.same_host);
      w.str(m.ticket);
      w.str(m.proof);
    }
  }
  void operator()(const ErrorReply& m) {
    w.u8(m.code);
    w.str(m.text);
  }
  void operator()(const Query& m) {
    w.u32(static_cast<uint32_t>(m.items.size()));
    for (const auto& [kind, digest] : m.items) {
      w.u8(static_cast<uint8_t>(kind));
      put_digest(w, digest);
    }
  }
  void operator()(const Have& m) {
    w.u32(static_cast<uint32_t>(m.present.size()));
    for (bool p : m.present) w.u8(p ? 1 : 0);
  }
  void operator()(const Put& m) {
    w.u8(static_cast<uint8_t>(m.kind));
    put_digest(w, m.digest);
    w.bytes(m.content);
  }
  void operator()(const Stored& m) {
    w.u8(static_cast<uint8_t>(m.kind));
    put_digest(w, m.digest);
  }
  void operator()(const RunRequest& m) {
    put_digest(w, m.graph);
    put_digest(w, m.weights);
    put_tensors(w, m.inputs, layout);
  }
  void operator()(const Outputs& m) {
    put_tensors(w, m.outputs, layout);
    w.u64(m.server_micros);
  }
  void operator()(const PutPart& m) {
    w.u8(static_cast<uint8_t>(m.kind));
    put_digest(w, m.digest);
    w.u64(m.total);
    w.u64(m.offset);
    w.bytes(m.bytes);
  }
  void operator()(const Received& m) { w.u64(m.next_offset); }
};

}  // namespace

std::string_view message_type_name(uint8_t type) {
  static constexpr std::string_view kNames[] = {"hello", "welcome", "error", "query", "have",
                                                "put",   "stored",  "run",   "outputs", "put-part", "received"};
  if (type < 1 || type > std::size(kNames)) return "unknown";
  return kNames[type - 1];
}

uint64_t EncodedFrame::size() const {
  uint64_t n = fields.size();
  for (const Spliced& s : spliced) n += s.bytes.size();
  return n;
}

std::vector<std::string_view> EncodedFrame::pieces() const {
  std::vector<std::string_view> out;
  out.reserve(2 * spliced.size() + 1);
  size_t at = 0;
  for (const Spliced& s : spliced) {
    out.push_back(std::string_view(fields).substr(at, s.offset - at));
    out.push_back(s.bytes);
    at = s.offset;
  }
  out.push_back(std::string_view(fields).substr(at));
  return out;
}

EncodedFrame message_encode_pieces(const Message& message, TensorLayout layout) {
  // Blocks this large cost more to copy than to send from where they are.
  constexpr size_t kSpliceMinBytes = 4096;
  EncodedFrame frame;
  frame.fields.assign(kFrameHeaderBytes, '\0');  // its payload size is known at the end
  WireWriter w(frame.fields, frame.spliced, kSpliceMinBytes);  // offsets count from the payload
  std::visit(Encoder{w, layout}, message);
  const std::string header = frame_header_encode(static_cast<uint8_t>(message.index() + 1),
                                                 frame.size() - kFrameHeaderBytes, flags_for(layout));
  frame.fields.replace(0, kFrameHeaderBytes, header);
  return frame;
}

std::string message_encode(const Message& message, TensorLayout layout) {
  std::string frame(kFrameHeaderBytes, '\0');
  WireWriter w(frame);
  std::visit(Encoder{w, layout}, message);
  frame.replace(0, kFrameHeaderBytes, frame_header_encode(static_cast<uint8_t>(message.index() + 1),
                                                          frame.size() - kFrameHeaderBytes, flags_for(layout)));
  return frame;
}

Message message_decode(uint8_t type, std::string_view payload, const Limits& limits, uint8_t frame_flags,
                       const std::shared_ptr<const void>& keeper) {
  if (message_type_name(type) == "unknown")
    fail(ErrorKind::kBadInput, "unknown message type " + std::to_string(type));
  WireReader r(payload, std::string(message_type_name(type)) + " message");
  Message out;
  switch (static_cast<MessageType>(type)) {
    case MessageType::kHello: {
      Hello m;
      m.major = r.u16();
      m.minor = r.u16();
      m.token = r.str(limits.max_string_bytes);
      m.client = r.str(limits.max_string_bytes);
      if (m.minor >= 3 && r.remaining() > 0) m.ticket = r.str(limits.max_string_bytes);
      out = std::move(m);
      break;
    }
    case MessageType::kWelcome: {
      Welcome m;
      m.major = r.u16();
      m.minor = r.u16();
      m.server = r.str(limits.max_string_bytes);
      m.device = r.str(limits.max_string_bytes);
      m.max_frame_bytes = r.u64();
      if (m.minor >= 3 && r.remaining() > 0) {
        m.same_host = r.str(limits.max_string_bytes);
        m.ticket = r.str(limits.max_string_bytes);
        m.proof = r.str(limits.max_string_bytes);
      }
      out = std::move(m);
      break;
    }
    case MessageType::kError: {
      ErrorReply m;
      m.code = r.u8();
      m.text = r.str(limits.max_string_bytes);
      out = std::move(m);
      break;
    }
    case MessageType::kQuery: {
      Query m;
      const uint32_t n = r.count(limits.max_query_items, 33, "query items");
      m.items.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        ContentKind kind = get_kind(r);
        m.items.emplace_back(kind, get_digest(r));
      }
      out = std::move(m);
      break;
    }
    case MessageType::kHave: {
      Have m;
      const uint32_t n = r.count(limits.max_query_items, 1, "answers");
      m.present.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        uint8_t b = r.u8();
        if (b > 1) r.fail_bad("answer " + std::to_string(i) + " is " + std::to_string(b) + ", not 0 or 1");
        m.present.push_back(b == 1);
      }
      out = std::move(m);
      break;
    }
    case MessageType::kPut: {
      Put m;
      m.kind = get_kind(r);
      m.digest = get_digest(r);
      std::string_view content = r.bytes(limits.max_frame_bytes);
      m.content.assign(content.data(), content.size());
      out = std::move(m);
      break;
    }
    case MessageType::kStored: {
      Stored m;
      m.kind = get_kind(r);
      m.digest = get_digest(r);
      out = std::move(m);
      break;
    }
    case MessageType::kRun: {
      RunRequest m;
      m.graph = get_digest(r);
      m.weights = get_digest(r);
      m.inputs = get_tensors(r, limits, frame_flags, keeper);
      out = std::move(m);
      break;
    }
    case MessageType::kOutputs: {
      Outputs m;
      m.outputs = get_tensors(r, limits, frame_flags, keeper);
      m.server_micros = r.u64();
      out = std::move(m);
      break;
    }
    case MessageType::kPutPart: {
      PutPart m;
      m.kind = get_kind(r);
      m.digest = get_digest(r);
      m.total = r.u64();
      m.offset = r.u64();
      std::string_view bytes = r.bytes(limits.max_frame_bytes);
      if (bytes.empty()) r.fail_bad("an empty part");
      if (m.offset > m.total || bytes.size() > m.total - m.offset)
        r.fail_bad("a part at " + std::to_string(m.offset) + " of " + std::to_string(bytes.size()) +
                   " bytes runs past the total of " + std::to_string(m.total));
      m.bytes.assign(bytes.data(), bytes.size());
      out = std::move(m);
      break;
    }
    case MessageType::kReceived: {
      Received m;
      m.next_offset = r.u64();
      out = std::move(m);
      break;
    }
  }
  r.expect_end();
  return out;
}

}  // namespace genie::remote
