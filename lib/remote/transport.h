// Byte streams between a client and genie-serve, behind the small interface the protocol
// needs, so that a transport other than TCP (RDMA through UCX) can be added beside it.
// TCP comes from standalone Asio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace genie::remote {

class Connection {
 public:
  virtual ~Connection() = default;
  // Throws Error(kIo) when the peer has gone.
  virtual void write_all(std::string_view bytes) = 0;
  // Up to `size` bytes; 0 when the peer closed the stream. Throws Error(kIo) on a reset.
  virtual size_t read_some(char* buffer, size_t size) = 0;
  // Stops reads (a blocked read returns 0) while writes still go out: how a server finishes
  // the request in flight and then lets the connection end.
  virtual void shutdown_read() = 0;
  // "127.0.0.1:52344", for logs.
  virtual std::string peer() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // The next client; nullptr once close() was called.
  virtual std::unique_ptr<Connection> accept() = 0;
  // Stops accept(), from any thread.
  virtual void close() = 0;
  // The address actually bound ("127.0.0.1:7070"; the port the system chose for port 0).
  virtual std::string address() const = 0;
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// "host:port", "[::1]:7070". Throws Error(kUsage) saying what is wrong.
HostPort parse_host_port(std::string_view text);
// Whether `host` names only this machine (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& host);

std::unique_ptr<Listener> tcp_listen(const HostPort& address);
// Throws Error(kIo) "cannot connect to HOST:PORT: <reason>".
std::unique_ptr<Connection> tcp_connect(const HostPort& address);

}  // namespace genie::remote
