// Connections and channels over real loopback TCP and Unix-domain sockets (the shared memory
// genie's clients ask for there, and the plain stream), without LibTorch: messages cross in
// both directions, a peer that stops mid-frame is reported as such, a writer whose reader
// leaves or is shut down stops waiting, the listener stops cleanly, polling reads return
// when bytes come, not when their window ends; a server trusts nothing a client writes into
// the memory they share;
// a Unix socket's file is taken over only from a dead server and removed when its listener goes;
// the poll window learns a peer's gaps; and the pool routing rule (rendezvous hashing) keeps
// its promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "remote/channel.h"
#include "remote/content_hash.h"
#include "remote/frame.h"
#include "remote/shared_memory_connection.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

// A socket path of its own for each use, short enough for sockaddr_un; what a test leaves
// there (its lock file, a socket after a failed assertion) goes when the tests end.
std::vector<std::string>& socket_paths() {
  static std::vector<std::string> paths;
  return paths;
}
std::string socket_path() {
  std::string path = "/tmp/genie-transport-test-" + std::to_string(::getpid()) + "-" +
                     std::to_string(socket_paths().size()) + ".sock";
  socket_paths().push_back(path);
  return path;
}
// A name in the abstract namespace, unique to this test process.
std::string abstract_name() {
  static int n = 0;
  return "genie-transport-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}
class RemoveSocketFiles : public ::testing::Environment {
  void TearDown() override {
    for (const std::string& path : socket_paths()) {
      ::unlink(path.c_str());
      ::unlink((path + ".lock").c_str());
    }
  }
};
const auto* const remove_socket_files = ::testing::AddGlobalTestEnvironment(new RemoveSocketFiles);

// The same tests over each transport: an address to listen at, by the form users write, and
// a client of it ("unix": with shared memory, as genie's clients connect; "unix_stream": a
// plain stream, as any other client of the protocol does; "unix_abstract": a name, not a file,
// as genie-serve offers its clients on the same machine).
class Transport : public ::testing::TestWithParam<const char*> {
 protected:
  std::unique_ptr<Listener> listen() {
    const std::string kind = GetParam();
    if (kind == "tcp") return listen_at("127.0.0.1:0");
    if (kind == "unix_abstract") return listen_at("unix:@" + abstract_name());
    return listen_at("unix:" + socket_path());
  }
  std::unique_ptr<Connection> connect(const Listener& listener) {
    const std::string address = listener.address();
    if (std::string(GetParam()) == "unix_stream")
      return unix_connect(address.substr(5), std::chrono::seconds(10), /*shared_memory=*/false);
    return connect_to(address);
  }
};
INSTANTIATE_TEST_SUITE_P(TcpAndUnix, Transport, ::testing::Values("tcp", "unix", "unix_stream", "unix_abstract"),
                         [](const auto& info) { return std::string(info.param); });

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
  // As Connection::host() writes a peer: IPv6 in brackets, an IPv4 client of a dual-stack socket mapped.
  EXPECT_TRUE(is_loopback("[::1]"));
  EXPECT_TRUE(is_loopback("::ffff:127.0.0.1"));
  EXPECT_TRUE(is_loopback("[::ffff:127.0.0.1]"));
  EXPECT_FALSE(is_loopback("::ffff:10.0.0.1"));
  EXPECT_FALSE(is_loopback("[fe80::1]"));
  EXPECT_FALSE(is_loopback("unix:uid=1000"));
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

// A server's wait for a client's next request: short after an idle spell, long enough for
// the next call while the client calls in a loop, short again once it stops.
TEST(PollWindow, LearnsThePeersGapsWithinItsBounds) {
  using us = std::chrono::microseconds;
  PollWindow w(us(100), us(2000));
  EXPECT_EQ(w.current(), us(100));
  w.waited(us(60));  // caught by the poll: nothing to learn
  EXPECT_EQ(w.current(), us(100));
  w.waited(us(700));  // slept, and was woken soon: the next such gap is caught
  EXPECT_EQ(w.current(), us(1400));
  w.waited(us(1300));
  EXPECT_EQ(w.current(), us(1400));
  w.waited(us(1500));  // a little longer: as far as the ceiling
  EXPECT_EQ(w.current(), us(2000));
  w.waited(us(50000));  // the client went idle
  EXPECT_EQ(w.current(), us(100));
  w.waited(us(2000));
  EXPECT_EQ(w.current(), us(2000));

  PollWindow fixed(us(300));
  fixed.waited(us(500));
  EXPECT_EQ(fixed.current(), us(300));
  PollWindow inverted(us(500), us(200));  // a floor above the ceiling is the ceiling
  EXPECT_EQ(inverted.current(), us(200));
  PollWindow never;
  never.waited(us(10));
  EXPECT_EQ(never.current(), us(0));
  EXPECT_EQ(never.ceiling(), us(0));
}

TEST_P(Transport, MessagesCrossBothWays) {
  auto listener = listen();
  std::thread server([&] {
    auto connection = listener->accept();
    Channel channel(std::move(connection), Limits{});
    while (auto message = channel.receive()) {
      // Answers with the digest of what arrived, so the client can tell it arrived whole.
      if (auto* put = std::get_if<Put>(&*message)) channel.send(Stored{put->kind, sha256(put->content)});
      // Echoes tensors from where they were received; server_micros says whether each lay in
      // the received frame at an aligned offset.
      if (auto* run = std::get_if<RunRequest>(&*message)) {
        bool aligned = true;
        for (const TensorPayload& t : run->inputs)
          aligned = aligned && t.data.keeper() && reinterpret_cast<uintptr_t>(t.data.data()) % kTensorAlignment == 0;
        channel.set_tensor_layout(TensorLayout::kAligned);
        channel.send(Outputs{run->inputs, aligned ? 1u : 0u});
      }
    }
  });
  {
    Channel client(connect(*listener), Limits{});
    // Bigger than the read-ahead (and than a shared-memory ring) (read straight into the payload, several reads), of a size
    // no power of two divides; sent from where it lies (a gather write).
    std::string big((7 << 19) + 7, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 3);
    for (int i = 0; i < 3; ++i) {
      const std::string& content = i == 1 ? big : std::string("small");
      client.send(Put{ContentKind::kWeights, Digest{}, content});
      auto reply = client.receive();
      ASSERT_TRUE(reply.has_value());
      EXPECT_EQ(std::get<Stored>(*reply).digest, sha256(i == 1 ? big : "small"));
    }
    EXPECT_GT(client.bytes_sent(), big.size());
    // Tensors, aligned both ways (1.2): each side decodes them where they lie in its frame.
    client.set_tensor_layout(TensorLayout::kAligned);
    const std::vector<TensorPayload> tensors = {{"odd", DType::kUInt8, {3}, std::string("abc")},
                                                {"big", DType::kInt8, {static_cast<int64_t>(big.size())}, big}};
    client.send(RunRequest{Digest{}, Digest{}, tensors});
    auto reply = client.receive();
    ASSERT_TRUE(reply.has_value());
    const Outputs& echoed = std::get<Outputs>(*reply);
    EXPECT_EQ(echoed.server_micros, 1u) << "the server's tensors were copied or misaligned";
    ASSERT_EQ(echoed.outputs.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(echoed.outputs[i].data, tensors[i].data);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(echoed.outputs[i].data.data()) % kTensorAlignment, 0u);
    }
  }  // the client closes: the server's receive() sees the end between messages
  server.join();
}

