// The wire protocol as both ends and an attacker see it: every message survives a round
// trip; truncated, oversized, foreign and random bytes fail with a clear error and never
// allocate what a header merely claims.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>

#include "remote/content_hash.h"
#include "remote/frame.h"
#include "remote/messages.h"
#include "support/error.h"

namespace genie::remote {
namespace {

TensorPayload tensor(std::string name, DType dtype, std::vector<int64_t> shape, size_t nbytes) {
  std::string bytes(nbytes, '\0');
  for (size_t i = 0; i < nbytes; ++i) bytes[i] = static_cast<char>(i * 7);
  return TensorPayload{std::move(name), dtype, std::move(shape), std::move(bytes)};
}

std::string joined(const EncodedFrame& frame) {
  std::string out;
  for (std::string_view piece : frame.pieces()) out += piece;
  return out;
}

// Encodes (whole, and in the pieces a channel writes, which must be the same bytes), cuts
// into a frame with the decoder, decodes.
Message round_trip(const Message& m, TensorLayout layout = TensorLayout::kPacked, const Limits& limits = {}) {
  std::string bytes = message_encode(m, layout);
  const EncodedFrame pieces = message_encode_pieces(m, layout);
  EXPECT_TRUE(joined(pieces) == bytes);
  EXPECT_EQ(pieces.size(), bytes.size());
  FrameDecoder decoder(limits.max_frame_bytes);
  decoder.feed(bytes);
  auto frame = decoder.next();
  EXPECT_TRUE(frame.has_value());
  EXPECT_EQ(decoder.pending(), 0u);
  EXPECT_EQ(frame->type, m.index() + 1);
  EXPECT_EQ(frame->flags, layout == TensorLayout::kAligned ? kFrameAlignedTensors : 0);
  return message_decode(frame->type, frame->payload, limits, frame->flags);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

Digest digest_of(const std::string& s) { return sha256(s); }

TEST(ContentHash, KnownAnswers) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(digest_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 pieces;
  pieces.update("a");
  pieces.update("bc");
  EXPECT_EQ(pieces.finish(), sha256("abc"));
  EXPECT_EQ(digest_short(sha256("abc")), "ba7816bf8f01");
}

// (1.3) The same-host offer and its ticket ride at the end of welcome and hello, on the wire
// only when given: a 1.2 peer never sees them, and a hello without a ticket is 1.2's bytes.
TEST(Messages, TheSameHostOfferAndItsTicketAreOnTheWireOnlyWhenGiven) {
  Welcome offer{1, 3, "genie-serve", "cpu", 1 << 20, "unix:@genie-serve.0011", "ab12", "cd34"};
  Welcome w = std::get<Welcome>(round_trip(offer));
  EXPECT_EQ(w.same_host, "unix:@genie-serve.0011");
  EXPECT_EQ(w.ticket, "ab12");
  EXPECT_EQ(w.proof, "cd34");
  Welcome proof_alone{1, 3, "genie-serve", "cpu", 1 << 20, "", "", "cd34"};  // on the same-host socket
  EXPECT_EQ(std::get<Welcome>(round_trip(proof_alone)).proof, "cd34");
  Hello with_ticket{1, 3, "t", "genie-run", "ab12"};
  EXPECT_EQ(std::get<Hello>(round_trip(with_ticket)).ticket, "ab12");

  Hello plain{1, 3, "t", "genie-run", ""};
  Hello as_1_2{1, 2, "t", "genie-run", ""};
  EXPECT_EQ(message_encode(plain).size(), message_encode(as_1_2).size());
  EXPECT_EQ(std::get<Hello>(round_trip(plain)).ticket, "");
  Welcome no_offer{1, 3, "genie-serve", "cpu", 1 << 20, "", "", ""};
  EXPECT_EQ(std::get<Welcome>(round_trip(no_offer)).same_host, "");
  EXPECT_EQ(message_encode(no_offer).size(), message_encode(Welcome{1, 2, "genie-serve", "cpu", 1 << 20, "", "", ""}).size());

  // Before 1.3 the fields do not exist: bytes after a 1.2 message are still trailing bytes.
  Hello old_with_ticket{1, 2, "t", "genie-run", "ab12"};
  std::string payload = message_encode(old_with_ticket).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(1, payload, Limits{}); }).find("unexpected bytes after the message"), std::string::npos);
}

