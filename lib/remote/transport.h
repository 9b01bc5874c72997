// Byte streams between a client and genie-serve, behind the small interface the protocol
// needs, so that a transport other than these (RDMA through UCX) can be added beside them.
// TCP, plain or TLS (OpenSSL), and Unix-domain sockets come from standalone Asio.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "remote/poll_window.h"

namespace genie::remote {

class Connection {
 public:
  virtual ~Connection() = default;
  // Writes the pieces in order, as one stream of bytes (a gather write: they need not be
  // joined first). Throws Error(kIo) when the peer has gone.
  virtual void write_all(const std::vector<std::string_view>& pieces) = 0;
  void write_all(std::string_view bytes) { write_all(std::vector<std::string_view>{bytes}); }
  // Up to `size` bytes; 0 when the peer closed the stream. Throws Error(kIo) on a reset.
  virtual size_t read_some(char* buffer, size_t size) = 0;
  // How long a read that finds nothing waits by polling before it blocks. Blocking costs a
  // sleep and a wake-up on each side of a request, 30-250 µs on a virtual machine whose other
  // CPU is idle; polling while an answer is due costs that much CPU instead.
  virtual void set_poll_window(PollWindow window) = 0;
  // The window as it is now (it learns from the waits for the start of a message).
  virtual PollWindow poll_window() const = 0;
  // The next read waits for the start of a message: its wait is the gap between the peer's
  // messages, which the poll window learns from. Reads inside a message wait for the rest of
  // it, as fast as the network brings it, and teach the window nothing.
  virtual void next_read_starts_message() {}
  // Stops reads (a blocked read returns 0) while writes still go out: how a server finishes
  // the request in flight and then lets the connection end.
  virtual void shutdown_read() = 0;
  // Ends the stream both ways: a blocked read returns 0 and a blocked write fails. How a
  // server stops waiting on a client that reads no answers.
  virtual void shutdown_both() = 0;
  // "127.0.0.1:52344", "unix:pid=4242,uid=1000": for logs.
  virtual std::string peer() const = 0;
  // Who is on the other end, for limits that apply per client machine or user: the peer's
  // address without its port ("127.0.0.1"); over a Unix socket, its user ("unix:uid=1000").
  virtual std::string host() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // The next client; nullptr once close() was called.
  virtual std::unique_ptr<Connection> accept() = 0;
  // Stops accept(), from any thread.
  virtual void close() = 0;
  // The address actually bound, as connect_to takes it ("127.0.0.1:7070", with the port the
  // system chose for port 0; "unix:/run/genie/serve.sock").
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

// TLS for a listener: its certificate chain and key (PEM); with a client CA, clients must
// present a certificate it signed (mutual TLS). No certificate: plain TCP.
struct TlsServerConfig {
  std::string cert_file, key_file, client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};
// TLS for a client: the CA that signed the server's certificate (the server's name or IP is
// verified against it); a certificate and key when the server asks for one.
struct TlsClientConfig {
  std::string ca_file, cert_file, key_file;
  bool enabled() const { return !ca_file.empty(); }
};

// Throws Error(kIo) when the address cannot be bound, Error(kUsage) for TLS files that
// cannot be loaded. With TLS, the handshake happens on the connection's first read or
// write, in the thread that serves it, so a slow client cannot stall accept().
std::unique_ptr<Listener> tcp_listen(const HostPort& address, const TlsServerConfig& tls = {});
// Connects (and with TLS, completes the handshake). Throws Error(kIo) "cannot connect to
// HOST:PORT: <reason>" or "TLS handshake with HOST:PORT failed: <reason>". When HOST names
// several servers (a pool behind one DNS name) and `route_key` is given, they are tried in
// rendezvous_order for that key: every client sends the same graph to the same server, where
// it stays resident, and to the next one if that server is down.
std::unique_ptr<Connection> tcp_connect(const HostPort& address, const TlsClientConfig& tls = {},
                                        std::string_view route_key = {});

// A Unix-domain socket: for a client on the server's machine. No TCP/IP stack between the
// two ends (a call's two crossings cost less than over loopback TCP), and who may connect is
// who may write the socket file. A listener holds a lock on PATH.lock (left in place) for its
// life, so two servers never share a path; it replaces a socket file no server answers on
// (one left by a killed server), refuses a path that is not a socket or that a server
// answers on, and removes its socket file when it goes. Errors as tcp_listen and tcp_connect.
// A PATH that starts with '@' names a socket in the abstract namespace instead ("@genie"): no
// file, so no lock, nothing to replace or remove, and anyone in the server's network namespace
// may connect, as to a port on loopback; bind fails while a server holds the name.
std::unique_ptr<Listener> unix_listen(const std::string& path);
// A connect waits for room in a server's queue of clients to accept at most `wait` (a Unix
// socket's connect would wait without end). With `shared_memory`, the client makes memory and
// offers it to the server with its first bytes, and the bytes of each call then go through
// it, not through the kernel (a listener serves clients that offer and clients that do not);
// without it, a plain stream. `shown_as` names the server in the connection's errors and logs
// ("unix:PATH" when empty).
std::unique_ptr<Connection> unix_connect(const std::string& path, std::chrono::seconds wait = std::chrono::seconds(10),
                                         bool shared_memory = true, const std::string& shown_as = "");

// Whether genie's clients use shared memory with a server on their machine: yes unless
// GENIE_SHARED_MEMORY=0 (a plain stream, for a server that is not genie-serve, or to watch
// the bytes with strace).
bool shared_memory_wanted();

// Addresses as users write them: "HOST:PORT" (TCP) or "unix:PATH".
bool is_unix_address(std::string_view address);
// Throws Error(kUsage) saying what is wrong with a malformed address, or with TLS asked for
// over a Unix socket; reaches for nothing.
void check_address(std::string_view address, bool tls = false);
// tcp_listen or unix_listen by the address's form; TLS only over TCP (Error(kUsage)).
std::unique_ptr<Listener> listen_at(std::string_view address, const TlsServerConfig& tls = {});
// tcp_connect or unix_connect by the address's form; TLS only over TCP (Error(kUsage)).
// Over a Unix socket, with shared memory when shared_memory_wanted().
std::unique_ptr<Connection> connect_to(std::string_view address, const TlsClientConfig& tls = {},
                                       std::string_view route_key = {});

// One listener over several (a server on a TCP port for other machines and on a Unix socket
// for its own): accept() returns the next client of any, close() closes all, address() names
// each ("127.0.0.1:7070 and unix:/run/genie/serve.sock"). When one of them fails, accept()
// throws its error and the others are closed. One listener is returned as it is.
std::unique_ptr<Listener> listen_all(std::vector<std::unique_ptr<Listener>> listeners);

// Highest-random-weight (rendezvous) hashing: `servers` ordered by SHA-256(key, server),
// highest first. Removing a server moves only the keys it held; adding one takes about 1/n.
std::vector<std::string> rendezvous_order(std::string_view key, std::vector<std::string> servers);

}  // namespace genie::remote
