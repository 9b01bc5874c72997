// genie-serve's engine spoken to message by message over loopback: what no well-behaved
// client (RemoteClient) would send, and what several connections do to each other.
#include <gtest/gtest.h>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "graph/json_codec.h"
#include "graph/test_graphs.h"
#include "remote/channel.h"
#include "remote/client.h"
#include "remote/content_hash.h"
#include "remote/frame.h"
#include "remote/server.h"
#include "remote/tensor_payload.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

struct LoopbackServer {
  explicit LoopbackServer(ServerOptions options) : server(std::move(options)), listener(tcp_listen({"127.0.0.1", 0})) {
    thread = std::thread([this] { server.serve(*listener); });
  }
  ~LoopbackServer() {
    server.stop();
    thread.join();
  }
  // A connection that has said hello.
  std::unique_ptr<Channel> connect() {
    auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(listener->address())), Limits{});
    channel->send(Hello{});
    auto welcome = channel->receive();
    EXPECT_TRUE(welcome && std::holds_alternative<Welcome>(*welcome));
    return channel;
  }
  Server server;
  std::unique_ptr<Listener> listener;
  std::thread thread;
};

Message ask(Channel& channel, const Message& request) {
  channel.send(request);
  std::optional<Message> reply = channel.receive();
  if (!reply) throw std::runtime_error("the server closed the connection");
  return *reply;
}

std::string error_text(const Message& reply) {
  auto* error = std::get_if<ErrorReply>(&reply);
  return error ? error->text : std::string();
}

// A valid safetensors file of exactly `size` bytes: no tensors, its header padded by metadata.
std::string safetensors_of_size(size_t size) {
  const std::string open = "{\"__metadata__\":{\"pad\":\"", close = "\"}}";
  const size_t header = size - 8;
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((uint64_t{header} >> (8 * i)) & 0xff);
  return file + open + std::string(header - open.size() - close.size(), 'x') + close;
}

// Half-finished uploads on many connections together hold at most the cache budget; what an
// upload held is given back when it completes and when its connection goes.
TEST(Server, UploadsInPartsTogetherStayWithinTheCache) {
  ServerOptions options;
  options.allow_upload = true;
  options.cache_bytes = 1000;
  LoopbackServer serve(options);
  const std::string content = safetensors_of_size(900);
  ASSERT_EQ(content.size(), 900u);
  const Digest digest = sha256(content);
  auto first_part = [&] { return PutPart{ContentKind::kWeights, digest, 900, 0, content.substr(0, 600)}; };

  auto a = serve.connect();
  Message reply = ask(*a, first_part());
  ASSERT_TRUE(std::holds_alternative<Received>(reply)) << error_text(reply);

  auto b = serve.connect();
  reply = ask(*b, first_part());
  EXPECT_NE(error_text(reply).find("uploads in progress on this server hold 600 bytes"), std::string::npos)
      << error_text(reply);

  a.reset();  // a goes away mid-upload: what it held is given back (once its thread sees the close)
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    reply = ask(*b, first_part());
  } while (!std::holds_alternative<Received>(reply) && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(std::holds_alternative<Received>(reply)) << error_text(reply);
  reply = ask(*b, PutPart{ContentKind::kWeights, digest, 900, 600, content.substr(600)});
  ASSERT_TRUE(std::holds_alternative<Stored>(reply)) << error_text(reply);

  // Completed: nothing is held for it any more, so another upload of 600 bytes fits again.
  const std::string other(700, 'x');
  reply = ask(*serve.connect(), PutPart{ContentKind::kGraph, sha256(other), 700, 0, other.substr(0, 600)});
  EXPECT_TRUE(std::holds_alternative<Received>(reply)) << error_text(reply);
}

// One frame read off a raw connection, to see what the server put on the wire.
std::pair<FrameHeader, std::string> read_frame(Connection& connection) {
  auto read_exactly = [&](size_t n) {
    std::string bytes(n, '\0');
    for (size_t done = 0; done < n;) {
      const size_t got = connection.read_some(bytes.data() + done, n - done);
      if (got == 0) throw std::runtime_error("the server closed the connection");
      done += got;
    }
    return bytes;
  };
  FrameHeader header = frame_header_decode(read_exactly(kFrameHeaderBytes), Limits{}.max_frame_bytes);
  return {header, read_exactly(static_cast<size_t>(header.payload_bytes))};
}

