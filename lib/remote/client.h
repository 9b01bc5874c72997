// The client side of a genie-serve session: connect and say hello, make sure the server
// holds a graph and its weights (uploading only what it lacks), run. No LibTorch: tensors
// travel as TensorPayload, and genie-run converts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "remote/channel.h"
#include "remote/messages.h"
#include "remote/transport.h"

namespace genie::remote {

struct ClientOptions {
  std::string token;                 // "" when the server needs none
  std::string name = "genie-client";  // for the server's log
  Limits limits;                     // what this client accepts from the server
  TlsClientConfig tls;               // plain TCP unless a CA is given
  // When HOST names a pool of servers: the key that picks one (rendezvous hashing), e.g. the
  // graph's digest, so a graph is always sent to the server that already holds it.
  std::string route_key;
  // Content larger than this goes in parts of this size (protocol 1.1); 0: the largest the
  // server's frame limit allows, at most 64 MiB.
  uint64_t part_bytes = 0;
  // How long a wait for the server's answer polls before it sleeps (Connection::
  // set_poll_window): an answer within it costs no wake-up. Polling spends this client's CPU
  // time, which a client waiting for its answer has no other use for.
  PollWindow poll_window{std::chrono::microseconds(2000)};
};

// What ensure() had to send.
struct UploadReport {
  bool graph_sent = false;
  bool weights_sent = false;
  uint64_t bytes_sent = 0;  // frames included
};

class RemoteClient {
 public:
  // Connects and exchanges hello/welcome. When the server is on this machine, reached over
  // loopback TCP, and offers shared memory (protocol 1.3), moves there unless
  // GENIE_SHARED_MEMORY=0; if that fails, stays on TCP. Throws Error(kIo) if the server cannot be reached,
  // Error(kUsage) if it refuses the token, Error(kUnsupported) for a protocol version it
  // does not speak.
  static RemoteClient connect(const std::string& address, const ClientOptions& options);  // HOST:PORT or unix:PATH

  const Welcome& welcome() const { return welcome_; }

  // `graph_json` must be in canonical form (graph_to_json of the graph); digests are
  // computed here. Sends what the server lacks. The client keeps both (shared, not copied):
  // run() sends them again if the server let them go in the meantime (its cache is shared
  // by every client, within a budget).
  UploadReport ensure(std::shared_ptr<const std::string> graph_json, std::shared_ptr<const std::string> weights);
  // The same with the digests already known (large weights are hashed once, not per call).
  UploadReport ensure(std::shared_ptr<const std::string> graph_json, const Digest& graph_digest,
                      std::shared_ptr<const std::string> weights, const Digest& weights_digest);

  // Runs the graph and weights of the last ensure() on `inputs`; if the server no longer
  // holds them, sends them again and runs once more. Throws Error with the server's kind and
  // text when the run fails there; Error(kIo) when the server goes away; Error(kUsage),
  // before sending, when the inputs exceed the frame the server takes.
  Outputs run(std::vector<TensorPayload> inputs);

  // One round trip that does no work (a query of nothing): a health check, and the
  // protocol's own latency.
  void ping();

  uint64_t bytes_sent() const { return channel_->bytes_sent(); }
  uint64_t bytes_received() const { return channel_->bytes_received(); }

 private:
  explicit RemoteClient(std::unique_ptr<Channel> channel) : channel_(std::move(channel)) {}
  // Hello and welcome on a new connection; with `offer`, on the same-host socket it named: its
  // ticket instead of the token, and its proof checked in the answer.
  static RemoteClient greet(std::unique_ptr<Connection> connection, const std::string& address,
                            const ClientOptions& options, const Welcome* offer);
  // Sends content whole, or in parts when it is larger than part_bytes_ and the server
  // speaks 1.1; returns when the server has stored it.
  void upload(ContentKind kind, const Digest& digest, std::string_view content, const char* what);
  // The reply to a request: the expected message, or the server's error as an exception.
  template <typename T>
  T expect(const char* request);

  std::unique_ptr<Channel> channel_;
  Welcome welcome_;
  Digest graph_{}, weights_{};
  std::shared_ptr<const std::string> graph_json_, weights_bytes_;  // of the last ensure(), for a second upload
  bool ensured_ = false;
  uint64_t part_bytes_ = 0;
};

}  // namespace genie::remote
