// Unix-domain sockets with standalone Asio, blocking, as the TCP transport: a client on the
// server's machine reaches it without the TCP/IP stack in between, and genie's own clients
// then without the kernel at all (shared_memory_connection.h).
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "remote/shared_memory_connection.h"
#include "remote/stream_connection.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

using local = asio::local::stream_protocol;

// Who connected, from the kernel (SO_PEERCRED): "unix:pid=4242,uid=1000" for the log (pid 0
// for a process in another PID namespace, as another container of a pod), and its user, the
// unit the server's per-host limits count by.
std::pair<std::string, std::string> peer_of(local::socket& socket, const std::string& path) {
  ucred who{};
  socklen_t size = sizeof who;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &who, &size) != 0)
    return {"unix:" + path, "unix:uid=?"};
  return {"unix:pid=" + std::to_string(who.pid) + ",uid=" + std::to_string(who.uid), "unix:uid=" + std::to_string(who.uid)};
}

std::unique_ptr<Connection> unix_connection(std::shared_ptr<asio::io_context> io, local::socket socket, std::string peer,
                                            std::string host) {
  return std::make_unique<detail::StreamConnection<local::socket>>(std::move(io), nullptr, std::move(socket), false,
                                                                   std::move(peer), std::move(host));
}

// A client as the server accepted it: a plain stream (any client that speaks the protocol),
// or shared memory when its first bytes ask for it. Which, it learns at the first read or
// write, in the thread that serves the client, so that a slow client cannot stall accept().
class AcceptedConnection final : public Connection {
 public:
  AcceptedConnection(std::shared_ptr<asio::io_context> io, local::socket socket, std::string peer, std::string host)
      : io_(std::move(io)), socket_(std::move(socket)), fd_(socket_.native_handle()), peer_(std::move(peer)),
        host_(std::move(host)) {}

  using Connection::write_all;
  void write_all(const std::vector<std::string_view>& pieces) override { chosen().write_all(pieces); }

  size_t read_some(char* buffer, size_t size) override {
    Connection& connection = chosen();
    if (prefix_at_ < prefix_.size()) {  // the bytes read to choose, first
      const size_t n = std::min(size, prefix_.size() - prefix_at_);
      std::memcpy(buffer, prefix_.data() + prefix_at_, n);
      prefix_at_ += n;
      return n;
    }
    return connection.read_some(buffer, size);
  }

  void shutdown_read() override {
    std::lock_guard<std::mutex> lock(mutex_);
    read_shut_ = true;
    if (chosen_) chosen_->shutdown_read();
    else if (fd_ >= 0) ::shutdown(fd_, SHUT_RD);  // ends the read that is choosing
  }
  void shutdown_both() override {
    std::lock_guard<std::mutex> lock(mutex_);
    both_shut_ = true;
    if (chosen_) chosen_->shutdown_both();
    else if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

  void set_poll_window(PollWindow window) override {
    std::lock_guard<std::mutex> lock(mutex_);
    window_ = window;
    if (chosen_) chosen_->set_poll_window(window);
  }
  PollWindow poll_window() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return chosen_ ? chosen_->poll_window() : window_;
  }
  void next_read_starts_message() override {
    if (chosen_) chosen_->next_read_starts_message();  // the first message's wait teaches nothing
  }
  std::string peer() const override { return peer_; }
  std::string host() const override { return host_; }

 private:
  // Only the serving thread chooses; other threads only shut down, under the mutex.
  Connection& chosen() {
    if (refused_) fail(ErrorKind::kIo, "connection to " + peer_ + " ended: the memory it offered was refused");
    if (!chosen_) choose();
    return *chosen_;
  }