// With uploads off, an upload is refused from its frame's header: its bytes are read only to
// be dropped (never decoded: here they are not even a message), it is answered, and the
// connection goes on at the next frame.
TEST(Server, WithUploadsOffAnUploadIsRefusedUnreadAndTheConnectionGoesOn) {
  ServerOptions options;
  options.limits.max_frame_bytes = 8 << 20;
  LoopbackServer serve(options);
  ::testing::internal::CaptureStderr();
  auto connection = tcp_connect(parse_host_port(serve.listener->address()));
  connection->write_all(message_encode(Hello{}));
  ASSERT_EQ(read_frame(*connection).first.type, static_cast<uint8_t>(MessageType::kWelcome));
  // All in one write: the read that ends a refused payload also takes in what follows it.
  const std::string garbage(3 << 20, '\xff');
  const Digest digest = sha256("x");
  connection->write_all(frame_header_encode(static_cast<uint8_t>(MessageType::kPut), garbage.size()) + garbage +
                        frame_header_encode(static_cast<uint8_t>(MessageType::kPutPart), 100) + garbage.substr(0, 100) +
                        message_encode(Query{{{ContentKind::kGraph, digest}}}));
  for (int i = 0; i < 2; ++i) {
    auto [header, payload] = read_frame(*connection);
    ASSERT_EQ(header.type, static_cast<uint8_t>(MessageType::kError));
    EXPECT_NE(std::get<ErrorReply>(message_decode(header.type, payload, {})).text.find("does not accept uploads"),
              std::string::npos);
  }
  auto [header, payload] = read_frame(*connection);
  ASSERT_EQ(header.type, static_cast<uint8_t>(MessageType::kHave)) << payload;
  EXPECT_EQ(std::get<Have>(message_decode(header.type, payload, {})).present, std::vector<bool>{false});
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("frame refused unread: this server does not accept uploads"), std::string::npos) << log;
}

// An uploaded graph larger than --max-graph-bytes is refused before it is parsed, whole or
// announced in parts; weights of that size are not.
TEST(Server, GraphsOverTheirLimitAreRefused) {
  ServerOptions options;
  options.allow_upload = true;
  options.max_graph_bytes = 1000;
  LoopbackServer serve(options);
  auto channel = serve.connect();
  const std::string graph(1001, ' '), weights = safetensors_of_size(1001);
  const std::string expected = "a graph of 1001 bytes exceeds this server's --max-graph-bytes 1000";
  EXPECT_EQ(error_text(ask(*channel, Put{ContentKind::kGraph, sha256(graph), graph})), expected);
  EXPECT_EQ(error_text(ask(*channel, PutPart{ContentKind::kGraph, sha256(graph), 1001, 0, graph.substr(0, 10)})),
            expected);
  const Message stored = ask(*channel, Put{ContentKind::kWeights, sha256(weights), weights});
  EXPECT_TRUE(std::holds_alternative<Stored>(stored)) << error_text(stored);
}

// (1.2) A client that agreed to minor 2 gets its outputs with their data aligned (frame flag
// set); one that speaks 1.1 gets them packed, as before. Either may send either layout.
TEST(Server, TensorsTravelAlignedOnlyToClientsThatAgreed) {
  ServerOptions options;
  options.allow_upload = true;
  LoopbackServer serve(options);
  const std::string graph = graph_to_json(testing::chain(1));  // y = relu(x), x of 16 floats
  const std::string weights = safetensors_of_size(64);
  std::string x(64, '\0');
  for (int i = 0; i < 16; ++i) {
    const float v = static_cast<float>(i - 8);
    std::memcpy(x.data() + 4 * i, &v, 4);
  }
  for (uint16_t minor : {1, 2}) {
    for (TensorLayout sent : {TensorLayout::kPacked, TensorLayout::kAligned}) {
      if (minor < 2 && sent == TensorLayout::kAligned) continue;
      auto connection = tcp_connect(parse_host_port(serve.listener->address()));
      connection->write_all(message_encode(Hello{1, minor, "", "test", ""}));
      auto [welcome_header, welcome] = read_frame(*connection);
      EXPECT_EQ(welcome_header.flags, 0);
      EXPECT_EQ(std::get<Welcome>(message_decode(welcome_header.type, welcome, {})).minor, minor);
      // Two requests in one write: the log counts each one's own frame as what came in.
      ::testing::internal::CaptureStderr();
      const std::string put_graph = message_encode(Put{ContentKind::kGraph, sha256(graph), graph});
      const std::string put_weights = message_encode(Put{ContentKind::kWeights, sha256(weights), weights});
      connection->write_all(put_graph + put_weights);
      for (int i = 0; i < 2; ++i) {
        auto [header, payload] = read_frame(*connection);
        ASSERT_EQ(header.type, static_cast<uint8_t>(MessageType::kStored)) << payload;
      }
      connection->write_all(message_encode(
          RunRequest{sha256(graph), sha256(weights), {TensorPayload{"x", DType::kFloat32, {16}, x}}}, sent));
      auto [header, payload] = read_frame(*connection);
      // Logged by the connection's thread before it read the run: written by now.
      const std::string log = ::testing::internal::GetCapturedStderr();
      EXPECT_NE(log.find(" in=" + std::to_string(put_graph.size()) + " "), std::string::npos) << log;
      EXPECT_NE(log.find(" in=" + std::to_string(put_weights.size()) + " "), std::string::npos) << log;
      ASSERT_EQ(header.type, static_cast<uint8_t>(MessageType::kOutputs)) << payload;
      EXPECT_EQ(header.flags, minor >= 2 ? kFrameAlignedTensors : 0) << "minor " << minor;
      Outputs outputs = std::get<Outputs>(message_decode(header.type, payload, {}, header.flags));
      ASSERT_EQ(outputs.outputs.size(), 1u);
      at::Tensor y = payload_tensor(std::move(outputs.outputs[0]));
      EXPECT_TRUE(at::equal(y, at::arange(-8, 8, at::kFloat).relu())) << y;
    }
  }
}

