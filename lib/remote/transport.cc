// Addresses as users write them, to the transport that serves each form.
#include "remote/transport.h"

#include "support/error.h"

namespace genie::remote {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

std::string unix_path(std::string_view address) { return std::string(address.substr(kUnixPrefix.size())); }

void refuse_tls_over_unix(std::string_view address) {
  fail(ErrorKind::kUsage, std::string(address) +
                              ": TLS is for TCP; a Unix-domain socket is reached only on this machine, and the "
                              "socket file's permissions say who may connect");
}

}  // namespace

bool is_unix_address(std::string_view address) { return address.substr(0, kUnixPrefix.size()) == kUnixPrefix; }

void check_address(std::string_view address) {
  if (is_unix_address(address)) {
    if (address.size() == kUnixPrefix.size())
      fail(ErrorKind::kUsage, "\"unix:\" needs a path (e.g. unix:/run/genie/serve.sock)");
    return;
  }
  parse_host_port(address);
}

std::unique_ptr<Listener> listen_at(std::string_view address, const TlsServerConfig& tls) {
  if (!is_unix_address(address)) return tcp_listen(parse_host_port(address), tls);
  if (tls.enabled()) refuse_tls_over_unix(address);
  return unix_listen(unix_path(address));
}

std::unique_ptr<Connection> connect_to(std::string_view address, const TlsClientConfig& tls, std::string_view route_key) {
  if (!is_unix_address(address)) return tcp_connect(parse_host_port(address), tls, route_key);
  if (tls.enabled()) refuse_tls_over_unix(address);
  return unix_connect(unix_path(address));
}

}  // namespace genie::remote
