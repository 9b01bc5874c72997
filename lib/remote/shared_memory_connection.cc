#include "remote/shared_memory_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "support/error.h"

namespace genie::remote::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A position of its own cache line: each side writes only its own, and a line both wrote
// would travel between their CPUs on every call.
struct alignas(64) Line {
  std::atomic<uint64_t> value;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "positions shared between processes must be lock-free");

// The start of the shared memory. Ring 0 carries the client's bytes to the server, ring 1 the
// server's to the client; side 0 is the server, side 1 the client: a side reads ring `side`
// and writes the other. Positions count bytes since the connection began and never wrap.
struct Shared {
  Line head[2];      // written into ring r: its writer's
  Line tail[2];      // read from ring r: its reader's
  Line sleeping[2];  // side s sleeps in poll() on the socket and wants a byte there when a position moves
};
constexpr size_t kRingsOffset = 4096;
static_assert(sizeof(Shared) <= kRingsOffset);
// The layout docs/protocol.md gives ("Shared memory over a Unix socket").
static_assert(sizeof(Line) == 64 && offsetof(Shared, tail) == 128 && offsetof(Shared, sleeping) == 256);
static_assert((kRingBytes & (kRingBytes - 1)) == 0, "positions map to offsets by a mask");
constexpr size_t kMappedBytes = kRingsOffset + 2 * kRingBytes;
// Past this many bytes a write makes what it wrote readable before it goes on: a large
// message is read while it is written.
constexpr size_t kPublishBytes = 32 * 1024;
// How often a poll of the positions looks at the socket too.
constexpr std::chrono::microseconds kLookEvery{50};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class SharedMemoryConnection final : public Connection {
 public:
  // Takes `socket_fd` (closed here even when this throws).
  SharedMemoryConnection(int socket_fd, int side, std::string peer, std::string host)
      : fd_(socket_fd), side_(side), peer_(std::move(peer)), host_(std::move(host)) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      const int error = errno;
      ::close(fd_);
      fail(ErrorKind::kIo, "connection to " + peer_ + " lost: cannot make an eventfd: " + std::strerror(error));
    }
  }

  ~SharedMemoryConnection() override {
    if (shared_) ::munmap(shared_, kMappedBytes);
    ::close(wake_fd_);
    ::close(fd_);
  }

  // The client's side: makes the memory and sends it with the ask, so that its first
  // message can go into the ring before the server has accepted.
  void offer() {
    const int memory = ::memfd_create("genie-connection", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memory < 0) cannot_share("cannot make it: ", errno);
    // Sealed so that its size can never change: a server maps only memory that cannot
    // shrink under it (its accesses would fault).
    if (::ftruncate(memory, kMappedBytes) != 0 ||
        ::fcntl(memory, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
      const int error = errno;
      ::close(memory);
      cannot_share("cannot make it: ", error);
    }
    map(memory);
    const ssize_t sent = send_with_descriptor(fd_, std::string_view(kSharedMemoryAsk, sizeof kSharedMemoryAsk), memory);
    const int error = errno;
    ::close(memory);
    if (sent != static_cast<ssize_t>(sizeof kSharedMemoryAsk))
      fail(ErrorKind::kIo, "cannot connect to " + peer_ + ": " + (sent < 0 ? std::strerror(error) : "short write"));
  }

  // The server's side: the client's memory, if it is what offer() makes. Takes `memory`.
  // Ordinary shared memory (tmpfs) only: a page of a hugetlb file can be missing when the
  // server touches it (no huge page free), and the access would fault. A client can still
  // punch holes in its file; the server's next access then takes a page again, at most the
  // mapping's 2 MiB a connection.
  void accept(int memory) {
    struct stat file{};
    struct statfs system{};
    const int seals = ::fcntl(memory, F_GET_SEALS);
    const int needed = F_SEAL_SHRINK | F_SEAL_SEAL;
    if (seals < 0 || (seals & needed) != needed || ::fstat(memory, &file) != 0 ||
        static_cast<uint64_t>(file.st_size) < kMappedBytes || ::fstatfs(memory, &system) != 0 ||
        system.f_type != TMPFS_MAGIC) {
      ::close(memory);
      fail(ErrorKind::kBadInput, "connection to " + peer_ +
                                     " refused: the memory it offered is not sealed memory of the size genie's clients make");
    }
    map(memory);
    ::close(memory);
  }

  void write_all(const std::vector<std::string_view>& pieces) override {
    if (write_shut_) fail(ErrorKind::kIo, "connection to " + peer_ + " lost while sending: it was shut down");
    if (peer_gone_) fail(ErrorKind::kIo, "connection to " + peer_ + " lost while sending: the peer closed it");
    std::atomic<uint64_t>& head = shared_->head[1 - side_].value;
    size_t unpublished = 0;
    for (std::string_view piece : pieces) {
      while (!piece.empty()) {
        uint64_t room = writable();
        if (room == 0) {
          head.store(write_pos_, std::memory_order_seq_cst);
          unpublished = 0;
          notify();
          if (!wait_for([this] { return writable() > 0; }, write_shut_))
            fail(ErrorKind::kIo, "connection to " + peer_ + " lost while sending: " +
                                     (write_shut_ ? "it was shut down" : "the peer closed it"));
          room = writable();
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>(room, piece.size()));
        copy_in(piece.data(), n);
        write_pos_ += n;
        unpublished += n;
        piece.remove_prefix(n);
        if (unpublished >= kPublishBytes) {
          head.store(write_pos_, std::memory_order_seq_cst);
          unpublished = 0;
          notify();
        }
      }
    }
    head.store(write_pos_, std::memory_order_seq_cst);
    notify();
  }

  size_t read_some(char* buffer, size_t size) override {
    if (read_shut_) return 0;
    const bool learn = message_start_ && poll_window_.ceiling().count() > 0;
    message_start_ = false;
    const Clock::time_point start = learn ? Clock::now() : Clock::time_point();
    if (readable() == 0 && !wait_for([this] { return readable() > 0; }, read_shut_)) return 0;
    if (learn) poll_window_.waited(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start));
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size, readable()));
    copy_out(buffer, n);
    read_pos_ += n;
    shared_->tail[side_].value.store(read_pos_, std::memory_order_seq_cst);
    notify();  // a writer waiting for room
    return n;
  }

  void shutdown_read() override {
    read_shut_ = true;
    wake_self();
  }

  void shutdown_both() override {
    read_shut_ = true;
    write_shut_ = true;
    wake_self();
    ::shutdown(fd_, SHUT_RDWR);  // the peer sees the end
  }

  std::string peer() const override { return peer_; }
  std::string host() const override { return host_; }
  void set_poll_window(PollWindow window) override { poll_window_ = window; }
  PollWindow poll_window() const override { return poll_window_; }
  void next_read_starts_message() override { message_start_ = true; }

 private:
  [[noreturn]] void cannot_share(const char* what, int error) const {
    fail(ErrorKind::kIo, "cannot connect to " + peer_ + ": memory to share: " + what + std::strerror(error));
  }

  [[noreturn]] void corrupt() const {
    fail(ErrorKind::kBadInput, "connection to " + peer_ + " broken: the positions in its shared memory cannot be");
  }

  void map(int memory) {
    // Populated at once: a page first touched in a call would cost that call a fault (5-10 µs
    // on a virtual machine; until the rings had wrapped once, every tenth call or so).
    void* address = ::mmap(nullptr, kMappedBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memory, 0);
    if (address == MAP_FAILED) {
      const int error = errno;
      ::close(memory);
      fail(ErrorKind::kIo, "connection to " + peer_ + " lost: cannot map the memory it shares: " + std::strerror(error));
    }
    shared_ = static_cast<Shared*>(address);
    rings_ = static_cast<char*>(address) + kRingsOffset;
  }

  // What the peer wrote that this side has not read. The peer may write anything into the
  // memory: a position that cannot be ends the connection.
  uint64_t readable() const {
    const uint64_t n = shared_->head[side_].value.load(std::memory_order_seq_cst) - read_pos_;
    if (n > kRingBytes) corrupt();
    return n;
  }
  uint64_t writable() const {
    const uint64_t used = write_pos_ - shared_->tail[1 - side_].value.load(std::memory_order_seq_cst);
    if (used > kRingBytes) corrupt();
    return kRingBytes - used;
  }

  void copy_in(const char* from, size_t n) {
    char* ring = rings_ + (1 - side_) * kRingBytes;
    const size_t at = static_cast<size_t>(write_pos_ & (kRingBytes - 1));
    const size_t first = std::min(n, kRingBytes - at);
    std::memcpy(ring + at, from, first);
    std::memcpy(ring, from + first, n - first);
  }
  void copy_out(char* to, size_t n) const {
    const char* ring = rings_ + side_ * kRingBytes;
    const size_t at = static_cast<size_t>(read_pos_ & (kRingBytes - 1));
    const size_t first = std::min(n, kRingBytes - at);
    std::memcpy(to, ring + at, first);
    std::memcpy(to + first, ring, n - first);
  }

  // After this side moved a position: a byte on the socket wakes the peer if it sleeps. With
  // the sleeper's flag set before it looks at the positions a last time (wait_for), one of
  // the two always sees the other's move.
  void notify() {
    std::atomic<uint64_t>& flag = shared_->sleeping[1 - side_].value;
    if (flag.load(std::memory_order_seq_cst) == 0 || flag.exchange(0, std::memory_order_seq_cst) == 0) return;
    const char byte = 1;
    (void)!::send(fd_, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);  // a full socket already wakes it
  }

  // Polls `ready` for the poll window, then sleeps in poll() on the socket (a wake-up byte,
  // or its end when the peer has gone) and on the eventfd (shut down here). False when shut
  // (`shut`) or the peer has gone before `ready`.
  template <typename Ready>
  bool wait_for(Ready ready, const std::atomic<bool>& shut) {
    Clock::time_point now = Clock::now();
    const Clock::time_point until = now + poll_window_.current();
    Clock::time_point look = now + kLookEvery;
    for (;;) {
      if (ready()) return true;
      if (shut || peer_gone_) return false;
      now = Clock::now();
      if (now >= until) break;
      if (now >= look) {  // a peer that has gone ends a long poll as the end of a socket would
        pollfd socket{fd_, POLLIN, 0};
        if (::poll(&socket, 1, 0) > 0) drain();
        look = now + kLookEvery;
      }
      for (int i = 0; i < 8; ++i) cpu_relax();
    }
    std::atomic<uint64_t>& sleeping = shared_->sleeping[side_].value;
    for (;;) {
      sleeping.store(1, std::memory_order_seq_cst);
      if (ready()) {
        sleeping.store(0, std::memory_order_seq_cst);
        return true;
      }
      if (shut || peer_gone_) {
        sleeping.store(0, std::memory_order_seq_cst);
        return false;
      }
      pollfd wait[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      ::poll(wait, 2, -1);
      sleeping.store(0, std::memory_order_seq_cst);
      drain();
    }
  }

  // Wake-up bytes (a few reads' worth: a peer that floods the socket cannot keep this thread
  // here), the end of the stream (the peer has gone), and this side's own wake-ups.
  void drain() {
    char bytes[256];
    for (int i = 0; i < 4; ++i) {
      const ssize_t n = ::recv(fd_, bytes, sizeof bytes, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) peer_gone_ = true;
      break;
    }
    uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof count);
  }

  void wake_self() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

  int fd_;
  int wake_fd_ = -1;
  const int side_;
  std::string peer_, host_;
  Shared* shared_ = nullptr;
  char* rings_ = nullptr;
  uint64_t read_pos_ = 0, write_pos_ = 0;
  bool peer_gone_ = false;
  std::atomic<bool> read_shut_{false}, write_shut_{false};
  PollWindow poll_window_;
  bool message_start_ = false;
};

}  // namespace

