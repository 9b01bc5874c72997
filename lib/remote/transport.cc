// Addresses as users write them, to the transport that serves each form.
#include "remote/transport.h"

#include <cstdlib>

#include <sys/un.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "support/error.h"

namespace genie::remote {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

// The longest path sockaddr_un holds, its terminating NUL aside.
constexpr size_t kMaxUnixPath = sizeof(sockaddr_un{}.sun_path) - 1;

std::string unix_path(std::string_view address) { return std::string(address.substr(kUnixPrefix.size())); }

// A thread per listener accepts into one queue, which accept() takes from. The queue is
// short, so that clients beyond what the server takes wait in the system's backlog, as they
// would for a single listener. A listener that fails (throws, or ends before close()) closes
// the set, and accept() passes its error on: the server stops and says why.
class ListenerSet final : public Listener {
 public:
  explicit ListenerSet(std::vector<std::unique_ptr<Listener>> listeners)
      : listeners_(std::move(listeners)) {
    try {
      for (auto& listener : listeners_) threads_.emplace_back([this, l = listener.get()] { accept_from(*l); });
    } catch (...) {  // no thread for one: those started must end before the listeners go
      close();
      for (std::thread& t : threads_) t.join();
      throw;
    }
  }

  ~ListenerSet() override {
    close();
    for (std::thread& t : threads_) t.join();
  }

  std::unique_ptr<Connection> accept() override {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (failure_) std::rethrow_exception(failure_);
    if (closed_) return nullptr;
    std::unique_ptr<Connection> next = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();  // room in the queue
    return next;
  }

  void close() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      queue_.clear();  // clients accepted but not yet taken: closed
    }
    for (auto& listener : listeners_) listener->close();
    changed_.notify_all();
  }

  std::string address() const override {
    std::string all;
    for (const auto& listener : listeners_) all += (all.empty() ? "" : " and ") + listener->address();
    return all;
  }

 private:
  static constexpr size_t kQueued = 16;

  void accept_from(Listener& listener) {
    std::exception_ptr failure;
    try {
      while (std::unique_ptr<Connection> connection = listener.accept()) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return closed_ || queue_.size() < kQueued; });
        if (closed_) return;  // the connection closes as it goes
        queue_.push_back(std::move(connection));
        changed_.notify_all();
      }
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;  // closed, as asked
      failure_ = failure ? failure
                         : std::make_exception_ptr(Error(ErrorKind::kIo, "listening on " + listener.address() +
                                                                             " ended by itself"));
    }
    close();
  }

  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable changed_;  // the queue, or closed_
  std::deque<std::unique_ptr<Connection>> queue_;
  std::exception_ptr failure_;  // the first listener's failure
  bool closed_ = false;
};

}  // namespace

bool is_unix_address(std::string_view address) { return address.substr(0, kUnixPrefix.size()) == kUnixPrefix; }

void check_address(std::string_view address, bool tls) {
  if (!is_unix_address(address)) {
    parse_host_port(address);
    return;
  }
  const std::string path = unix_path(address);
  if (path.empty()) fail(ErrorKind::kUsage, "\"unix:\" needs a path (e.g. unix:/run/genie/serve.sock)");
  if (path == "@") fail(ErrorKind::kUsage, "\"unix:@\" needs a name (e.g. unix:@genie-serve)");
  if (path.size() > kMaxUnixPath)
    fail(ErrorKind::kUsage, std::string(address) + ": a socket's path is at most " + std::to_string(kMaxUnixPath) +
                                " bytes long (this one has " + std::to_string(path.size()) + ")");
  if (path.find('\0') != std::string::npos) fail(ErrorKind::kUsage, "a socket's path cannot hold a NUL byte");
  if (tls)
    fail(ErrorKind::kUsage, std::string(address) +
                                ": TLS is for TCP; a Unix-domain socket is reached only on this machine, and the "
                                "socket file's permissions say who may connect");
}

std::unique_ptr<Listener> listen_at(std::string_view address, const TlsServerConfig& tls) {
  check_address(address, tls.enabled());
  if (!is_unix_address(address)) return tcp_listen(parse_host_port(address), tls);
  return unix_listen(unix_path(address));
}

std::unique_ptr<Listener> listen_all(std::vector<std::unique_ptr<Listener>> listeners) {
  if (listeners.empty()) fail(ErrorKind::kInternal, "listen_all: no listener");
  if (listeners.size() == 1) return std::move(listeners.front());
  return std::make_unique<ListenerSet>(std::move(listeners));
}

std::unique_ptr<Connection> connect_to(std::string_view address, const TlsClientConfig& tls, std::string_view route_key) {
  check_address(address, tls.enabled());
  if (!is_unix_address(address)) return tcp_connect(parse_host_port(address), tls, route_key);
  return unix_connect(unix_path(address), std::chrono::seconds(10), shared_memory_wanted());
}

bool shared_memory_wanted() {
  const char* setting = std::getenv("GENIE_SHARED_MEMORY");
  return !(setting && std::string_view(setting) == "0");
}

}  // namespace genie::remote