TEST(Messages, EveryMessageRoundTrips) {
  Hello hello{1, 0, "s3cret", "genie-run 0.1.0", ""};
  EXPECT_EQ(std::get<Hello>(round_trip(hello)).token, "s3cret");
  EXPECT_EQ(std::get<Hello>(round_trip(hello)).client, "genie-run 0.1.0");

  Welcome welcome{1, 0, "genie-serve 0.1.0", "cuda:0", 123456789012, "", "", ""};
  Welcome w = std::get<Welcome>(round_trip(welcome));
  EXPECT_EQ(w.device, "cuda:0");
  EXPECT_EQ(w.max_frame_bytes, 123456789012u);

  ErrorReply error{static_cast<uint8_t>(ErrorKind::kRuntime), "aten::mm: shapes cannot be multiplied"};
  EXPECT_EQ(std::get<ErrorReply>(round_trip(error)).text, error.text);
  EXPECT_EQ(std::get<ErrorReply>(round_trip(error)).code, error.code);

  Query query{{{ContentKind::kGraph, digest_of("g")}, {ContentKind::kWeights, digest_of("w")}}};
  Query q = std::get<Query>(round_trip(query));
  ASSERT_EQ(q.items.size(), 2u);
  EXPECT_EQ(q.items[1].first, ContentKind::kWeights);
  EXPECT_EQ(q.items[1].second, digest_of("w"));

  Have have{{true, false, true}};
  EXPECT_EQ(std::get<Have>(round_trip(have)).present, have.present);

  Put put{ContentKind::kWeights, digest_of("weights"), std::string("\0\1\2 binary", 10)};
  Put p = std::get<Put>(round_trip(put));
  EXPECT_EQ(p.content, put.content);
  EXPECT_EQ(p.digest, put.digest);

  Stored stored{ContentKind::kGraph, digest_of("g")};
  EXPECT_EQ(std::get<Stored>(round_trip(stored)).digest, stored.digest);

  RunRequest run{digest_of("g"), digest_of("w"),
          {tensor("x", DType::kFloat32, {1, 3, 4, 4}, 192), tensor("ids", DType::kInt64, {1, 16}, 128),
           tensor("scalar", DType::kBool, {}, 1), tensor("empty", DType::kFloat16, {0, 5}, 0),
           tensor("image", DType::kFloat32, {1, 3, 32, 32}, 12288), tensor("mask", DType::kUInt8, {4096}, 4096)}};
  for (TensorLayout layout : {TensorLayout::kPacked, TensorLayout::kAligned}) {
    RunRequest r = std::get<RunRequest>(round_trip(run, layout));
    ASSERT_EQ(r.inputs.size(), 6u);
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      EXPECT_EQ(r.inputs[i].name, run.inputs[i].name);
      EXPECT_EQ(r.inputs[i].dtype, run.inputs[i].dtype);
      EXPECT_EQ(r.inputs[i].shape, run.inputs[i].shape);
      EXPECT_EQ(r.inputs[i].data, run.inputs[i].data);
    }

    Outputs outputs{{tensor("output", DType::kFloat32, {1, 1000}, 4000)}, 1234};
    Outputs o = std::get<Outputs>(round_trip(outputs, layout));
    EXPECT_EQ(o.server_micros, 1234u);
    EXPECT_EQ(o.outputs[0].data, outputs.outputs[0].data);
    // Messages without tensors have the same payload whatever the layout.
    EXPECT_EQ(std::get<Hello>(round_trip(hello, layout)).token, "s3cret");
    EXPECT_EQ(message_encode(hello, layout).substr(kFrameHeaderBytes), message_encode(hello).substr(kFrameHeaderBytes));
  }

  PutPart part{ContentKind::kWeights, digest_of("w"), 5000000000, 4000000000, std::string("\0part", 5)};
  PutPart pp = std::get<PutPart>(round_trip(part));
  EXPECT_EQ(pp.kind, ContentKind::kWeights);
  EXPECT_EQ(pp.digest, part.digest);
  EXPECT_EQ(pp.total, 5000000000u);
  EXPECT_EQ(pp.offset, 4000000000u);
  EXPECT_EQ(pp.bytes, part.bytes);
  EXPECT_EQ(std::get<Received>(round_trip(Received{123456789})).next_offset, 123456789u);
}