// `g`, uploaded with empty weights on `channel`.
std::pair<Digest, Digest> put_graph(Channel& channel, const Graph& g) {
  const std::string graph = graph_to_json(g), weights = safetensors_of_size(64);
  EXPECT_TRUE(std::holds_alternative<Stored>(ask(channel, Put{ContentKind::kGraph, sha256(graph), graph})));
  EXPECT_TRUE(std::holds_alternative<Stored>(ask(channel, Put{ContentKind::kWeights, sha256(weights), weights})));
  return {sha256(graph), sha256(weights)};
}

// y = relu(x) for x of n floats, uploaded with empty weights on `channel`.
std::pair<Digest, Digest> put_relu(Channel& channel, int64_t n) {
  Graph g = testing::chain(1);
  for (Value& v : g.values) v.type.shape = {n};
  return put_graph(channel, g);
}

// Whether the server closes `connection` within `limit` (reads until the end of the stream).
bool closed_within(Connection& connection, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::atomic<bool> returned{false};
  std::thread timer([&] {  // a read still blocked at the deadline is ended: a failure, not a hang
    while (!returned && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!returned) connection.shutdown_read();
  });
  char buffer[4096];
  try {
    while (connection.read_some(buffer, sizeof buffer) != 0 && std::chrono::steady_clock::now() <= deadline) {
    }
  } catch (const Error&) {  // reset: closed too
  }
  returned = true;
  timer.join();
  return std::chrono::steady_clock::now() <= deadline;
}

// A connection that says nothing is closed after the hello timeout; before hello a frame may
// be no larger than a hello needs, whatever --max-request-bytes allows; a client that said
// hello is not timed out.
TEST(Server, BeforeHelloLittleIsAcceptedForLittleTime) {
  ServerOptions options;
  options.hello_timeout = std::chrono::milliseconds(300);
  LoopbackServer serve(options);
  const HostPort address = parse_host_port(serve.listener->address());

  auto silent = tcp_connect(address);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_within(*silent, std::chrono::seconds(5)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_EQ(serve.server.stats().silent_connections, 1u);

  auto early = tcp_connect(address);
  early->write_all(frame_header_encode(static_cast<uint8_t>(MessageType::kPut), 1 << 20));
  auto [header, payload] = read_frame(*early);
  ASSERT_EQ(header.type, static_cast<uint8_t>(MessageType::kError));
  EXPECT_NE(std::get<ErrorReply>(message_decode(header.type, payload, {})).text.find("exceeds the limit of 65536"),
            std::string::npos);
  EXPECT_TRUE(closed_within(*early, std::chrono::seconds(5)));

  auto greeted = serve.connect();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*greeted, Query{{{ContentKind::kGraph, Digest{}}}})));
  // After hello the whole limit holds: a frame of 1 MB is taken.
  const std::string big(1 << 20, 'g');
  EXPECT_NE(error_text(ask(*greeted, Put{ContentKind::kGraph, sha256(big), big})).find("does not accept uploads"),
            std::string::npos);
  EXPECT_EQ(serve.server.stats().silent_connections, 1u);
}

