// One Asio stream as a Connection: TCP, TLS over TCP, or a Unix-domain socket. Internal to
// the transports (tcp_transport.cc, unix_transport.cc); callers see only transport.h.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote::detail {

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

inline asio::ip::tcp::socket& socket_of(asio::ip::tcp::socket& s) { return s; }
inline asio::ip::tcp::socket& socket_of(TlsStream& s) { return s.next_layer(); }
inline asio::local::stream_protocol::socket& socket_of(asio::local::stream_protocol::socket& s) { return s; }

// The end of a stream: a clean close, or a TLS peer that closed without close_notify (what
// a killed process does) — the protocol's own framing tells a truncated message apart.
inline bool is_end_of_stream(const asio::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

// Keeps what the stream needs alive (its io_context, the TLS context) for as long as it lives.
// `peer` and `host` are what Connection::peer() and host() return.
template <typename Stream>
class StreamConnection final : public Connection {
 public:
  StreamConnection(std::shared_ptr<asio::io_context> io, std::shared_ptr<asio::ssl::context> tls, Stream stream,
                   bool handshake_pending, std::string peer, std::string host)
      : io_(std::move(io)),
        tls_(std::move(tls)),
        stream_(std::move(stream)),
        handshake_pending_(handshake_pending),
        peer_(std::move(peer)),
        host_(std::move(host)) {}

  using Connection::write_all;
  void write_all(const std::vector<std::string_view>& pieces) override {
    handshake();
    if (ended_before_handshake_) fail(ErrorKind::kIo, "connection to " + peer_ + " lost: it closed before TLS began");
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(pieces.size());
    for (std::string_view p : pieces) buffers.emplace_back(p.data(), p.size());
    asio::error_code ec;
    asio::write(stream_, buffers, ec);
    if (ec) fail(ErrorKind::kIo, "connection to " + peer_ + " lost while sending: " + ec.message());
  }

  size_t read_some(char* buffer, size_t size) override {
    handshake();
    if (ended_before_handshake_) return 0;
    asio::error_code ec;
    const bool wait = poll_window_.ceiling().count() > 0 && !buffered();
    const bool learn = wait && message_start_;
    message_start_ = false;
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = learn ? Clock::now() : Clock::time_point();
    // The wait ends when the bytes are there: when the poll sees them, else when the blocking
    // read returns (the copy of one read-ahead's worth with it).
    Clock::time_point ready;
    if (wait && poll_until_readable() && learn) ready = Clock::now();
    size_t n = stream_.read_some(asio::buffer(buffer, size), ec);
    if (learn) {
      if (ready == Clock::time_point()) ready = Clock::now();
      poll_window_.waited(std::chrono::duration_cast<std::chrono::microseconds>(ready - start));
    }
    if (is_end_of_stream(ec) || (ec && read_shut_)) return 0;
    if (ec) fail(ErrorKind::kIo, "connection to " + peer_ + " lost: " + ec.message());
    return n;
  }

  void shutdown_read() override {
    read_shut_ = true;
    asio::error_code ec;
    socket_of(stream_).shutdown(asio::socket_base::shutdown_receive, ec);
  }

  void shutdown_both() override {
    read_shut_ = true;
    asio::error_code ec;
    socket_of(stream_).shutdown(asio::socket_base::shutdown_both, ec);
  }

  std::string peer() const override { return peer_; }
  std::string host() const override { return host_; }

  void set_poll_window(PollWindow window) override { poll_window_ = window; }
  PollWindow poll_window() const override { return poll_window_; }
  void next_read_starts_message() override { message_start_ = true; }

 private:
  // Bytes TLS has decrypted and not yet handed out: a read returns them without waiting.
  bool buffered() {
    if constexpr (std::is_same_v<Stream, TlsStream>) return SSL_pending(stream_.native_handle()) > 0;
    return false;
  }

  // Returns true when bytes (or the end of the stream) can be read, false when the window has
  // passed first; the read that follows then blocks if it must.
  bool poll_until_readable() {
    const auto until = std::chrono::steady_clock::now() + poll_window_.current();
    const int fd = socket_of(stream_).native_handle();
    do {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) != 0) return true;  // readable, closed, or an error the read reports
    } while (std::chrono::steady_clock::now() < until && !read_shut_);
    return false;
  }

  void handshake() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      if (!handshake_pending_) return;
      handshake_pending_ = false;
      asio::error_code ec;
      stream_.handshake(asio::ssl::stream_base::server, ec);
      // A peer that closed before saying anything (a TCP readiness probe) ended its stream;
      // it did not fail a handshake.
      if (is_end_of_stream(ec)) {
        ended_before_handshake_ = true;
        return;
      }
      if (ec) fail(ErrorKind::kBadInput, "TLS handshake with " + peer_ + " failed: " + ec.message());
    }
  }

  std::shared_ptr<asio::io_context> io_;
  std::shared_ptr<asio::ssl::context> tls_;
  Stream stream_;
  bool handshake_pending_;
  std::string peer_, host_;
  bool ended_before_handshake_ = false;
  std::atomic<bool> read_shut_{false};
  PollWindow poll_window_;
  bool message_start_ = false;
};

// What a listener of either transport does with its blocking acceptor. The next client into
// `socket`: false once `closed`. An error is one client's (gone before it was accepted) or
// the process's (a full descriptor table), waited out for a moment so it cannot become a
// busy loop.
template <typename Acceptor, typename Socket>
bool accept_next(Acceptor& acceptor, Socket& socket, const std::atomic<bool>& closed) {
  while (!closed) {
    asio::error_code ec;
    acceptor.accept(socket, ec);
    if (closed) return false;
    if (!ec) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// From any thread: accept_next returns false. shutdown() wakes a thread blocked in accept();
// close() alone does not on Linux.
template <typename Acceptor>
void stop_accepting(Acceptor& acceptor, std::atomic<bool>& closed) {
  closed = true;
  ::shutdown(acceptor.native_handle(), SHUT_RDWR);
}

}  // namespace genie::remote::detail