ssize_t send_with_descriptor(int socket_fd, std::string_view bytes, int descriptor) {
  iovec data{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  cmsghdr* rights = CMSG_FIRSTHDR(&header);
  rights->cmsg_level = SOL_SOCKET;
  rights->cmsg_type = SCM_RIGHTS;
  rights->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(rights), &descriptor, sizeof(int));
  ssize_t sent;
  do {
    sent = ::sendmsg(socket_fd, &header, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent;
}

ssize_t receive_with_descriptor(int socket_fd, char* buffer, size_t size, int& descriptor) {
  iovec data{buffer, size};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  ssize_t received;
  do {
    received = ::recvmsg(socket_fd, &header, MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) return received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&header); c; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      if (descriptor < 0) descriptor = passed;
      else ::close(passed);
    }
  }
  return received;
}

std::unique_ptr<Connection> shared_memory_serve(int socket_fd, int memory_fd, std::string peer, std::string host) {
  std::unique_ptr<SharedMemoryConnection> connection;
  try {
    connection = std::make_unique<SharedMemoryConnection>(socket_fd, 0, std::move(peer), std::move(host));
  } catch (...) {
    ::close(memory_fd);
    throw;
  }
  connection->accept(memory_fd);
  return connection;
}

std::unique_ptr<Connection> shared_memory_connect(int socket_fd, std::string peer, std::string host) {
  auto connection = std::make_unique<SharedMemoryConnection>(socket_fd, 1, std::move(peer), std::move(host));
  connection->offer();
  return connection;
}

}  // namespace genie::remote::detail