// A poll window far longer than the test: reads must still return as soon as bytes, the
// end of the stream or shutdown_read() come, never when the window runs out.
TEST_P(Transport, PollingReadsReturnOnDataEndAndShutdown) {
  using std::chrono::steady_clock;
  constexpr auto kWindow = std::chrono::seconds(20);
  auto listener = listen();
  std::atomic<bool> echoed_all{false};
  std::thread server([&] {
    auto connection = listener->accept();
    connection->set_poll_window(PollWindow(kWindow));
    Channel channel(std::move(connection), Limits{});
    for (int i = 0; i < 100; ++i) {
      auto message = channel.receive();
      ASSERT_TRUE(message.has_value());
      channel.send(std::get<Query>(*message));
    }
    echoed_all = true;
    EXPECT_FALSE(channel.receive().has_value());  // the client's close ends the poll
  });
  const auto start = steady_clock::now();
  {
    auto connection = connect(*listener);
    connection->set_poll_window(PollWindow(kWindow));
    Channel client(std::move(connection), Limits{});
    for (int i = 0; i < 100; ++i) {
      Digest d{};
      d[0] = static_cast<uint8_t>(i);
      client.send(Query{{{ContentKind::kGraph, d}}});
      auto reply = client.receive();
      ASSERT_TRUE(reply.has_value());
      EXPECT_EQ(std::get<Query>(*reply).items.at(0).second, d);
    }
  }
  server.join();
  EXPECT_TRUE(echoed_all);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));

  // shutdown_read() from another thread ends a read that is polling.
  std::unique_ptr<Connection> idle_client = connect(*listener);
  std::unique_ptr<Connection> polling = listener->accept();
  polling->set_poll_window(PollWindow(kWindow));
  const auto before = steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    polling->shutdown_read();
  });
  char byte;
  EXPECT_EQ(polling->read_some(&byte, 1), 0u);
  stopper.join();
  EXPECT_LT(steady_clock::now() - before, std::chrono::seconds(5));
}