// A tensor or uploaded content of 4 KB or more goes onto the wire from where it lies in the
// message (a gather write), not copied into the frame first; smaller fields are copied.
TEST(Messages, LargeBlocksAreWrittenFromWhereTheyLie) {
  const Message message = RunRequest{
      digest_of("g"), digest_of("w"),
      {tensor("small", DType::kFloat32, {1023}, 4092), tensor("image", DType::kFloat32, {1, 3, 224, 224}, 602112),
       tensor("ids", DType::kInt64, {512}, 4096)}};
  const RunRequest& run = std::get<RunRequest>(message);
  EncodedFrame frame = message_encode_pieces(message);
  ASSERT_EQ(frame.spliced.size(), 2u);
  EXPECT_EQ(frame.spliced[0].bytes.data(), run.inputs[1].data.data());
  EXPECT_EQ(frame.spliced[1].bytes.data(), run.inputs[2].data.data());
  EXPECT_EQ(frame.fields.size() + 602112 + 4096, frame.size());
  const std::vector<std::string_view> pieces = frame.pieces();
  ASSERT_EQ(pieces.size(), 5u);
  EXPECT_EQ(pieces[1].data(), run.inputs[1].data.data());
  EXPECT_EQ(pieces[3].data(), run.inputs[2].data.data());
  EXPECT_EQ(pieces[4].size(), 0u);  // nothing follows the last input
  EXPECT_TRUE(joined(frame) == message_encode(message));

  const Message put = Put{ContentKind::kWeights, digest_of("weights"), std::string(100000, 'w')};
  EncodedFrame put_frame = message_encode_pieces(put);
  ASSERT_EQ(put_frame.spliced.size(), 1u);
  EXPECT_EQ(put_frame.spliced[0].bytes.data(), std::get<Put>(put).content.data());
  const Message hello = Hello{};
  EXPECT_TRUE(message_encode_pieces(hello).spliced.empty());
}

// (1.2) Aligned frames put every tensor's data at a multiple of 64 bytes from the start of the
// payload; decoded from a payload buffer so aligned, with a keeper, the tensors are views
// into that buffer which share it (what a channel does: no copy on receipt).
TEST(Messages, AlignedTensorsAreDecodedWhereTheyLie) {
  const RunRequest run{digest_of("g"), digest_of("w"),
                       {tensor("flag", DType::kBool, {}, 1), tensor("odd", DType::kInt16, {3}, 6),
                        tensor("empty", DType::kFloat32, {0}, 0), tensor("image", DType::kFloat32, {1, 3, 8, 8}, 768),
                        tensor("big", DType::kFloat64, {1000}, 8000)}};
  const std::string frame = message_encode(run, TensorLayout::kAligned);
  EXPECT_EQ(frame[5], static_cast<char>(kFrameAlignedTensors));
  const std::string packed = message_encode(run);
  EXPECT_LT(packed.size(), frame.size());
  EXPECT_LE(frame.size(), packed.size() + 5 * kTensorAlignment);
  const Message message = run;
  EXPECT_TRUE(joined(message_encode_pieces(message, TensorLayout::kAligned)) == frame);

  const size_t n = frame.size() - kFrameHeaderBytes;
  std::shared_ptr<char> buffer(static_cast<char*>(::operator new(n, std::align_val_t{kTensorAlignment})),
                               [](char* p) { ::operator delete(p, std::align_val_t{kTensorAlignment}); });
  std::memcpy(buffer.get(), frame.data() + kFrameHeaderBytes, n);
  const std::string_view payload(buffer.get(), n);
  RunRequest r = std::get<RunRequest>(message_decode(8, payload, {}, kFrameAlignedTensors, buffer));
  ASSERT_EQ(r.inputs.size(), run.inputs.size());
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    EXPECT_EQ(r.inputs[i].data, run.inputs[i].data) << r.inputs[i].name;
    if (r.inputs[i].data.empty()) continue;
    const size_t offset = static_cast<size_t>(r.inputs[i].data.data() - buffer.get());
    EXPECT_LT(offset, n) << r.inputs[i].name << " is not a view into the payload";
    EXPECT_EQ(offset % kTensorAlignment, 0u) << r.inputs[i].name;
    EXPECT_EQ(r.inputs[i].data.keeper(), buffer) << r.inputs[i].name;
  }
  // The tensors keep the payload alive after the receiver lets it go.
  std::weak_ptr<char> watch = buffer;
  buffer.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(r.inputs[4].data, run.inputs[4].data);
  r.inputs.clear();
  EXPECT_TRUE(watch.expired());

  // Without a keeper the bytes are copied out.
  RunRequest copied = std::get<RunRequest>(message_decode(8, frame.substr(kFrameHeaderBytes), {}, kFrameAlignedTensors));
  EXPECT_EQ(copied.inputs[4].data, run.inputs[4].data);
  EXPECT_NE(copied.inputs[4].data.keeper(), nullptr);

  // Padding is zeros, and is only read from frames that say they are aligned.
  // The first tensor: digests (64), count (4), name "flag" (8), dtype "bool" (8), rank 0 (4),
  // length (8), then padding from 96 to its data at 128.
  std::string dirty = frame.substr(kFrameHeaderBytes);
  ASSERT_EQ(dirty.substr(96, 32), std::string(32, '\0'));
  dirty[100] = 'x';
  EXPECT_NE(error_of([&] { message_decode(8, dirty, {}, kFrameAlignedTensors); }).find("is not zero"),
            std::string::npos);
  EXPECT_NE(error_of([&] { message_decode(8, frame.substr(kFrameHeaderBytes), {}, 0); }).find("run message: "),
            std::string::npos);
}