// Connections beyond --max-connections are closed as they arrive; the open ones go on.
TEST(Server, ConnectionsBeyondTheLimitAreClosed) {
  ServerOptions options;
  options.max_connections = 2;
  LoopbackServer serve(options);
  auto a = serve.connect();
  auto b = serve.connect();
  auto c = tcp_connect(parse_host_port(serve.listener->address()));
  EXPECT_TRUE(closed_within(*c, std::chrono::seconds(5)));
  EXPECT_EQ(serve.server.stats().refused_connections, 1u);
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*a, Query{})));
  b.reset();  // room again, once b's thread has seen the close
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::unique_ptr<Channel> d;
  while (!d && std::chrono::steady_clock::now() < deadline) {
    auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
    channel->send(Hello{});
    try {
      if (auto welcome = channel->receive(); welcome && std::holds_alternative<Welcome>(*welcome)) d = std::move(channel);
    } catch (const Error&) {
    }
  }
  ASSERT_TRUE(d);
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*d, Query{})));
}

// Connections that never say hello make room for new ones (the oldest goes: overall, and
// first among one host's) and never count against --max-connections: anyone who reaches the
// port can open them.
TEST(Server, ConnectionsWaitingForHelloMakeRoomForNewOnes) {
  ServerOptions options;
  options.max_connections = 1;
  options.max_waiting_for_hello = 2;
  LoopbackServer serve(options);
  const HostPort address = parse_host_port(serve.listener->address());
  auto first = tcp_connect(address);
  auto second = tcp_connect(address);
  auto third = tcp_connect(address);  // the first makes room
  EXPECT_TRUE(closed_within(*first, std::chrono::seconds(5)));
  auto client = serve.connect();  // waits for its welcome: the third is still waiting, and
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*client, Query{})));  // the client is served
  EXPECT_EQ(serve.server.stats().refused_connections, 0u);
  EXPECT_GE(serve.server.stats().silent_connections, 1u);
}

TEST(Server, OneHostsWaitingConnectionsMakeRoomAmongThemselves) {
  ServerOptions options;
  options.max_waiting_for_hello = 10;
  options.max_waiting_per_host = 1;  // every connection here comes from 127.0.0.1
  LoopbackServer serve(options);
  const HostPort address = parse_host_port(serve.listener->address());
  auto first = tcp_connect(address);
  auto second = tcp_connect(address);  // the first makes room
  EXPECT_TRUE(closed_within(*first, std::chrono::seconds(5)));
  auto client = serve.connect();  // the second makes room, the client says hello in time
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*client, Query{})));
}

// stop() answers what is in flight; a client that sends requests and reads no answers (the
// server blocked writing to it) is cut after the grace, so the server still ends.
TEST(Server, StopEndsEvenWhenAClientReadsNoAnswers) {
  ServerOptions options;
  options.allow_upload = true;
  options.stop_grace = std::chrono::milliseconds(500);
  auto serve = std::make_unique<LoopbackServer>(options);
  auto setup = serve->connect();
  // 64 MB in, 64 MB out: more than the client's receive buffer and the server's send buffer
  // can grow to together (32 + 4 MB by Linux's defaults), so the server's write of an answer
  // cannot finish. (With 1 MB answers a write blocked for 1.5 s could still finish.)
  constexpr int64_t kFloats = int64_t{1} << 24;
  const auto [graph, weights] = put_relu(*setup, kFloats);
  const std::string x(kFloats * 4, '\0');
  const std::string request =
      message_encode(RunRequest{graph, weights, {TensorPayload{"x", DType::kFloat32, {kFloats}, x}}});
  auto connection = tcp_connect(parse_host_port(serve->listener->address()));
  connection->write_all(message_encode(Hello{}));
  read_frame(*connection);
  std::atomic<int> sent{0};
  std::thread flood([&] {
    try {
      for (;;) {
        connection->write_all(request);
        ++sent;
      }
    } catch (const Error&) {  // cut
    }
  });
  const auto filled = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  // Until both directions are full: a run done, then nothing sent and nothing run for 1.5 s
  // (the kernel grows a socket's buffers as data comes, so a write that blocked may yet go on
  // for a while; and a server slowed down, by a sanitizer and a busy machine, may still be
  // compiling the graph or working through what it received, not blocked writing).
  int before = -1, still = 0;
  uint64_t runs_before = 0;
  while (still < 5 && std::chrono::steady_clock::now() < filled) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t runs = serve->server.stats().runs;
    still = runs > 0 && sent == before && runs == runs_before ? still + 1 : 0;
    before = sent;
    runs_before = runs;
  }
  EXPECT_GE(sent, 1);
  EXPECT_EQ(serve->server.stats().runs, 1u) << "the server was not held by its first answer";
  const auto t0 = std::chrono::steady_clock::now();
  serve.reset();  // stop(), then serve() returns
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_GE(took, std::chrono::milliseconds(400));
  flood.join();
}

