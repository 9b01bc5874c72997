#include "remote/client.h"

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

RemoteClient RemoteClient::connect(const std::string& host_port, const ClientOptions& options) {
  auto channel = std::make_unique<Channel>(tcp_connect(parse_host_port(host_port), options.tls, options.route_key), options.limits);
  RemoteClient client(std::move(channel));
  Hello hello;
  hello.token = options.token;
  hello.client = options.name;
  client.channel_->send(hello);
  client.welcome_ = client.expect<Welcome>("hello");
  return client;
}

UploadReport RemoteClient::ensure(std::string_view graph_json, std::string_view weights) {
  return ensure(graph_json, sha256(graph_json), weights, sha256(weights));
}

UploadReport RemoteClient::ensure(std::string_view graph_json, const Digest& graph_digest, std::string_view weights,
                                  const Digest& weights_digest) {
  UploadReport report;
  graph_ = graph_digest;
  weights_ = weights_digest;
  ensured_ = true;
  const uint64_t before = channel_->bytes_sent();
  channel_->send(Query{{{ContentKind::kGraph, graph_}, {ContentKind::kWeights, weights_}}});
  Have have = expect<Have>("query");
  if (have.present.size() != 2) fail(ErrorKind::kBadInput, "the server answered a query of 2 items with " +
                                                               std::to_string(have.present.size()) + " answers");
  if (!have.present[0]) {
    channel_->send(Put{ContentKind::kGraph, graph_, std::string(graph_json)});
    expect<Stored>("put graph");
    report.graph_sent = true;
  }
  if (!have.present[1]) {
    channel_->send(Put{ContentKind::kWeights, weights_, std::string(weights)});
    expect<Stored>("put weights");
    report.weights_sent = true;
  }
  report.bytes_sent = channel_->bytes_sent() - before;
  return report;
}

void RemoteClient::ping() {
  channel_->send(Query{});
  expect<Have>("ping");
}

Outputs RemoteClient::run(std::vector<TensorPayload> inputs) {
  if (!ensured_) fail(ErrorKind::kInternal, "RemoteClient::run before ensure");
  channel_->send(RunRequest{graph_, weights_, std::move(inputs)});
  return expect<Outputs>("run");
}

}  // namespace genie::remote
