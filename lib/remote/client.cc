#include "remote/client.h"

#include <algorithm>

#include "remote/content_hash.h"
#include "support/error.h"

namespace genie::remote {

template <typename T>
T RemoteClient::expect(const char* request) {
  std::optional<Message> reply = channel_->receive();
  if (!reply)
    fail(ErrorKind::kIo, "the server at " + channel_->connection().peer() + " closed the connection during " + request);
  if (auto* error = std::get_if<ErrorReply>(&*reply)) {
    auto kind = error->code <= static_cast<uint8_t>(ErrorKind::kInternal) ? static_cast<ErrorKind>(error->code)
                                                                          : ErrorKind::kRuntime;
    fail(kind, "server: " + error->text);
  }
  if (auto* ok = std::get_if<T>(&*reply)) return std::move(*ok);
  fail(ErrorKind::kBadInput, std::string("the server answered ") + request + " with a " +
                                 std::string(message_type_name(static_cast<uint8_t>(reply->index() + 1))) + " message");
}

RemoteClient RemoteClient::greet(std::unique_ptr<Connection> connection, const std::string& address,
                                 const ClientOptions& options, const Welcome* offer) {
  connection->set_poll_window(options.poll_window);
  auto channel = std::make_unique<Channel>(std::move(connection), options.limits);
  RemoteClient client(std::move(channel));
  Hello hello;
  hello.client = options.name;
  if (offer) {
    hello.ticket = offer->ticket;  // stands for the token, which goes nowhere but to the server
  } else {
    hello.token = options.token;
  }
  client.channel_->send(hello);
  client.welcome_ = client.expect<Welcome>("hello");
  if (offer && client.welcome_.proof != offer->proof)
    fail(ErrorKind::kIo, "what answers on " + offer->same_host + " is not the server that named it");
  if (client.welcome_.major != kProtocolMajor)
    fail(ErrorKind::kUnsupported, "the server at " + address + " speaks protocol " +
                                      std::to_string(client.welcome_.major) + "." + std::to_string(client.welcome_.minor) +
                                      ", this client " + std::to_string(kProtocolMajor) + ".x");
  if (client.welcome_.minor >= 2) client.channel_->set_tensor_layout(TensorLayout::kAligned);
  client.channel_->set_peer_limit(client.welcome_.max_frame_bytes);
  // A part's frame carries ~60 bytes besides the part.
  constexpr uint64_t kDefaultPart = uint64_t{64} << 20, kFrameOverhead = 4096;
  const uint64_t frame_room = client.welcome_.max_frame_bytes > kFrameOverhead ? client.welcome_.max_frame_bytes - kFrameOverhead : 1;
  client.part_bytes_ = std::min(options.part_bytes ? options.part_bytes : kDefaultPart, frame_room);
  return client;
}

RemoteClient RemoteClient::connect(const std::string& address, const ClientOptions& options) {
  RemoteClient client = greet(connect_to(address, options.tls, options.route_key), address, options, nullptr);
  // A server on this machine, reached over loopback TCP, offers an abstract socket where the
  // calls go through shared memory. Only its own kind of name is taken (a server names no file
  // for this client to open), only over loopback, and only from a server there that answers
  // with the proof the offer said: through a tunnel (ssh -L) the server sees loopback too,
  // but the name in this machine's namespace is nobody's, or anybody's.
  const Welcome offer = client.welcome_;
  if (offer.same_host.rfind("unix:@genie-serve.", 0) != 0 || offer.ticket.empty() || offer.proof.empty() ||
      !shared_memory_wanted() || !is_loopback(client.channel_->connection().host()))
    return client;
  try {
    // Named in errors as the address the user gave: the way the bytes go is the client's business.
    auto moved = unix_connect(offer.same_host.substr(5), std::chrono::seconds(2), true,
                              client.channel_->connection().peer());
    return greet(std::move(moved), address, options, &offer);
  } catch (const Error&) {  // what failed is only the faster way
  }
  // The TCP connection still serves, unless the server took the ticket (which ends it) and
  // the move failed after: then a new one, which stays.
  try {
    client.ping();
    return client;
  } catch (const Error&) {
    return greet(connect_to(address, options.tls, options.route_key), address, options, nullptr);
  }
}

UploadReport RemoteClient::ensure(std::shared_ptr<const std::string> graph_json,
                                  std::shared_ptr<const std::string> weights) {
  const Digest graph_digest = sha256(*graph_json), weights_digest = sha256(*weights);
  return ensure(std::move(graph_json), graph_digest, std::move(weights), weights_digest);
}

UploadReport RemoteClient::ensure(std::shared_ptr<const std::string> graph_json, const Digest& graph_digest,
                                  std::shared_ptr<const std::string> weights, const Digest& weights_digest) {
  UploadReport report;
  graph_ = graph_digest;
  weights_ = weights_digest;
  graph_json_ = std::move(graph_json);
  weights_bytes_ = std::move(weights);
  ensured_ = true;
  const uint64_t before = channel_->bytes_sent();
  channel_->send(Query{{{ContentKind::kGraph, graph_}, {ContentKind::kWeights, weights_}}});
  Have have = expect<Have>("query");
  if (have.present.size() != 2) fail(ErrorKind::kBadInput, "the server answered a query of 2 items with " +
                                                               std::to_string(have.present.size()) + " answers");
  if (!have.present[0]) {
    upload(ContentKind::kGraph, graph_, *graph_json_, "put graph");
    report.graph_sent = true;
  }
  if (!have.present[1]) {
    upload(ContentKind::kWeights, weights_, *weights_bytes_, "put weights");
    report.weights_sent = true;
  }
  report.bytes_sent = channel_->bytes_sent() - before;
  return report;
}

void RemoteClient::upload(ContentKind kind, const Digest& digest, std::string_view content, const char* what) {
  if (content.size() <= part_bytes_ || welcome_.minor < 1) {  // a 1.0 server takes content whole
    channel_->send(Put{kind, digest, std::string(content)});
    expect<Stored>(what);
    return;
  }
  for (uint64_t offset = 0; offset < content.size();) {
    const uint64_t n = std::min<uint64_t>(part_bytes_, content.size() - offset);
    channel_->send(PutPart{kind, digest, content.size(), offset, std::string(content.substr(offset, n))});
    offset += n;
    if (offset == content.size()) {
      expect<Stored>(what);
    } else if (expect<Received>(what).next_offset != offset) {
      fail(ErrorKind::kBadInput, std::string("the server lost track of ") + what + " at offset " + std::to_string(offset));
    }
  }
}

void RemoteClient::ping() {
  channel_->send(Query{});
  expect<Have>("ping");
}

namespace {

// The server's answer to a run whose graph or weights it no longer holds (kNotHeld, messages.h).
bool not_held(const Error& e) {
  return e.kind() == ErrorKind::kUsage && std::string_view(e.what()).find(kNotHeld) != std::string_view::npos;
}

}  // namespace

Outputs RemoteClient::run(std::vector<TensorPayload> inputs) {
  if (!ensured_) fail(ErrorKind::kInternal, "RemoteClient::run before ensure");
  const Message request = RunRequest{graph_, weights_, std::move(inputs)};
  channel_->send(request);
  try {
    return expect<Outputs>("run");
  } catch (const Error& e) {
    // Another client's uploads may have pushed ours out of the server's cache since ensure().
    if (!not_held(e)) throw;
  }
  ensure(graph_json_, graph_, weights_bytes_, weights_);
  channel_->send(request);
  try {
    return expect<Outputs>("run");
  } catch (const Error& e) {
    if (!not_held(e)) throw;
    fail(ErrorKind::kUsage, "the server at " + channel_->connection().peer() +
                                " let this graph or its weights go again before it could run: together they may exceed "
                                "what its cache (--cache-bytes) leaves them, or other clients' uploads keep pushing them "
                                "out (" + std::string(e.what()) + ")");
  }
}

}  // namespace genie::remote