  void choose() {
    // The first bytes: as many as the ask has, or up to the first that differ from it; and
    // the memory's descriptor, which comes with the ask.
    char first[sizeof detail::kSharedMemoryAsk];
    size_t got = 0;
    int memory = -1;
    while (got < sizeof first) {
      const ssize_t n = detail::receive_with_descriptor(fd_, first + got, sizeof first - got, memory);
      if (n <= 0) break;  // the end, or an error the stream's read reports again
      got += static_cast<size_t>(n);
      if (std::memcmp(first, detail::kSharedMemoryAsk, got) != 0) break;
    }
    std::unique_ptr<Connection> chosen;
    if (got == sizeof first && std::memcmp(first, detail::kSharedMemoryAsk, got) == 0 && memory >= 0) {
      // The socket is the shared-memory connection's from here, closed by it even when it
      // refuses the memory: this wrapper must not touch its number again (a new client's
      // socket may have it by then).
      int socket_fd;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        socket_fd = socket_.release();
        fd_ = -1;
      }
      try {
        chosen = detail::shared_memory_serve(socket_fd, memory, peer_, host_);
      } catch (...) {
        refused_ = true;
        throw;
      }
    } else {
      if (memory >= 0) ::close(memory);
      prefix_.assign(first, got);
      chosen = unix_connection(io_, std::move(socket_), peer_, host_);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    chosen_ = std::move(chosen);
    chosen_->set_poll_window(window_);
    if (both_shut_) chosen_->shutdown_both();
    else if (read_shut_) chosen_->shutdown_read();
  }

  std::shared_ptr<asio::io_context> io_;
  local::socket socket_;
  int fd_;  // the socket's, until a shared-memory connection takes it (-1); under mutex_
  std::string peer_, host_;
  bool refused_ = false;
  mutable std::mutex mutex_;
  std::unique_ptr<Connection> chosen_;
  bool read_shut_ = false, both_shut_ = false;
  PollWindow window_;
  std::string prefix_;
  size_t prefix_at_ = 0;
};

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISREG(mode)) return "a file";
  return "not a socket";
}

// "@name": a name in the abstract namespace (unix_listen).
bool is_abstract(const std::string& path) { return !path.empty() && path[0] == '@'; }

// The kernel's form of a path. An abstract name starts with a NUL instead of its '@' and is
// as long as it is (not NUL-terminated): its length is part of the name.
struct SocketAddress {
  sockaddr_un address{};
  socklen_t length = 0;
};
SocketAddress socket_address(const std::string& path) {
  SocketAddress a;
  a.address.sun_family = AF_UNIX;
  std::memcpy(a.address.sun_path, path.data(), path.size());  // check_address bounded its length
  if (!is_abstract(path)) {
    a.length = sizeof a.address;
    return a;
  }
  a.address.sun_path[0] = '\0';
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  return a;
}

// Whether the socket at `path` is a dead server's: only a refused connection says so. A
// server too busy to accept (a full queue) is there, and one that refuses this user
// (EACCES) may be.
enum class Probe { kDead, kAnswers, kUnknown };
Probe probe(const std::string& path, int& error) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno;
    return Probe::kUnknown;
  }
  const SocketAddress address = socket_address(path);
  Probe result = Probe::kAnswers;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length) != 0 && errno != EAGAIN) {
    error = errno;
    result = errno == ECONNREFUSED ? Probe::kDead : Probe::kUnknown;
  }
  ::close(fd);
  return result;
}