TEST(Messages, PartsStayWithinTheirTotal) {
  auto decode = [](const PutPart& part) {
    std::string frame = message_encode(part);
    message_decode(static_cast<uint8_t>(MessageType::kPutPart), std::string_view(frame).substr(kFrameHeaderBytes), {});
  };
  EXPECT_NO_THROW(decode(PutPart{ContentKind::kGraph, digest_of("g"), 10, 6, "abcd"}));
  EXPECT_NE(error_of([&] { decode(PutPart{ContentKind::kGraph, digest_of("g"), 10, 7, "abcd"}); })
                .find("a part at 7 of 4 bytes runs past the total of 10"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode(PutPart{ContentKind::kGraph, digest_of("g"), 10, 11, "a"}); }).find("runs past"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode(PutPart{ContentKind::kGraph, digest_of("g"), 10, 0, ""}); }).find("an empty part"),
            std::string::npos);
}

TEST(Frames, ArriveInAnyPieces) {
  std::string stream = message_encode(Hello{}) + message_encode(Have{{true}}) + message_encode(Stored{});
  for (size_t piece : {1u, 3u, 16u, 17u, 1000u}) {
    FrameDecoder decoder(1 << 20);
    std::vector<uint8_t> types;
    for (size_t at = 0; at < stream.size(); at += piece) {
      decoder.feed(std::string_view(stream).substr(at, piece));
      while (auto frame = decoder.next()) types.push_back(frame->type);
    }
    EXPECT_EQ(types, (std::vector<uint8_t>{1, 5, 7})) << "pieces of " << piece;
    EXPECT_EQ(decoder.pending(), 0u);
  }
}

TEST(Frames, OversizedFrameRefusedFromItsHeader) {
  // Only the header arrives: the limit is enforced before any payload is expected.
  std::string header = frame_header_encode(static_cast<uint8_t>(MessageType::kPut), uint64_t{1} << 40);
  FrameDecoder decoder(1 << 20);
  decoder.feed(header);
  EXPECT_NE(error_of([&] { decoder.next(); }).find("frame of 1099511627776 bytes exceeds the limit of 1048576"),
            std::string::npos);
}