TEST(Tcp, PeerStoppingMidFrameIsATruncatedFrame) {
  auto listener = tcp_listen({"127.0.0.1", 0});
  // Cut inside a small payload, and 1 MB short of the end of a large one.
  const std::vector<std::pair<Message, size_t>> cases = {
      {ErrorReply{1, "this text will be cut short"}, 5},
      {Put{ContentKind::kWeights, Digest{}, std::string((5 << 19) + 3, 'p')}, size_t{1} << 20}};
  for (const auto& [message, cut] : cases) {
    std::string error;
    std::thread server([&] {
      Channel channel(listener->accept(), Limits{});
      try {
        channel.receive();
      } catch (const Error& e) {
        error = e.what();
      }
    });
    const std::string frame = message_encode(message);
    {
      auto raw = tcp_connect(parse_host_port(listener->address()));
      raw->write_all(std::string_view(frame).substr(0, frame.size() - cut));
    }  // closed mid-frame
    server.join();
    EXPECT_NE(error.find("truncated frame from 127.0.0.1:"), std::string::npos) << error;
    EXPECT_NE(error.find("the stream ended after " + std::to_string(frame.size() - kFrameHeaderBytes - cut) + " of " +
                         std::to_string(frame.size() - kFrameHeaderBytes) + " bytes"),
              std::string::npos)
        << error;
  }
}

// The window learns from the gaps between a peer's messages, not from a message that comes
// slowly: a slow transfer ends, and the thread should not go on polling for 2 ms after it.
TEST(Tcp, PollWindowLearnsFromTheGapsBetweenMessages) {
  using std::chrono::milliseconds;
  using std::chrono::microseconds;
  auto listener = tcp_listen({"127.0.0.1", 0});
  std::vector<PollWindow> windows;
  std::thread server([&] {
    Channel channel(listener->accept(), Limits{});
    channel.connection().set_poll_window(PollWindow(microseconds(100), milliseconds(500)));
    while (channel.receive()) windows.push_back(channel.connection().poll_window());
  });
  {
    auto raw = tcp_connect(parse_host_port(listener->address()));
    const std::string slow = message_encode(Put{ContentKind::kGraph, Digest{}, std::string(5000, 'g')});
    raw->write_all(std::string_view(slow).substr(0, 100));
    std::this_thread::sleep_for(milliseconds(100));  // the rest of the message comes late
    raw->write_all(std::string_view(slow).substr(100));
    std::this_thread::sleep_for(milliseconds(30));  // a gap between messages within the ceiling
    raw->write_all(message_encode(Query{}));
    std::this_thread::sleep_for(milliseconds(700));  // a gap past it
    raw->write_all(message_encode(Query{}));
  }
  server.join();
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_LT(windows[0].current(), milliseconds(100));  // the slow message taught it nothing
  EXPECT_GE(windows[1].current(), milliseconds(40));    // twice the ~30 ms gap
  EXPECT_LE(windows[1].current(), milliseconds(500));
  EXPECT_EQ(windows[2].current(), microseconds(100));  // back to the floor
}

