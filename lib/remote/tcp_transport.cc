// TCP, plain or TLS, with standalone Asio, blocking: one thread per connection on the server
// keeps every request's code straight-line, and a slow or hostile client holds only its own
// thread.
#include <algorithm>
#include <atomic>

#include "remote/content_hash.h"
#include "remote/stream_connection.h"
#include "remote/transport.h"
#include "support/error.h"

namespace genie::remote {
namespace {

using asio::ip::tcp;
using detail::StreamConnection;
using detail::TlsStream;

std::string endpoint_text(const tcp::endpoint& e) {
  std::string host = e.address().to_string();
  if (e.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(e.port());
}

// A connected socket as a Connection: no Nagle delay (requests and answers are whole
// messages, written at once) and the peer's address for logs.
template <typename Stream>
std::unique_ptr<Connection> tcp_connection(std::shared_ptr<asio::io_context> io, std::shared_ptr<asio::ssl::context> tls,
                                           Stream stream, bool handshake_pending) {
  asio::error_code ec;
  detail::socket_of(stream).set_option(tcp::no_delay(true), ec);
  std::string peer = endpoint_text(detail::socket_of(stream).remote_endpoint(ec));
  std::string host = peer.substr(0, peer.rfind(':'));
  return std::make_unique<StreamConnection<Stream>>(std::move(io), std::move(tls), std::move(stream), handshake_pending,
                                                    std::move(peer), std::move(host));
}

void load_tls_file(const std::string& what, const std::string& path, const std::function<void(asio::error_code&)>& load) {
  asio::error_code ec;
  load(ec);
  if (ec) fail(ErrorKind::kUsage, "cannot load the TLS " + what + " " + path + ": " + ec.message());
}

std::shared_ptr<asio::ssl::context> server_tls_context(const TlsServerConfig& tls) {
  if (tls.key_file.empty()) fail(ErrorKind::kUsage, "--tls-cert needs --tls-key");
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  load_tls_file("certificate", tls.cert_file, [&](auto& ec) { ctx->use_certificate_chain_file(tls.cert_file, ec); });
  load_tls_file("key", tls.key_file, [&](auto& ec) { ctx->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec); });
  if (!tls.client_ca_file.empty()) {
    load_tls_file("client CA", tls.client_ca_file, [&](auto& ec) { ctx->load_verify_file(tls.client_ca_file, ec); });
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

class TcpListener final : public Listener {
 public:
  TcpListener(const HostPort& address, const TlsServerConfig& tls)
      : io_(std::make_shared<asio::io_context>()), acceptor_(*io_) {
    if (tls.enabled()) tls_ = server_tls_context(tls);
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
    tcp::socket socket(*io_);
    if (!detail::accept_next(acceptor_, socket, closed_)) return nullptr;
    if (tls_) return tcp_connection(io_, tls_, TlsStream(std::move(socket), *tls_), true);
    return tcp_connection(io_, nullptr, std::move(socket), false);
  }

  void close() override { detail::stop_accepting(acceptor_, closed_); }

  std::string address() const override { return address_; }

 private:
  std::shared_ptr<asio::io_context> io_;
  std::shared_ptr<asio::ssl::context> tls_;
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
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';  // as Connection::host() writes IPv6
  asio::error_code ec;
  asio::ip::address ip = asio::ip::make_address(bracketed ? host.substr(1, host.size() - 2) : host, ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped())  // an IPv4 client of a dual-stack socket
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6()).is_loopback();
  return ip.is_loopback();
}

std::unique_ptr<Listener> tcp_listen(const HostPort& address, const TlsServerConfig& tls) {
  return std::make_unique<TcpListener>(address, tls);
}

std::vector<std::string> rendezvous_order(std::string_view key, std::vector<std::string> servers) {
  std::vector<std::pair<Digest, std::string>> scored;
  for (std::string& server : servers) {
    Sha256 h;
    h.update(key);
    h.update(std::string_view("\0", 1));
    h.update(server);
    scored.emplace_back(h.finish(), std::move(server));
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> order;
  for (auto& [score, server] : scored) order.push_back(std::move(server));
  return order;
}

std::unique_ptr<Connection> tcp_connect(const HostPort& address, const TlsClientConfig& tls, std::string_view route_key) {
  auto io = std::make_shared<asio::io_context>();
  const std::string where = address.host + ":" + std::to_string(address.port);
  std::shared_ptr<asio::ssl::context> ctx;
  if (tls.enabled()) {
    ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    load_tls_file("CA", tls.ca_file, [&](auto& ec) { ctx->load_verify_file(tls.ca_file, ec); });
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (!tls.cert_file.empty()) {
      load_tls_file("certificate", tls.cert_file, [&](auto& ec) { ctx->use_certificate_chain_file(tls.cert_file, ec); });
      load_tls_file("key", tls.key_file,
                    [&](auto& ec) { ctx->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec); });
    }
  }
  tcp::resolver resolver(*io);
  asio::error_code ec;
  auto resolved = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec) fail(ErrorKind::kIo, "cannot connect to " + where + ": " + ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : resolved)
    if (std::find(endpoints.begin(), endpoints.end(), entry.endpoint()) == endpoints.end())
      endpoints.push_back(entry.endpoint());
  if (!route_key.empty() && endpoints.size() > 1) {
    std::vector<std::string> names;
    for (const auto& e : endpoints) names.push_back(endpoint_text(e));
    std::vector<std::string> order = rendezvous_order(route_key, names);
    std::vector<tcp::endpoint> ordered;
    for (const std::string& name : order)
      ordered.push_back(endpoints[std::find(names.begin(), names.end(), name) - names.begin()]);
    endpoints = std::move(ordered);
  }
  tcp::socket socket(*io);
  asio::connect(socket, endpoints, ec);
  if (ec) fail(ErrorKind::kIo, "cannot connect to " + where + ": " + ec.message());
  if (!ctx) return tcp_connection(io, nullptr, std::move(socket), false);

  TlsStream stream(std::move(socket), *ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification(address.host));
  asio::error_code ip_ec;
  asio::ip::make_address(address.host, ip_ec);
  if (ip_ec) SSL_set_tlsext_host_name(stream.native_handle(), address.host.c_str());  // SNI for names, not IPs
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) fail(ErrorKind::kIo, "TLS handshake with " + where + " failed: " + ec.message());
  return tcp_connection(io, ctx, std::move(stream), false);
}

}  // namespace genie::remote