TEST(Frames, ForeignBytesNamed) {
  FrameDecoder http(1 << 20);
  http.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(error_of([&] { http.next(); }).find("not a Genie frame: the first bytes are not \"GNIE\" (an HTTP request?)"),
            std::string::npos);
  FrameDecoder tls(1 << 20);
  tls.feed(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 randomrandom", 24));
  EXPECT_NE(error_of([&] { tls.next(); }).find("a TLS handshake?"), std::string::npos);
  std::string flagged = message_encode(Hello{});
  flagged[5] = 2;  // 1 is kFrameAlignedTensors (1.2); no other flag is defined
  FrameDecoder flags(1 << 20);
  flags.feed(flagged);
  EXPECT_NE(error_of([&] { flags.next(); }).find("flags or reserved bits"), std::string::npos);
  flagged[5] = 1;
  FrameDecoder aligned(1 << 20);
  aligned.feed(flagged);
  EXPECT_EQ(aligned.next()->flags, kFrameAlignedTensors);
}

TEST(Messages, TruncatedAndTrailingBytesFail) {
  std::string frame = message_encode(RunRequest{digest_of("g"), digest_of("w"), {tensor("x", DType::kFloat32, {2, 2}, 16)}});
  std::string payload = frame.substr(kFrameHeaderBytes);
  // Every proper prefix of the payload is truncated.
  for (size_t n = 0; n < payload.size(); ++n)
    EXPECT_NE(error_of([&] { message_decode(8, std::string_view(payload).substr(0, n), {}); }).find("run message: "),
              std::string::npos)
        << n;
  EXPECT_NE(error_of([&] { message_decode(8, payload + "x", {}); }).find("1 unexpected bytes after the message"),
            std::string::npos);
  EXPECT_NE(error_of([&] { message_decode(42, payload, {}); }).find("unknown message type 42"), std::string::npos);
}

TEST(Messages, TensorBytesMustMatchDtypeAndShape) {
  TensorPayload wrong = tensor("x", DType::kFloat32, {2, 2}, 12);
  std::string payload = message_encode(Outputs{{wrong}, 0}).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(9, payload, {}); })
                .find("tensor \"x\": 12 bytes for 2x2:float32, which needs 16"),
            std::string::npos);
  // Sizes whose product overflows, and negative sizes.
  TensorPayload huge = tensor("h", DType::kFloat64, {int64_t{1} << 40, int64_t{1} << 40}, 0);
  payload = message_encode(Outputs{{huge}, 0}).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(9, payload, {}); }).find("its size overflows"), std::string::npos);
  TensorPayload negative = tensor("n", DType::kFloat32, {-1}, 0);
  payload = message_encode(Outputs{{negative}, 0}).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(9, payload, {}); }).find("negative size -1"), std::string::npos);
}

TEST(Messages, CountsAreLimitedBeforeAllocation) {
  Limits limits;
  limits.max_tensors = 2;
  Outputs three{{tensor("a", DType::kBool, {1}, 1), tensor("b", DType::kBool, {1}, 1), tensor("c", DType::kBool, {1}, 1)}};
  std::string payload = message_encode(three).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(9, payload, limits); }).find("3 tensors exceed the limit of 2"),
            std::string::npos);
  // A count that claims more items than the bytes could hold fails without reserving them.
  std::string lying("\xff\xff\xff\x7f", 4);
  Limits generous;
  generous.max_query_items = UINT32_MAX;
  EXPECT_NE(error_of([&] { message_decode(4, lying, generous); }).find("cannot fit in the 0 bytes left"),
            std::string::npos);
  Limits rank;
  rank.max_rank = 2;
  payload = message_encode(Outputs{{tensor("r", DType::kBool, {1, 1, 1}, 1)}, 0}).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(9, payload, rank); }).find("3 dimensions exceed the limit of 2"),
            std::string::npos);
  Limits strings;
  strings.max_string_bytes = 4;
  payload = message_encode(Hello{1, 0, "a-long-token", "", ""}).substr(kFrameHeaderBytes);
  EXPECT_NE(error_of([&] { message_decode(1, payload, strings); }).find("longer than the limit of 4"),
            std::string::npos);
}

TEST(Messages, RandomBytesNeverCrash) {
  // Garbage after a valid header, for every message type: an error or a message, never a
  // crash, a hang or a huge allocation (the sanitizer build runs this too).
  std::mt19937 rng(7);
  Limits limits;
  limits.max_frame_bytes = 1 << 16;
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string payload(rng() % 96, '\0');
    for (char& c : payload) c = static_cast<char>(rng() % 4 == 0 ? 0xff : rng() % 3);
    uint8_t type = static_cast<uint8_t>(1 + rng() % 12);  // every type, and one unknown
    try {
      message_decode(type, payload, limits);
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::kBadInput) << e.what();
      ++errors;
    }
  }
  EXPECT_GT(errors, 15000);  // nearly all garbage is refused
}

}  // namespace
}  // namespace genie::remote
