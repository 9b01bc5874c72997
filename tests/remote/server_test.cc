// genie-serve's engine spoken to message by message over loopback: what no well-behaved
// client (RemoteClient) would send, and what several connections do to each other.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "remote/channel.h"
#include "remote/content_hash.h"
#include "remote/server.h"
#include "remote/transport.h"

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

}  // namespace
}  // namespace genie::remote
