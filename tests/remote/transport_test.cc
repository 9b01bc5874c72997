// Connections and channels over real loopback TCP, without LibTorch: messages cross in both
// directions, a peer that stops mid-frame is reported as such, the listener stops cleanly;
// and the pool routing rule (rendezvous hashing) keeps its promises.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "remote/channel.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

TEST(HostPort, ParsesAndRefuses) {
  HostPort a = parse_host_port("127.0.0.1:7070");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 7070);
  EXPECT_EQ(parse_host_port("[::1]:80").host, "::1");
  for (const char* bad : {"7070", "host:", ":7070", "host:70000", "host:7x"}) {
    try {
      parse_host_port(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    }
  }
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.3.2.1"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_TRUE(is_loopback("localhost"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
}

TEST(Rendezvous, StableAndMovesOnlyWhatItMust) {
  std::vector<std::string> pool = {"10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070", "10.0.0.4:7070"};
  std::map<std::string, int> load;
  std::map<std::string, std::string> owner;
  for (int k = 0; k < 2000; ++k) {
    std::string key = "graph-" + std::to_string(k);
    std::vector<std::string> order = rendezvous_order(key, pool);
    ASSERT_EQ(order.size(), pool.size());
    EXPECT_EQ(rendezvous_order(key, {pool.rbegin(), pool.rend()}), order) << "independent of the listing order";
    owner[key] = order[0];
    ++load[order[0]];
  }
  for (const auto& [server, n] : load) EXPECT_NEAR(n, 500, 100) << server;  // about even
  // Without server 3, only its keys move, each to its own second choice.
  std::vector<std::string> smaller = {pool[0], pool[1], pool[3]};
  for (const auto& [key, server] : owner) {
    std::string now = rendezvous_order(key, smaller)[0];
    if (server != pool[2]) EXPECT_EQ(now, server) << key;
    else EXPECT_EQ(now, rendezvous_order(key, pool)[1]) << key;
  }
}

TEST(Tcp, MessagesCrossBothWays) {
  auto listener = tcp_listen({"127.0.0.1", 0});
  std::thread server([&] {
    auto connection = listener->accept();
    Channel channel(std::move(connection), Limits{});
    while (auto message = channel.receive()) {
      if (auto* put = std::get_if<Put>(&*message)) channel.send(Stored{put->kind, put->digest});
    }
  });
  {
    Channel client(tcp_connect(parse_host_port(listener->address())), Limits{});
    std::string big(3 << 20, 'x');  // bigger than the read-ahead: read straight into the payload
    for (int i = 0; i < 3; ++i) {
      Digest d{};
      d[0] = static_cast<uint8_t>(i);
      client.send(Put{ContentKind::kWeights, d, i == 1 ? big : "small"});
      auto reply = client.receive();
      ASSERT_TRUE(reply.has_value());
      EXPECT_EQ(std::get<Stored>(*reply).digest, d);
    }
    EXPECT_GT(client.bytes_sent(), big.size());
  }  // the client closes: the server's receive() sees the end between messages
  server.join();
}

TEST(Tcp, PeerStoppingMidFrameIsATruncatedFrame) {
  auto listener = tcp_listen({"127.0.0.1", 0});
  std::string error;
  std::thread server([&] {
    Channel channel(listener->accept(), Limits{});
    try {
      channel.receive();
    } catch (const Error& e) {
      error = e.what();
    }
  });
  {
    auto raw = tcp_connect(parse_host_port(listener->address()));
    std::string frame = message_encode(ErrorReply{1, "this text will be cut short"});
    raw->write_all(std::string_view(frame).substr(0, frame.size() - 5));
  }  // closed mid-frame
  server.join();
  EXPECT_NE(error.find("truncated frame from 127.0.0.1:"), std::string::npos) << error;
}

TEST(Tcp, ListenerCloseWakesAccept) {
  auto listener = tcp_listen({"127.0.0.1", 0});
  std::thread waiter([&] { EXPECT_EQ(listener->accept(), nullptr); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  listener->close();
  waiter.join();
}

TEST(Tcp, ConnectRefusedIsOneLine) {
  auto listener = tcp_listen({"127.0.0.1", 0});
  HostPort address = parse_host_port(listener->address());
  listener.reset();  // nobody listens there now
  try {
    tcp_connect(address);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("cannot connect to 127.0.0.1:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace genie::remote