// A writer waits while its reader reads nothing; it stops waiting, with an error, when the
// reader goes, or when the connection is shut down from another thread (a stopping server).
TEST_P(Transport, AWaitingWriterFailsWhenItsReaderGoesOrItIsShutDown) {
  using std::chrono::steady_clock;
  const std::string answer(16 << 20, 'a');  // more than a socket's buffers or a ring hold
  auto listener = listen();
  for (const bool reader_goes : {true, false}) {
    std::unique_ptr<Connection> client = connect(*listener);
    std::unique_ptr<Connection> server = listener->accept();
    client->write_all(std::string_view("hello"));
    char first[5];
    for (size_t got = 0; got < sizeof first;) {
      const size_t n = server->read_some(first + got, sizeof first - got);
      ASSERT_GT(n, 0u) << "the client's first bytes did not come";
      got += n;
    }
    const auto start = steady_clock::now();
    std::thread other([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (reader_goes) client.reset();
      else server->shutdown_both();
    });
    try {
      server->write_all(answer);
      ADD_FAILURE() << "the write of " << answer.size() << " bytes nobody read succeeded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(std::string(e.what()).find("lost while sending"), std::string::npos) << e.what();
    }
    other.join();
    EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  }
}

TEST_P(Transport, ListenerCloseWakesAccept) {
  auto listener = listen();
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

// A client of the shared memory as genie's are not: it makes the memory, offers it and then
// writes what it likes into it. The layout is shared_memory_connection.cc's: the first 8
// bytes hold how many bytes the client has written into its ring.
struct RawSharedMemoryClient {
  int fd = -1;
  void* memory = MAP_FAILED;
  static constexpr size_t kBytes = 4096 + 2 * (size_t{1} << 20);

  RawSharedMemoryClient(const std::string& path, bool sealed) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    const int file = ::memfd_create("raw-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    EXPECT_EQ(::ftruncate(file, kBytes), 0);
    if (sealed) {
      EXPECT_EQ(::fcntl(file, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
    }
    memory = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
    EXPECT_NE(memory, MAP_FAILED);
    EXPECT_EQ(detail::send_with_descriptor(fd, "GNIE-SHM", file), 8);
    ::close(file);
  }
  ~RawSharedMemoryClient() {
    if (memory != MAP_FAILED) ::munmap(memory, kBytes);
    ::close(fd);
  }
};

// The server maps only memory that can never shrink (or its accesses would fault), and a
// position a client writes that cannot be ends that client's connection with one line. A
// refused connection stays refused and touches no other client's socket (the next client's
// may have the number its socket had); the listener goes on.
TEST(Unix, AServerTrustsNothingAClientWritesIntoTheMemory) {
  const std::string path = socket_path();
  auto listener = unix_listen(path);
  const std::string peer = "connection to unix:pid=" + std::to_string(::getpid()) + ",uid=" + std::to_string(::getuid());
  auto expect_refused = [&](const std::string& why) {
    std::unique_ptr<Connection> refused = listener->accept();
    char byte;
    try {
      refused->read_some(&byte, 1);
      ADD_FAILURE() << "read from a client that broke the rules";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
      EXPECT_EQ(std::string(e.what()), peer + " " + why);
    }
    // A client that keeps the rules, accepted after the refusal.
    std::thread server([&] {
      Channel channel(listener->accept(), Limits{});
      auto message = channel.receive();
      ASSERT_TRUE(message.has_value());
      channel.send(*message);
    });
    Channel client(connect_to("unix:" + path), Limits{});
    client.send(Query{});
    // What the server does with the refused connection meanwhile (answer its error, shut it
    // down) fails on that connection alone.
    try {
      refused->write_all(std::string_view("an error reply"));
      ADD_FAILURE() << "wrote to a refused connection";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_EQ(std::string(e.what()), peer + " ended: the memory it offered was refused");
    }
    refused->shutdown_both();
    auto echoed = client.receive();
    ASSERT_TRUE(echoed.has_value());
    EXPECT_TRUE(std::holds_alternative<Query>(*echoed));
    server.join();
  };
  {
    RawSharedMemoryClient unsealed(path, false);
    expect_refused("refused: the memory it offered is not sealed memory of the size genie's clients make");
  }
  {
    RawSharedMemoryClient liar(path, true);
    static_cast<std::atomic<uint64_t>*>(liar.memory)->store(uint64_t{1} << 40);  // 1 TB written into a 1 MB ring
    std::unique_ptr<Connection> accepted = listener->accept();
    char byte;
    try {
      accepted->read_some(&byte, 1);
      ADD_FAILURE() << "read from a client whose position cannot be";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
      EXPECT_EQ(std::string(e.what()), peer + " broken: the positions in its shared memory cannot be");
    }
  }
}

// A server's log names who connected over a Unix socket: the kernel's word for its process;
// its limits per host count by the connecting user.
TEST(Unix, ThePeerIsTheConnectingProcess) {
  const std::string path = socket_path();
  auto listener = unix_listen(path);
  EXPECT_EQ(listener->address(), "unix:" + path);
  auto client = connect_to(listener->address());
  EXPECT_EQ(client->peer(), "unix:" + path);
  auto accepted = listener->accept();
  EXPECT_EQ(accepted->peer(), "unix:pid=" + std::to_string(::getpid()) + ",uid=" + std::to_string(::getuid()));
  EXPECT_EQ(accepted->host(), "unix:uid=" + std::to_string(::getuid()));
  auto tcp = tcp_listen({"127.0.0.1", 0});
  auto tcp_client = connect_to(tcp->address());
  EXPECT_EQ(tcp->accept()->host(), "127.0.0.1");
}

// unix_listen(path) fails with this I/O error.
void expect_listen_fails(const std::string& path, const std::string& why) {
  try {
    unix_listen(path);
    ADD_FAILURE() << "listened over " << why;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "cannot listen on unix:" + path + ": " + why);
  }
}

void write_file(const std::string& path, const std::string& content) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs(content.c_str(), file);
  std::fclose(file);
}

TEST(Unix, TheSocketFileIsTakenOnlyFromADeadServerAndRemovedAfter) {
  const std::string path = socket_path();
  struct stat st{};
  {
    auto live = unix_listen(path);
    expect_listen_fails(path, "a server is listening there already");
    auto client = connect_to("unix:" + path);  // the live server's file was left alone
    EXPECT_NE(live->accept(), nullptr);
  }
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the listener's socket file outlived it";
  EXPECT_EQ(::lstat((path + ".lock").c_str(), &st), 0) << "the lock file stays";

  // A killed server's socket: the file stays, and nobody answers on it.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  {
    auto replacing = unix_listen(path);
    auto client = connect_to(replacing->address());
    EXPECT_NE(replacing->accept(), nullptr);
    // Somebody else's file put in its place while it listens stays when it goes.
    ASSERT_EQ(::unlink(path.c_str()), 0);
    write_file(path, "theirs");
  }
  ASSERT_EQ(::lstat(path.c_str(), &st), 0) << "a listener removed a file it had not made";
  EXPECT_TRUE(S_ISREG(st.st_mode));

  // Not a socket: somebody's file, left as it is; a directory; no directory to put it in.
  expect_listen_fails(path, "the path exists and is a file");
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 6);
  ::unlink(path.c_str());
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  expect_listen_fails(path, "the path exists and is a directory");
  ::rmdir(path.c_str());
  expect_listen_fails(path + "/inside.sock", "its directory does not exist");
  // Nothing is made beside somebody's file (a lock file can stop other programs).
  const std::string theirs = socket_path();
  write_file(theirs, "theirs");
  expect_listen_fails(theirs, "the path exists and is a file");
  EXPECT_NE(::lstat((theirs + ".lock").c_str(), &st), 0) << "a lock file was made beside somebody's file";
}