// An error that names a long client-given name still reaches the client whole in form (cut
// to what its decoder takes, not a protocol error); a client-given text with a line break
// cannot forge a line of the log.
TEST(Server, LongErrorsAreCutAndTheLogKeepsOneLinePerEvent) {
  ServerOptions options;
  options.allow_upload = true;
  LoopbackServer serve(options);
  ::testing::internal::CaptureStderr();
  auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
  channel->send(Hello{1, 2, "", "client\ngenie-serve: forged", ""});
  auto welcome = channel->receive();
  ASSERT_TRUE(welcome && std::holds_alternative<Welcome>(*welcome));
  Graph g = testing::chain(1);
  g.nodes[0].op = "aten::" + std::string(5000, 'x');  // no such operator: the error names it
  const auto [graph, weights] = put_graph(*channel, g);
  Message reply = ask(*channel, RunRequest{graph, weights, {TensorPayload{"x", DType::kFloat32, {16}, std::string(64, '\0')}}});
  const std::string log = ::testing::internal::GetCapturedStderr();
  const std::string text = error_text(reply);
  EXPECT_EQ(text.size(), Limits{}.max_string_bytes);
  EXPECT_EQ(text.rfind("node 0 (aten::xxxx", 0), 0u) << text.substr(0, 120);
  EXPECT_EQ(text.substr(text.size() - 3), "...");
  EXPECT_NE(log.find("hello client\\x0agenie-serve: forged"), std::string::npos) << log;
  EXPECT_EQ(log.find("\ngenie-serve: forged"), std::string::npos) << log;
}

// The cache is shared within a budget: another client's upload may push out a graph a client
// sent before. Its next run is told the server no longer holds it, and RemoteClient sends it
// again and runs, instead of failing; what was just stored is never what makes room.
TEST(Server, AClientWhoseGraphWasPushedOutSendsItAgain) {
  Graph small = testing::chain(1), other = testing::chain(2);
  const auto g1 = std::make_shared<const std::string>(graph_to_json(small));
  const auto g2 = std::make_shared<const std::string>(graph_to_json(other));
  const auto w = std::make_shared<const std::string>(safetensors_of_size(64));
  ServerOptions options;
  options.allow_upload = true;
  options.cache_bytes = g1->size() + g2->size() + w->size() - 1;  // not all three
  LoopbackServer serve(options);
  const std::string address = serve.listener->address();
  RemoteClient a = RemoteClient::connect(address, ClientOptions{});
  RemoteClient b = RemoteClient::connect(address, ClientOptions{});
  const at::Tensor x = at::arange(-8, 8, at::kFloat);
  auto run = [&](RemoteClient& client) {
    Outputs out = client.run({tensor_payload("x", x)});
    return payload_tensor(std::move(out.outputs.at(0)));
  };
  EXPECT_TRUE(a.ensure(g1, w).graph_sent);
  EXPECT_TRUE(at::equal(run(a), x.relu()));
  EXPECT_TRUE(b.ensure(g2, w).graph_sent);  // a's graph goes (the least recently used)
  EXPECT_TRUE(at::equal(run(b), x.relu().relu()));
  const uint64_t uploads = serve.server.stats().uploads;
  EXPECT_TRUE(at::equal(run(a), x.relu()));  // told "not held", sends it again, runs
  EXPECT_GT(serve.server.stats().uploads, uploads);
}

