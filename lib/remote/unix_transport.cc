// Unix-domain sockets with standalone Asio, blocking, as the TCP transport: a client on the
// server's machine reaches it without the TCP/IP stack in between.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "remote/stream_connection.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

using local = asio::local::stream_protocol;

// The longest path sockaddr_un holds, its terminating NUL aside.
constexpr size_t kMaxPath = sizeof(sockaddr_un{}.sun_path) - 1;

void check_path(const std::string& path) {
  if (path.empty()) fail(ErrorKind::kUsage, "\"unix:\" needs a path (e.g. unix:/run/genie/serve.sock)");
  if (path.size() > kMaxPath)
    fail(ErrorKind::kUsage, "unix:" + path + ": a socket's path is at most " + std::to_string(kMaxPath) +
                                " bytes long (this one has " + std::to_string(path.size()) + ")");
  if (path.find('\0') != std::string::npos) fail(ErrorKind::kUsage, "a socket's path cannot hold a NUL byte");
}

// "unix:pid=4242,uid=1000": who connected, from the kernel (SO_PEERCRED), for the log.
std::string peer_of(local::socket& socket, const std::string& path) {
  ucred who{};
  socklen_t size = sizeof who;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &who, &size) != 0) return "unix:" + path;
  return "unix:pid=" + std::to_string(who.pid) + ",uid=" + std::to_string(who.uid);
}

std::unique_ptr<Connection> unix_connection(std::shared_ptr<asio::io_context> io, local::socket socket, std::string peer) {
  return std::make_unique<detail::StreamConnection<local::socket>>(std::move(io), nullptr, std::move(socket), false,
                                                                   std::move(peer));
}

class UnixListener final : public Listener {
 public:
  explicit UnixListener(std::string path) : path_(std::move(path)), io_(std::make_shared<asio::io_context>()), acceptor_(*io_) {
    check_path(path_);
    remove_stale_socket();
    asio::error_code ec;
    acceptor_.open(local(), ec);
    if (!ec) acceptor_.bind(local::endpoint(path_), ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail(ErrorKind::kIo, "cannot listen on unix:" + path_ + ": " + ec.message());
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0) bound_ = {st.st_dev, st.st_ino};
  }

  ~UnixListener() override {
    // Only the file this listener made: another server may have taken the path since.
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0 && bound_ == std::pair<dev_t, ino_t>{st.st_dev, st.st_ino})
      ::unlink(path_.c_str());
  }

  std::unique_ptr<Connection> accept() override {
    while (!closed_) {
      asio::error_code ec;
      local::socket socket(*io_);
      acceptor_.accept(socket, ec);
      if (closed_) return nullptr;
      if (ec) continue;  // a client that vanished before accept, a full descriptor table
      std::string peer = peer_of(socket, path_);
      return unix_connection(io_, std::move(socket), std::move(peer));
    }
    return nullptr;
  }

  void close() override {
    closed_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes a thread blocked in accept()
  }

  std::string address() const override { return "unix:" + path_; }

 private:
  // A socket file that no server answers on was left by one that was killed: it may go. A
  // live server's socket, or a file that is not a socket, is not this listener's to take.
  void remove_stale_socket() {
    struct stat st{};
    if (::lstat(path_.c_str(), &st) != 0) return;  // nothing there (or bind will say why not)
    if (!S_ISSOCK(st.st_mode))
      fail(ErrorKind::kIo, "cannot listen on unix:" + path_ + ": the path exists and is not a socket");
    local::socket probe(*io_);
    asio::error_code ec;
    probe.connect(local::endpoint(path_), ec);
    if (!ec) fail(ErrorKind::kIo, "cannot listen on unix:" + path_ + ": a server is listening there already");
    if (ec != asio::error::connection_refused) return;  // not provably stale: bind will say why
    ::unlink(path_.c_str());
  }

  std::string path_;
  std::shared_ptr<asio::io_context> io_;
  local::acceptor acceptor_;
  std::pair<dev_t, ino_t> bound_{};
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<Listener> unix_listen(const std::string& path) { return std::make_unique<UnixListener>(path); }

std::unique_ptr<Connection> unix_connect(const std::string& path) {
  check_path(path);
  auto io = std::make_shared<asio::io_context>();
  local::socket socket(*io);
  asio::error_code ec;
  socket.connect(local::endpoint(path), ec);
  if (ec) fail(ErrorKind::kIo, "cannot connect to unix:" + path + ": " + ec.message());
  return unix_connection(std::move(io), std::move(socket), "unix:" + path);
}

}  // namespace genie::remote