class UnixListener final : public Listener {
 public:
  explicit UnixListener(std::string path) : path_(std::move(path)), io_(std::make_shared<asio::io_context>()), acceptor_(*io_) {
    check_address("unix:" + path_);
    const bool file = !is_abstract(path_);
    if (file) {
      refuse_what_is_not_a_socket();  // before a lock file is made beside somebody's file
      lock();
      remove_stale_socket();
    }
    asio::error_code ec;
    acceptor_.open(local(), ec);
    if (!ec) acceptor_.bind(local::endpoint(file ? path_ : '\0' + path_.substr(1)), ec);
    if (ec) {
      if (file) ::close(lock_fd_);
      if (!file && ec == asio::error::address_in_use) cannot_listen("a server holds that name already");
      cannot_listen(ec.message());
    }
    struct stat st{};
    if (file && ::lstat(path_.c_str(), &st) == 0) bound_ = {st.st_dev, st.st_ino};
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      if (file) {
        remove_socket_file();
        ::close(lock_fd_);
      }
      cannot_listen(ec.message());
    }
  }

  ~UnixListener() override {
    if (is_abstract(path_)) return;  // the name goes with the socket
    remove_socket_file();
    ::close(lock_fd_);  // the lock goes with it; the lock file stays (see lock())
  }

  std::unique_ptr<Connection> accept() override {
    local::socket socket(*io_);
    if (!detail::accept_next(acceptor_, socket, closed_)) return nullptr;
    auto [peer, host] = peer_of(socket, path_);
    return std::make_unique<AcceptedConnection>(io_, std::move(socket), std::move(peer), std::move(host));
  }

  void close() override { detail::stop_accepting(acceptor_, closed_); }

  std::string address() const override { return "unix:" + path_; }

 private:
  [[noreturn]] void cannot_listen(const std::string& why) const {
    fail(ErrorKind::kIo, "cannot listen on unix:" + path_ + ": " + why);
  }

  // Two servers started on one path would both see a dead server's socket, and the second to
  // replace it would take the path from the first. The lock makes finding, replacing and
  // removing the socket one server's business at a time. Its file is never removed: a server
  // that removed it while another waited to open it would let a third lock a new one. It is
  // made as the socket is, by the umask: whoever may use the socket may start the next server.
  void lock() {
    const std::string lock_path = path_ + ".lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd_ < 0) {
      if (errno == ENOENT) cannot_listen("its directory does not exist");
      cannot_listen("cannot open its lock file " + lock_path + ": " + std::strerror(errno));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(lock_fd_);
      if (error == EWOULDBLOCK) cannot_listen("a server is listening there already");
      cannot_listen("cannot lock " + lock_path + ": " + std::strerror(error));
    }
  }

  void refuse_what_is_not_a_socket() const {
    struct stat st{};
    if (::lstat(path_.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
      cannot_listen(std::string("the path exists and is ") + kind_of(st.st_mode));
  }

  // A socket file that no server answers on was left by one that was killed: it may go. A
  // live server's socket (one that takes no lock, or a program other than genie-serve), or a
  // file that is not a socket, is not this listener's to take. Under the lock: what is there
  // now is what counts.
  void remove_stale_socket() {
    struct stat st{};
    if (::lstat(path_.c_str(), &st) != 0) return;  // nothing there (or bind will say why not)
    auto refuse = [&](const std::string& why) {
      ::close(lock_fd_);
      cannot_listen(why);
    };
    if (!S_ISSOCK(st.st_mode)) refuse(std::string("the path exists and is ") + kind_of(st.st_mode));
    int error = 0;
    const Probe found = probe(path_, error);
    if (found == Probe::kAnswers) refuse("a server is listening there already");
    if (found == Probe::kUnknown)
      refuse(std::string("cannot tell whether a server listens on its socket: ") + std::strerror(error));
    if (::unlink(path_.c_str()) != 0)
      refuse(std::string("a dead server's socket is there and cannot be removed: ") + std::strerror(errno));
  }

  // Only the file this listener made: another program may have replaced it since.
  void remove_socket_file() {
    struct stat st{};
    if (::lstat(path_.c_str(), &st) == 0 && bound_ == std::pair<dev_t, ino_t>{st.st_dev, st.st_ino})
      ::unlink(path_.c_str());
  }

  std::string path_;
  std::shared_ptr<asio::io_context> io_;
  local::acceptor acceptor_;
  int lock_fd_ = -1;
  std::pair<dev_t, ino_t> bound_{};
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<Listener> unix_listen(const std::string& path) { return std::make_unique<UnixListener>(path); }

std::unique_ptr<Connection> unix_connect(const std::string& path, std::chrono::seconds wait, bool shared_memory,
                                         const std::string& shown_as) {
  check_address("unix:" + path);
  const std::string name = shown_as.empty() ? "unix:" + path : shown_as;
  auto io = std::make_shared<asio::io_context>();
  local::socket socket(*io);
  asio::error_code ec;
  socket.open(local(), ec);
  if (ec) fail(ErrorKind::kIo, "cannot connect to " + name + ": " + ec.message());
  // The system call itself: Asio takes a connect that timed out (EAGAIN) for one in progress
  // and waits for it, then reports success on a socket that is not connected.
  const int fd = socket.native_handle();
  timeval limit{static_cast<time_t>(wait.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  const SocketAddress address = socket_address(path);
  int result;
  do {
    result = ::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length);
  } while (result != 0 && errno == EINTR);
  const int error = result == 0 ? 0 : errno;
  timeval none{0, 0};  // a send then waits as over TCP: as long as it must
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  if (error == EAGAIN)
    fail(ErrorKind::kIo, "cannot connect to " + name + ": the server accepted no connection within " +
                             std::to_string(wait.count()) + " s");
  if (error) fail(ErrorKind::kIo, "cannot connect to " + name + ": " + std::strerror(error));
  if (shared_memory) return detail::shared_memory_connect(socket.release(), name, "unix");
  return unix_connection(std::move(io), std::move(socket), name, "unix");
}

}  // namespace genie::remote