// Servers started together on one path, a dead server's socket there: one listens, the
// others are told a server listens there; none is left listening on a file nobody reaches.
TEST(Unix, ServersRacingForAPathListenOneAtATime) {
  const std::string path = socket_path();
  for (int round = 0; round < 5; ++round) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);  // the dead server's socket
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::close(fd);
    std::vector<std::unique_ptr<Listener>> listening(8);
    std::vector<std::string> refused(8);
    std::vector<std::thread> servers;
    for (int i = 0; i < 8; ++i)
      servers.emplace_back([&, i] {
        try {
          listening[i] = unix_listen(path);
        } catch (const Error& e) {
          refused[i] = e.what();
        }
      });
    for (std::thread& t : servers) t.join();
    int winners = 0;
    for (int i = 0; i < 8; ++i) {
      if (listening[i]) {
        ++winners;
        auto client = connect_to(listening[i]->address());
        EXPECT_NE(listening[i]->accept(), nullptr) << "the listening server is not the one clients reach";
      } else {
        EXPECT_EQ(refused[i], "cannot listen on unix:" + path + ": a server is listening there already");
      }
    }
    EXPECT_EQ(winners, 1);
  }
}

// One server on a TCP port and a Unix socket: clients of either are accepted, in the order
// they come; close() ends a wait for the next.
TEST(ListenerSet, AcceptsFromEachAndClosesAll) {
  const std::string path = socket_path();
  std::vector<std::unique_ptr<Listener>> both;
  both.push_back(tcp_listen({"127.0.0.1", 0}));
  both.push_back(unix_listen(path));
  const std::string tcp_address = both[0]->address();
  auto listener = listen_all(std::move(both));
  EXPECT_EQ(listener->address(), tcp_address + " and unix:" + path);
  for (const std::string& address : {tcp_address, "unix:" + path, tcp_address}) {
    Channel client(connect_to(address), Limits{});
    client.send(Query{});
    auto accepted = listener->accept();
    ASSERT_NE(accepted, nullptr);
    EXPECT_EQ(accepted->host(), is_unix_address(address) ? "unix:uid=" + std::to_string(::getuid()) : "127.0.0.1");
    Channel server(std::move(accepted), Limits{});
    auto message = server.receive();
    ASSERT_TRUE(message.has_value());
    EXPECT_TRUE(std::holds_alternative<Query>(*message));
  }
  std::thread waiter([&] { EXPECT_EQ(listener->accept(), nullptr); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  listener->close();
  waiter.join();
  listener.reset();
  struct stat st{};
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the Unix listener's socket file outlived it";
}

// Clients accepted by the set but not yet taken by the server are closed with it: they see
// the end of the stream, not a connection that never answers.
TEST(ListenerSet, ClientsStillQueuedAtCloseAreClosed) {
  std::vector<std::unique_ptr<Listener>> both;
  both.push_back(tcp_listen({"127.0.0.1", 0}));
  both.push_back(unix_listen(socket_path()));
  const std::string tcp_address = both[0]->address(), unix_address = both[1]->address();
  auto listener = listen_all(std::move(both));
  auto tcp_client = connect_to(tcp_address);
  auto unix_client = connect_to(unix_address);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted into the queue
  listener->close();
  for (Connection* client : {tcp_client.get(), unix_client.get()}) {
    // A read still blocked after 5 s is ended, and fails the test rather than hanging it.
    std::atomic<bool> returned{false};
    std::thread timer([&] {
      for (int i = 0; i < 500 && !returned; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!returned) client->shutdown_read();
    });
    const auto start = std::chrono::steady_clock::now();
    char byte;
    size_t n = 1;
    try {
      n = client->read_some(&byte, 1);
    } catch (const Error&) {  // reset: closed too
      n = 0;
    }
    returned = true;
    timer.join();
    EXPECT_EQ(n, 0u) << client->peer();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4)) << client->peer() << " was left open";
  }
}