// Clients are served at once, not in turn: while one client keeps running a graph, another
// connects, uploads its own graph and runs it. (Runs of one graph take turns: its compiled
// plan reuses its buffers.) The first client runs until the second is answered, so the test
// does not depend on how long a run takes; served in turn, the second would wait forever and
// the first gives up after 60 s.
TEST(Server, AClientThatKeepsRunningHoldsUpNoOtherClient) {
  Graph busy = testing::chain(20);
  for (Value& v : busy.values) v.type.shape = {int64_t{1} << 18};
  ServerOptions options;
  options.allow_upload = true;
  LoopbackServer serve(options);
  const std::string address = serve.listener->address();
  const auto weights = std::make_shared<const std::string>(safetensors_of_size(64));
  auto a = std::make_unique<RemoteClient>(RemoteClient::connect(address, ClientOptions{}));
  a->ensure(std::make_shared<const std::string>(graph_to_json(busy)), weights);
  const at::Tensor big = at::arange(-(int64_t{1} << 17), int64_t{1} << 17, at::kFloat);
  std::atomic<bool> b_answered{false}, a_gave_up{false}, a_wrong{false};
  std::atomic<int> a_runs{0};
  std::thread keeps_running([&, a = std::move(a)]() mutable {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!b_answered) {
      if (std::chrono::steady_clock::now() > deadline) {
        a_gave_up = true;
        break;
      }
      Outputs out = a->run({tensor_payload("x", big)});
      if (!at::equal(payload_tensor(std::move(out.outputs.at(0))), big.relu())) a_wrong = true;
      ++a_runs;
    }
    a.reset();  // its connection closes: a server that serves in turn gets to the other client
  });
  while (a_runs == 0) std::this_thread::yield();  // a is running

  RemoteClient b = RemoteClient::connect(address, ClientOptions{});
  b.ensure(std::make_shared<const std::string>(graph_to_json(testing::chain(1))), weights);
  const at::Tensor x = at::arange(-8, 8, at::kFloat);
  Outputs out = b.run({tensor_payload("x", x)});
  b_answered = true;
  keeps_running.join();
  EXPECT_TRUE(at::equal(payload_tensor(std::move(out.outputs.at(0))), x.relu()));
  EXPECT_FALSE(a_gave_up) << "the second client was answered only after the first one stopped";
  EXPECT_FALSE(a_wrong);
}

// (1.3) A client that reaches the server over loopback TCP moves to shared memory through the
// abstract socket the welcome names, and its calls work there; its TCP connection ends, so it
// holds one place under max_connections.
TEST(Server, AClientOnThisMachineMovesFromTcpToSharedMemory) {
  ServerOptions options;
  options.allow_upload = true;
  options.max_connections = 2;
  LoopbackServer serve(options);
  const std::string address = serve.listener->address();
  RemoteClient a = RemoteClient::connect(address, ClientOptions{});
  EXPECT_EQ(serve.server.stats().same_host_moves, 1u);
  a.ensure(std::make_shared<const std::string>(graph_to_json(testing::chain(1))),
           std::make_shared<const std::string>(safetensors_of_size(64)));
  const at::Tensor x = at::arange(-8, 8, at::kFloat);
  Outputs out = a.run({tensor_payload("x", x)});
  EXPECT_TRUE(at::equal(payload_tensor(std::move(out.outputs.at(0))), x.relu()));

  // Were a moved client counted twice, its first place would leave no room for a second one.
  // (Its TCP connection's thread sees the end soon, not at once: tried until then.)
  std::optional<RemoteClient> b;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!b && std::chrono::steady_clock::now() < deadline) {
    try {
      b.emplace(RemoteClient::connect(address, ClientOptions{}));
      b->ping();
    } catch (const Error&) {
      b.reset();
    }
  }
  ASSERT_TRUE(b) << "a second client found no room beside a moved one";
  EXPECT_EQ(serve.server.stats().same_host_moves, 2u);
  a.ping();
  EXPECT_THROW(RemoteClient::connect(address, ClientOptions{}).ping(), Error);  // the third is one too many
}

// stop() as serve() starts (a SIGTERM at start-up) ends it, whenever it comes: also before the
// same-host socket was there to be closed.
TEST(Server, StopRightAtTheStartEndsTheServer) {
  for (int i = 0; i < 50; ++i) LoopbackServer serve(ServerOptions{});
}

TEST(Server, WithoutSharedMemoryAClientStaysOnTcp) {
  {
    ServerOptions options;
    options.same_host_memory = false;
    LoopbackServer serve(options);
    auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
    Message welcome = ask(*channel, Hello{});
    ASSERT_TRUE(std::holds_alternative<Welcome>(welcome));
    EXPECT_EQ(std::get<Welcome>(welcome).same_host, "");
    RemoteClient::connect(serve.listener->address(), ClientOptions{}).ping();
    EXPECT_EQ(serve.server.stats().same_host_moves, 0u);
  }
  // Set before the server's threads start: they read the environment too.
  const char* before = std::getenv("GENIE_SHARED_MEMORY");
  const std::string saved = before ? before : "";
  ::setenv("GENIE_SHARED_MEMORY", "0", 1);
  {
    LoopbackServer serve(ServerOptions{});
    RemoteClient stays = RemoteClient::connect(serve.listener->address(), ClientOptions{});
    stays.ping();
    EXPECT_EQ(serve.server.stats().same_host_moves, 0u);
    // A 1.2 client is made no offer: its welcome has no fields it would not know.
    auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
    Message welcome = ask(*channel, Hello{1, 2, "", "old", ""});
    ASSERT_TRUE(std::holds_alternative<Welcome>(welcome));
    EXPECT_EQ(std::get<Welcome>(welcome).same_host, "");
  }
  if (before) ::setenv("GENIE_SHARED_MEMORY", saved.c_str(), 1);
  else ::unsetenv("GENIE_SHARED_MEMORY");
}

