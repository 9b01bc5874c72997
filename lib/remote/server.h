// genie-serve's engine: accepts clients, keeps graphs, weights and compiled executables by
// content digest within a byte budget (least recently used first out), and runs graphs on
// its device for any number of clients at once. A client that breaks the protocol, goes
// away or sends a graph that fails affects only its own connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "exec/executable.h"
#include "remote/messages.h"
#include "remote/transport.h"

namespace genie::remote {

struct ServerOptions {
  RunOptions run;                          // device and optimisations of every executable
  std::string token;                       // required in every hello when not empty
  uint64_t cache_bytes = uint64_t{8} << 30;  // graphs + weights kept, by content size
  Limits limits;                           // what a client may send
  bool allow_upload = false;               // false: only what cache_dir held at start runs
  // An uploaded graph's largest canonical JSON: its parse takes several times its size in
  // memory. Real graphs take 400-800 bytes a node (the test swin's 326 nodes: 130 KB);
  // weights have no such limit beyond the cache's.
  uint64_t max_graph_bytes = uint64_t{64} << 20;
  std::string cache_dir;                   // graphs (*.json) and their weights, loaded at start
  std::string name = "genie-serve 0.1.0";
  // A client that reached the server over loopback TCP (so is on this machine, in its network
  // namespace) is offered to move to shared memory: an abstract Unix socket with a random name
  // and a one-time ticket (protocol 1.3), which genie's clients take unless
  // GENIE_SHARED_MEMORY=0. A call then costs what it costs over `unix:` (genie-serve.md).
  bool same_host_memory = true;
  // How long a connection's thread polls for the client's next request before it sleeps
  // (Connection::set_poll_window): 100 µs after an idle spell, so that a client's requests in
  // a row (query, put, run) find it awake, and up to 2 ms while the client calls again
  // within that, so that a client calling in a loop costs no wake-up per call.
  PollWindow poll_window{std::chrono::microseconds(100), std::chrono::microseconds(2000)};
  // Clients connected at once (one thread each): a connection beyond is closed as it arrives.
  size_t max_connections = 1024;
  // Connections that have not said hello yet, at once: a new one beyond closes the oldest of
  // them. They do not count against max_connections, so that connections that never say
  // hello (anyone who reaches the port can open them) do not fill it. (Many hosts opening
  // them faster than a client says hello can still crowd a client out.)
  size_t max_waiting_for_hello = 64;
  // Of those, from one host (Connection::host(): address without port, or a Unix socket's user):
  // a new one beyond closes that host's oldest.
  size_t max_waiting_per_host = 8;
  // A connection that has not said hello by then is closed (one that opened and said nothing
  // would otherwise hold a thread for good). Before hello, a frame may be at most 64 KiB.
  std::chrono::milliseconds hello_timeout{10000};
  // After stop(), how long requests in flight may take to be answered; connections still open
  // then (a client that reads no answers) are cut.
  std::chrono::milliseconds stop_grace{20000};
};

// Counters the tests and the log read.
struct ServerStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> uploads{0};        // put messages stored
  std::atomic<uint64_t> runs{0};
  std::atomic<uint64_t> compiles{0};       // executables built
  std::atomic<uint64_t> protocol_errors{0};  // connections ended for breaking the protocol
  std::atomic<uint64_t> refused_connections{0};  // over max_connections, or no thread for them
  std::atomic<uint64_t> silent_connections{0};   // closed for saying no hello (in time, or at all)
  std::atomic<uint64_t> same_host_moves{0};      // clients that moved from TCP to shared memory
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  // Accepts and serves until stop(); then waits for the requests in flight to finish.
  void serve(Listener& listener);
  // From any thread (a signal thread): no new clients, no new requests; in-flight requests
  // finish and are answered (within options.stop_grace).
  void stop();
  const ServerStats& stats() const;
  // Why the server stopped by itself, or "": after a failed run on a CUDA device it checks
  // that the device still runs kernels. An error raised inside a kernel (a device-side assert:
  // an index out of range) is sticky, every later run in the process would fail, so it stops
  // for its supervisor to start a fresh process. Also when accepting connections failed.
  std::string failure() const;
  // Graphs and weights loaded from cache_dir at start.
  size_t preloaded() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace genie::remote