// A listener that hands out nothing and then fails as it is told to.
class FailingListener final : public Listener {
 public:
  explicit FailingListener(bool throws) : throws_(throws) {}
  std::unique_ptr<Connection> accept() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (throws_) fail(ErrorKind::kIo, "the descriptor table is full");
    return nullptr;  // ends without being closed
  }
  void close() override {}
  std::string address() const override { return "failing"; }

 private:
  bool throws_;
};

// One listener of several failing stops the whole set, and the server hears why, instead of
// the process ending (an exception in a thread) or going on with half its addresses.
TEST(ListenerSet, OneListenerFailingFailsTheSet) {
  for (bool throws : {true, false}) {
    std::vector<std::unique_ptr<Listener>> both;
    both.push_back(tcp_listen({"127.0.0.1", 0}));
    both.push_back(std::make_unique<FailingListener>(throws));
    auto listener = listen_all(std::move(both));
    try {
      listener->accept();
      ADD_FAILURE() << "accept() went on after a listener failed";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                throws ? "the descriptor table is full" : "listening on failing ended by itself");
    }
    EXPECT_THROW(listener->accept(), Error) << "a failed set stays failed";
  }
}

// A server whose queue of clients to accept is full: a connect gives up after its wait and
// says why, instead of waiting without end (a Unix socket's connect would).
TEST(Unix, AConnectToAFullQueueGivesUp) {
  const std::string path = socket_path();
  int server = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(server, 0), 0);  // room for one client waiting to be accepted
  std::vector<std::unique_ptr<Connection>> queued;
  const auto start = std::chrono::steady_clock::now();
  try {
    for (int i = 0; i < 4; ++i) queued.push_back(unix_connect(path, std::chrono::seconds(1)));
    ADD_FAILURE() << "4 clients connected to a server that accepts none";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "cannot connect to unix:" + path + ": the server accepted no connection within 1 s");
  }
  EXPECT_FALSE(queued.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ::close(server);
}