// Anyone in the network namespace can open the abstract socket: a hello there needs a ticket
// the server gave over TCP (no token: the ticket stands for it), each ticket is good once,
// and the server answers with the proof the offer named.
TEST(Server, TheSameHostSocketTakesOnlyATicketTheServerGaveAndOnlyOnce) {
  ServerOptions options;
  options.token = "s3cret";
  LoopbackServer serve(options);
  auto tcp = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
  Message reply = ask(*tcp, Hello{1, 3, "s3cret", "test", ""});
  ASSERT_TRUE(std::holds_alternative<Welcome>(reply)) << error_text(reply);
  const Welcome offer = std::get<Welcome>(reply);
  ASSERT_EQ(offer.same_host.rfind("unix:@genie-serve.", 0), 0u) << offer.same_host;
  ASSERT_EQ(offer.ticket.size(), 32u);
  ASSERT_EQ(offer.proof.size(), 32u);
  EXPECT_NE(offer.ticket, offer.proof);
  // One ticket a connection: a second hello on it gets none.
  reply = ask(*tcp, Hello{1, 3, "s3cret", "test", ""});
  ASSERT_TRUE(std::holds_alternative<Welcome>(reply)) << error_text(reply);
  EXPECT_EQ(std::get<Welcome>(reply).ticket, "");

  const std::string path = offer.same_host.substr(5);
  auto hello_there = [&](const std::string& token, const std::string& ticket) {
    Channel channel(unix_connect(path), Limits{});
    return ask(channel, Hello{1, 3, token, "test", ticket});
  };
  const std::string refused = "this socket takes only clients sent here by this server";
  EXPECT_NE(error_text(hello_there("s3cret", "")).find(refused), std::string::npos);  // the token is not enough
  EXPECT_NE(error_text(hello_there("", std::string(32, '0'))).find(refused), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<Have>(ask(*tcp, Query{})));  // a wrong ticket ends nothing

  reply = hello_there("", offer.ticket);
  ASSERT_TRUE(std::holds_alternative<Welcome>(reply)) << error_text(reply);
  EXPECT_EQ(std::get<Welcome>(reply).proof, offer.proof);
  EXPECT_EQ(std::get<Welcome>(reply).ticket, "");
  EXPECT_NE(error_text(hello_there("", offer.ticket)).find(refused), std::string::npos);  // used
  EXPECT_FALSE(tcp->receive());  // the connection the ticket was given on was ended for it
  EXPECT_EQ(serve.server.stats().same_host_moves, 1u);

  // A ticket dies with its connection.
  auto other = std::make_unique<Channel>(tcp_connect(parse_host_port(serve.listener->address())), Limits{});
  reply = ask(*other, Hello{1, 3, "s3cret", "test", ""});
  ASSERT_TRUE(std::holds_alternative<Welcome>(reply)) << error_text(reply);
  const std::string orphan = std::get<Welcome>(reply).ticket;
  other.reset();
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    text = error_text(hello_there("", orphan));  // its thread sees the close soon, not at once
  } while (text.empty() && std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(text.find(refused), std::string::npos);
}

// A TCP server that answers a hello with `offer`, and anything else with have(): what a client
// does with an offer that is not genie-serve's.
struct OfferingServer {
  explicit OfferingServer(Welcome welcome) : offer(std::move(welcome)) {
    thread = std::thread([this] {
      std::unique_ptr<Connection> connection = listener->accept();
      if (!connection) return;
      Channel channel(std::move(connection), Limits{});
      try {
        while (std::optional<Message> m = channel.receive()) {
          if (std::holds_alternative<Hello>(*m)) {
            channel.send(offer);
          } else {
            ++requests;
            channel.send(Have{});
          }
        }
      } catch (const Error&) {
      }
    });
  }
  ~OfferingServer() {
    listener->close();
    thread.join();
  }
  std::unique_ptr<Listener> listener = tcp_listen({"127.0.0.1", 0});
  Welcome offer;
  std::atomic<int> requests{0};
  std::thread thread;
};

