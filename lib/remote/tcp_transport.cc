// TCP with standalone Asio, blocking: one thread per connection on the server keeps every
// request's code straight-line, and a slow or hostile client holds only its own thread.
#include <asio.hpp>

#include <atomic>

#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

using asio::ip::tcp;

std::string endpoint_text(const tcp::endpoint& e) {
  std::string host = e.address().to_string();
  if (e.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(e.port());
}

class TcpConnection final : public Connection {
 public:
  TcpConnection(std::shared_ptr<asio::io_context> io, tcp::socket socket) : io_(std::move(io)), socket_(std::move(socket)) {
    asio::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);  // request/response: no Nagle delay
    peer_ = endpoint_text(socket_.remote_endpoint(ec));
  }

  void write_all(std::string_view bytes) override {
    asio::error_code ec;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) fail(ErrorKind::kIo, "connection to " + peer_ + " lost while sending: " + ec.message());
  }

  size_t read_some(char* buffer, size_t size) override {
    asio::error_code ec;
    size_t n = socket_.read_some(asio::buffer(buffer, size), ec);
    if (ec == asio::error::eof) return 0;
    if (ec) fail(ErrorKind::kIo, "connection to " + peer_ + " lost: " + ec.message());
    return n;
  }

  void shutdown_read() override {
    asio::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_receive, ec);
  }

  std::string peer() const override { return peer_; }

 private:
  std::shared_ptr<asio::io_context> io_;
  tcp::socket socket_;
  std::string peer_;
};

class TcpListener final : public Listener {
 public:
  explicit TcpListener(const HostPort& address) : io_(std::make_shared<asio::io_context>()), acceptor_(*io_) {
    asio::error_code ec;
    asio::ip::address ip = asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
    if (ec) fail(ErrorKind::kUsage, "cannot listen on \"" + address.host + "\": not an IP address");
    tcp::endpoint endpoint(ip, address.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail(ErrorKind::kIo, "cannot listen on " + endpoint_text(endpoint) + ": " + ec.message());
    address_ = endpoint_text(acceptor_.local_endpoint(ec));
  }

  std::unique_ptr<Connection> accept() override {
    while (!closed_) {
      asio::error_code ec;
      tcp::socket socket(*io_);
      acceptor_.accept(socket, ec);
      if (closed_) return nullptr;
      if (!ec) return std::make_unique<TcpConnection>(io_, std::move(socket));
      // A client that vanished between SYN and accept, or a full descriptor table: go on.
    }
    return nullptr;
  }

  void close() override {
    closed_ = true;
    // shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  }

  std::string address() const override { return address_; }

 private:
  std::shared_ptr<asio::io_context> io_;
  tcp::acceptor acceptor_;
  std::string address_;
  std::atomic<bool> closed_{false};
};

}  // namespace

HostPort parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    fail(ErrorKind::kUsage, "\"" + std::string(text) + "\" is not HOST:PORT (e.g. 127.0.0.1:7070)");
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port_text(text.substr(colon + 1));
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5 ||
      std::stoul(port_text) > 65535)
    fail(ErrorKind::kUsage, "\"" + std::string(text) + "\": the port must be a number from 0 to 65535");
  return {host, static_cast<uint16_t>(std::stoul(port_text))};
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  asio::error_code ec;
  asio::ip::address ip = asio::ip::make_address(host, ec);
  return !ec && ip.is_loopback();
}

std::unique_ptr<Listener> tcp_listen(const HostPort& address) { return std::make_unique<TcpListener>(address); }

std::unique_ptr<Connection> tcp_connect(const HostPort& address) {
  auto io = std::make_shared<asio::io_context>();
  tcp::resolver resolver(*io);
  asio::error_code ec;
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port), ec);
  const std::string where = address.host + ":" + std::to_string(address.port);
  if (ec) fail(ErrorKind::kIo, "cannot connect to " + where + ": " + ec.message());
  tcp::socket socket(*io);
  asio::connect(socket, endpoints, ec);
  if (ec) fail(ErrorKind::kIo, "cannot connect to " + where + ": " + ec.message());
  return std::make_unique<TcpConnection>(io, std::move(socket));
}

}  // namespace genie::remote
