// Addresses as users write them, to the transport that serves each form.
#include "remote/transport.h"

#include <sys/un.h>

#include "support/error.h"

namespace genie::remote {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

// The longest path sockaddr_un holds, its terminating NUL aside.
constexpr size_t kMaxUnixPath = sizeof(sockaddr_un{}.sun_path) - 1;

std::string unix_path(std::string_view address) { return std::string(address.substr(kUnixPrefix.size())); }

}  // namespace

bool is_unix_address(std::string_view address) { return address.substr(0, kUnixPrefix.size()) == kUnixPrefix; }

void check_address(std::string_view address, bool tls) {
  if (!is_unix_address(address)) {
    parse_host_port(address);
    return;
  }
  const std::string path = unix_path(address);
  if (path.empty()) fail(ErrorKind::kUsage, "\"unix:\" needs a path (e.g. unix:/run/genie/serve.sock)");
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

std::unique_ptr<Connection> connect_to(std::string_view address, const TlsClientConfig& tls, std::string_view route_key) {
  check_address(address, tls.enabled());
  if (!is_unix_address(address)) return tcp_connect(parse_host_port(address), tls, route_key);
  return unix_connect(unix_path(address));
}

}  // namespace genie::remote