// Through a tunnel (ssh -L) the server sees a loopback client, but the name it offers is not
// in the client's namespace: nobody answers there, or somebody else does. The client sends
// that somebody no token and believes no answer without the offer's proof; it stays on TCP.
TEST(RemoteClient, MovesOnlyToTheServerThatOfferedAndElseStaysOnTcp) {
  const std::string name = "@genie-serve.test-" + std::to_string(::getpid());
  Welcome offer;
  offer.server = "offering";
  offer.max_frame_bytes = 1 << 20;
  offer.same_host = "unix:" + name;
  offer.ticket = "the-ticket";
  offer.proof = "the-proof";
  ClientOptions options;
  options.token = "s3cret";
  {
    OfferingServer tcp(offer);
    RemoteClient client = RemoteClient::connect(tcp.listener->address(), options);
    client.ping();
    EXPECT_GE(tcp.requests, 1);
  }
  auto impostor = unix_listen(name);
  Hello seen;
  std::atomic<int> impostor_requests{0};
  std::thread impostor_thread([&] {
    std::unique_ptr<Connection> connection = impostor->accept();
    if (!connection) return;
    Channel channel(std::move(connection), Limits{});
    try {
      std::optional<Message> m = channel.receive();
      if (!m || !std::holds_alternative<Hello>(*m)) return;
      seen = std::get<Hello>(*m);
      Welcome forged = offer;
      forged.same_host = forged.ticket = "";
      forged.proof = "forged";
      channel.send(forged);
      while (channel.receive()) {  // answered, so that a client that believed it fails, not hangs
        ++impostor_requests;
        channel.send(Have{});
      }
    } catch (const Error&) {
    }
  });
  {
    OfferingServer tcp(offer);
    RemoteClient client = RemoteClient::connect(tcp.listener->address(), options);
    client.ping();
    EXPECT_GE(tcp.requests, 2);  // the check that its TCP connection still serves, and this ping
  }
  impostor->close();
  impostor_thread.join();
  EXPECT_EQ(seen.ticket, "the-ticket");
  EXPECT_EQ(seen.token, "");
  EXPECT_EQ(impostor_requests, 0);
}

// Tensors cross without copies of their own: a contiguous CPU tensor is sent from its memory,
// and one received aligned is used where it lies, keeping the frame alive.
TEST(TensorPayload, SharesMemoryInsteadOfCopying) {
  at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4});
  TensorPayload sent = tensor_payload("t", t);
  EXPECT_EQ(sent.data.data(), t.data_ptr());
  EXPECT_EQ(sent.data.size(), 48u);
  EXPECT_EQ(sent.shape, (std::vector<int64_t>{3, 4}));
  TensorPayload transposed = tensor_payload("tt", t.t());  // not contiguous: copied, in row-major order
  EXPECT_NE(transposed.data.data(), t.data_ptr());
  EXPECT_EQ(std::memcmp(transposed.data.data(), t.t().contiguous().data_ptr(), 48), 0);

  // A received frame: 64-aligned, owned by a keeper. A view at an aligned offset is used in
  // place; one at an unaligned offset (a 1.1 peer's packed frame) is copied.
  std::shared_ptr<char> frame(static_cast<char*>(::operator new(256, std::align_val_t{kTensorAlignment})),
                              [](char* p) { ::operator delete(p, std::align_val_t{kTensorAlignment}); });
  std::memcpy(frame.get() + 64, t.data_ptr(), 48);
  std::memcpy(frame.get() + 132, t.data_ptr(), 48);
  std::weak_ptr<char> watch = frame;
  at::Tensor aligned = payload_tensor(TensorPayload{"a", DType::kFloat32, {3, 4}, Bytes({frame.get() + 64, 48}, frame)});
  at::Tensor packed = payload_tensor(TensorPayload{"p", DType::kFloat32, {3, 4}, Bytes({frame.get() + 132, 48}, frame)});
  EXPECT_EQ(aligned.data_ptr(), frame.get() + 64);
  EXPECT_NE(packed.data_ptr(), frame.get() + 132);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(packed.data_ptr()) % kTensorAlignment, 0u);
  EXPECT_TRUE(at::equal(aligned, t));
  EXPECT_TRUE(at::equal(packed, t));
  frame.reset();
  packed = at::Tensor();
  EXPECT_FALSE(watch.expired());  // the aligned tensor keeps the frame
  EXPECT_TRUE(at::equal(aligned, t));
  aligned = at::Tensor();
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace genie::remote