// "unix:@NAME": no file is made or needed, and a name is one server's while it listens.
TEST(Unix, AnAbstractNameIsHeldByOneServerAndLeavesNoFile) {
  const std::string name = abstract_name();
  {
    auto listener = unix_listen("@" + name);
    EXPECT_EQ(listener->address(), "unix:@" + name);
    EXPECT_FALSE(std::filesystem::exists("@" + name));
    EXPECT_FALSE(std::filesystem::exists("@" + name + ".lock"));
    try {
      unix_listen("@" + name);
      ADD_FAILURE() << "a second server took the name";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "cannot listen on unix:@" + name + ": a server holds that name already");
    }
    // The name is its bytes as written: one more or fewer is another name.
    EXPECT_THROW(unix_connect("@" + name + "x"), Error);
    EXPECT_THROW(unix_connect("@" + name.substr(0, name.size() - 1)), Error);
  }
  auto again = unix_listen("@" + name);  // free once its server has gone
  try {
    unix_connect("@" + abstract_name());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Connection refused"), std::string::npos) << e.what();
  }
}

TEST(Unix, AddressesAreCheckedAndErrorsAreOneLine) {
  for (const char* bad : {"unix:", "unix:@", "7070", "host:"}) {
    try {
      check_address(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage) << bad;
    }
  }
  check_address("unix:/run/genie/serve.sock");
  check_address("127.0.0.1:7070", true);
  auto expect_usage = [](const std::function<void()>& call, const std::string& expected) {
    try {
      call();
      ADD_FAILURE() << expected;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  const std::string long_path = "/tmp/" + std::string(200, 'x');
  expect_usage([&] { check_address("unix:" + long_path); }, "a socket's path is at most 107 bytes long (this one has 205)");
  expect_usage([&] { unix_listen(long_path); }, "a socket's path is at most 107 bytes long");
  expect_usage([&] { check_address("unix:/run/genie/serve.sock", true); }, "TLS is for TCP");
  expect_usage([&] { listen_at("unix:" + socket_path(), TlsServerConfig{"cert.pem", "key.pem", ""}); }, "TLS is for TCP");
  expect_usage([&] { connect_to("unix:" + socket_path(), TlsClientConfig{"ca.pem", "", ""}); }, "TLS is for TCP");
  const std::string missing = socket_path();
  try {
    connect_to("unix:" + missing);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "cannot connect to unix:" + missing + ": No such file or directory");
  }
}

}  // namespace
}  // namespace genie::remote
