#include "remote/server.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/ones.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/random.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "exec/aten_types.h"
#include "graph/json_codec.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "remote/channel.h"
#include "remote/content_hash.h"
#include "remote/operator_policy.h"
#include "remote/tensor_payload.h"
#include "support/error.h"
#include "support/files.h"

namespace genie::remote {
namespace {

using Clock = std::chrono::steady_clock;
using ContentKey = std::pair<ContentKind, Digest>;

// Kept content: a graph (parsed once) or a weights file's bytes.
struct Content {
  std::shared_ptr<const Graph> graph;
  std::shared_ptr<const std::string> bytes;  // weights; for graphs, the JSON (its size counts)
  uint64_t last_use = 0;
  bool pinned = false;  // placed by the operator in the cache directory: never evicted
};

// An executable and the lock that serialises its runs (a plan reuses its buffers).
struct Compiled {
  std::mutex mutex;
  std::unique_ptr<Executable> executable;
};

bool same_secret(const std::string& a, const std::string& b) {
  // Constant time in the length of the longer: how much of a token matched is not observable.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// `bytes` random bytes from the kernel as hex, or "" when it has none to give.
std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (::getrandom(raw.data(), bytes, 0) != static_cast<ssize_t>(bytes)) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

const char* kind_name(ContentKind kind) { return kind == ContentKind::kGraph ? "graph" : "weights"; }

// An error for the client, its text cut to what a client's decoder takes (a clear error
// must not become a protocol error because a name in it was long).
ErrorReply error_reply(ErrorKind kind, std::string text) {
  const size_t max = Limits{}.max_string_bytes;
  if (text.size() > max) {
    text.resize(max - 3);
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();  // a cut character
    text += "...";
  }
  return ErrorReply{static_cast<uint8_t>(kind), std::move(text)};
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  ServerStats stats;

  std::mutex mutex;  // guards everything below
  std::map<ContentKey, Content> content;
  std::map<std::pair<Digest, Digest>, std::shared_ptr<Compiled>> compiled;
  uint64_t tick = 0;
  uint64_t content_bytes = 0;
  uint64_t pinned_bytes = 0;  // of content_bytes: from the cache directory, never evicted
  size_t preloaded = 0;

  std::atomic<bool> stopping{false};
  std::atomic<Listener*> listener{nullptr};
  struct OpenConnection {
    Connection* connection;
    Clock::time_point opened;
    std::string host;  // Connection::host(): the peer's address without its port, or its user
    bool greeted = false;
    bool cut = false;  // closed for waiting too long, or to make room, before its hello
  };
  std::mutex connections_mutex;  // guards open_connections
  std::condition_variable connections_changed;
  std::map<uint64_t, OpenConnection> open_connections;
  std::mutex failure_mutex;
  std::string failure;  // why the server stopped by itself

  // Clients on this machine over TCP (ServerOptions::same_host_memory): the abstract socket
  // that takes them back, and the tickets given for it, each good for one hello.
  std::mutex listeners_mutex;  // between stop() and serve() taking a listener down
  Listener* same_host_listener = nullptr;  // under listeners_mutex
  std::string same_host_address;  // set before the first client is served
  std::atomic<bool> same_host_open{false};  // offers are made
  std::mutex tickets_mutex;
  struct Ticket {
    Clock::time_point given;
    uint64_t connection;  // the TCP connection it was given on, which its use ends
    std::string proof;    // what the server answers it with
  };
  // By the SHA-256 of the ticket: a lookup's time then tells nothing about how much of a
  // guessed ticket matched one that was given.
  std::map<Digest, Ticket> tickets;
  static constexpr auto kTicketLife = std::chrono::seconds(10);
  static constexpr size_t kMaxTickets = 4096;

  // A client must not read what another client's tensors left in memory.
  explicit Impl(ServerOptions o) : options(std::move(o)) { options.run.zero_uninitialized = true; }

  // One line: control characters a client put into a name or text are written escaped, so
  // that a client cannot forge lines of the log.
  void log(const std::string& line) {
    std::string clean;
    clean.reserve(line.size());
    for (unsigned char c : line) {
      if (c >= 0x20 && c != 0x7f) {
        clean.push_back(static_cast<char>(c));
      } else {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
        clean += escaped;
      }
    }
    std::fprintf(stderr, "genie-serve: %s\n", clean.c_str());
  }

  // A ticket for one hello on the same-host socket and the proof that answers it, given on
  // TCP connection `connection` (one per connection: the caller asks once), or empty when
  // the system has no randomness to give (then no offer is made). Tickets not used within
  // kTicketLife are forgotten, as are the oldest beyond kMaxTickets, and a connection's own
  // when it ends.
  std::pair<std::string, std::string> give_ticket(uint64_t connection) {
    std::string ticket = random_hex(16), proof = random_hex(16);
    if (ticket.empty() || proof.empty()) return {};
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(tickets_mutex);
    for (auto it = tickets.begin(); it != tickets.end();)
      it = now - it->second.given >= kTicketLife ? tickets.erase(it) : std::next(it);
    if (tickets.size() >= kMaxTickets)
      tickets.erase(std::min_element(tickets.begin(), tickets.end(),
                                     [](const auto& a, const auto& b) { return a.second.given < b.second.given; }));
    tickets[sha256(ticket)] = {now, connection, proof};
    return {ticket, proof};
  }

  // Whether `ticket` was given, is still good and its connection still open.
  bool ticket_good(const std::string& ticket) {
    std::lock_guard<std::mutex> lock(tickets_mutex);
    auto it = tickets.find(sha256(ticket));
    return it != tickets.end() && Clock::now() - it->second.given < kTicketLife;
  }

  // Uses `ticket` up (it is good once) and returns its proof, or nullopt when it is not good.
  // Its TCP connection is ended (the client leaves it), so that a client that moved holds one
  // place under max_connections: the same-host socket admits before it knows who comes
  // (admit), and a ticket lives no longer than its connection (drop_tickets).
  std::optional<std::string> take_ticket(const std::string& ticket) {
    std::optional<Ticket> taken;
    {
      std::lock_guard<std::mutex> lock(tickets_mutex);
      auto it = tickets.find(sha256(ticket));
      if (it == tickets.end()) return std::nullopt;
      if (Clock::now() - it->second.given < kTicketLife) taken = it->second;
      tickets.erase(it);
    }
    if (!taken) return std::nullopt;
    std::lock_guard<std::mutex> lock(connections_mutex);
    if (auto it = open_connections.find(taken->connection); it != open_connections.end())
      it->second.connection->shutdown_read();
    return taken->proof;
  }

  // Connection `connection` ended: tickets given on it are no good.
  void drop_tickets(uint64_t connection) {
    std::lock_guard<std::mutex> lock(tickets_mutex);
    for (auto it = tickets.begin(); it != tickets.end();)
      it = it->second.connection == connection ? tickets.erase(it) : std::next(it);
  }

  // Server::stop().
  void stop_server() {
    stopping = true;
    {
      std::lock_guard<std::mutex> lock(listeners_mutex);
      if (Listener* l = listener.load()) l->close();
      if (same_host_listener) same_host_listener->close();
    }
    std::lock_guard<std::mutex> lock(connections_mutex);
    for (auto& [id, open] : open_connections) open.connection->shutdown_read();
    connections_changed.notify_all();
  }

  // Whether the device still runs kernels (Server::failure).
  bool device_usable() {
    if (!options.run.device.is_cuda()) return true;
    try {
      at::ones({1}, at::TensorOptions().device(options.run.device)).sum().item<float>();
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  // Closes connections that said no hello within options.hello_timeout, until stopping.
  void close_silent_connections() {
    const auto period = std::clamp(options.hello_timeout / 4, std::chrono::milliseconds(10),
                                   std::chrono::milliseconds(1000));
    std::unique_lock<std::mutex> lock(connections_mutex);
    while (!stopping) {
      connections_changed.wait_for(lock, period);
      const Clock::time_point now = Clock::now();
      for (auto& [id, open] : open_connections)
        if (!open.greeted && !open.cut && now - open.opened >= options.hello_timeout)
          cut_locked(open, "no hello within " + std::to_string(options.hello_timeout.count()) + " ms");
    }
  }

  // Under `connections_mutex`: closes a connection that has not said hello.
  void cut_locked(OpenConnection& open, const std::string& why) {
    open.cut = true;
    open.connection->shutdown_read();
    ++stats.silent_connections;
    log(open.connection->peer() + " closed: " + why);
  }

  // Registers a new connection under `id`, or returns false when --max-connections clients
  // are connected. Connections waiting for their hello make room for it: a host's among
  // themselves first, so that one address opening connections in a loop cuts its own, not
  // other hosts' clients.
  // A connection to the same-host socket is not refused for max_connections here: the client
  // it is for holds a place already, which it gives up when its ticket is taken.
  bool admit(uint64_t id, Connection& connection, bool same_host) {
    std::lock_guard<std::mutex> lock(connections_mutex);
    const std::string host = connection.host();
    const auto none = open_connections.end();
    size_t greeted = 0, waiting = 0, waiting_here = 0;
    auto oldest = none, oldest_here = none;
    for (auto it = open_connections.begin(); it != none; ++it) {
      const OpenConnection& open = it->second;
      if (open.greeted) ++greeted;
      if (open.greeted || open.cut) continue;  // a cut one is on its way out
      ++waiting;
      if (oldest == none || open.opened < oldest->second.opened) oldest = it;
      if (open.host != host) continue;
      ++waiting_here;
      if (oldest_here == none || open.opened < oldest_here->second.opened) oldest_here = it;
    }
    if (greeted >= options.max_connections && !same_host) {
      ++stats.refused_connections;
      log(connection.peer() + " refused: " + std::to_string(greeted) + " clients are connected (--max-connections)");
      return false;
    }
    auto victim = waiting_here >= options.max_waiting_per_host ? oldest_here
                  : waiting >= options.max_waiting_for_hello   ? oldest
                                                               : none;
    if (victim != none) cut_locked(victim->second, "too many connections are waiting to say hello");
    open_connections[id] = {&connection, Clock::now(), host};
    if (stopping) connection.shutdown_read();
    return true;
  }

  // Under `mutex`. Drops least recently used, unpinned content other than `spare` until the
  // budget holds. What was just stored is spared: the client's next request is for it.
  void evict_locked(const ContentKey& spare) {
    while (content_bytes > options.cache_bytes) {
      auto victim = content.end();
      for (auto it = content.begin(); it != content.end(); ++it)
        if (!it->second.pinned && it->first != spare &&
            (victim == content.end() || it->second.last_use < victim->second.last_use))
          victim = it;
      if (victim == content.end()) return;  // all pinned, or only what is spared is left
      const ContentKey key = victim->first;
      content_bytes -= victim->second.bytes->size();
      content.erase(victim);
      for (auto it = compiled.begin(); it != compiled.end();)
        it = (key.first == ContentKind::kGraph ? it->first.first : it->first.second) == key.second ? compiled.erase(it)
                                                                                                  : std::next(it);
      log("evicted " + std::string(kind_name(key.first)) + " " + digest_short(key.second) + " (cache over " +
          std::to_string(options.cache_bytes) + " bytes)");
    }
  }

  void store(ContentKind kind, const Digest& digest, Content entry) {
    std::lock_guard<std::mutex> lock(mutex);
    if (content.count({kind, digest})) return;
    entry.last_use = ++tick;
    content_bytes += entry.bytes->size();
    if (entry.pinned) pinned_bytes += entry.bytes->size();
    content.emplace(ContentKey{kind, digest}, std::move(entry));
    evict_locked({kind, digest});
  }

  // Parses and checks content before it is kept: a graph must validate, weights must be a
  // safetensors file.
  Content admit(ContentKind kind, std::string bytes) {
    Content entry;
    auto shared = std::make_shared<const std::string>(std::move(bytes));
    if (kind == ContentKind::kGraph) {
      entry.graph = std::make_shared<const Graph>(graph_from_json(*shared, "graph"));
      for (const Node& node : entry.graph->nodes) {
        const std::string why = operator_refusal(node.op);
        if (!why.empty()) fail(ErrorKind::kUnsupported, "graph: genie-serve does not run operator " + node.op + ": " + why);
      }
    } else {
      SafetensorsFile::from_shared_bytes(shared, "weights");  // throws if it is not one
    }
    entry.bytes = std::move(shared);
    return entry;
  }

  void preload() {
    if (options.cache_dir.empty()) return;
    std::error_code ec;
    for (const auto& file : std::filesystem::directory_iterator(options.cache_dir, ec)) {
      if (file.path().extension() != ".json") continue;
      const std::string path = file.path().string();
      Graph graph = graph_read(path);
      std::string canonical = graph_to_json(graph);
      std::string weights = read_file(weights_path_beside(path));
      Content g = admit(ContentKind::kGraph, canonical);
      Content w = admit(ContentKind::kWeights, weights);
      g.pinned = w.pinned = true;
      Digest gd = sha256(canonical), wd = sha256(weights);
      store(ContentKind::kGraph, gd, std::move(g));
      store(ContentKind::kWeights, wd, std::move(w));
      ++preloaded;
      log("cached " + path + ": graph " + digest_short(gd) + ", weights " + digest_short(wd));
    }
    if (ec) fail(ErrorKind::kIo, options.cache_dir + ": cannot read the cache directory: " + ec.message());
  }

  std::optional<Content> find(ContentKind kind, const Digest& digest) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = content.find({kind, digest});
    if (it == content.end()) return std::nullopt;
    it->second.last_use = ++tick;
    return it->second;
  }

  Message on_query(const Query& q) {
    Have have;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& item : q.items) {
      auto it = content.find(item);
      have.present.push_back(it != content.end());
      if (it != content.end()) it->second.last_use = ++tick;
    }
    return have;
  }

  static void refuse_uploads() {
    fail(ErrorKind::kUsage, "this server does not accept uploads (start it with --allow-upload, or place the "
                            "graph and its weights in its --cache-dir)");
  }

  void check_upload(ContentKind kind, uint64_t size) {
    if (!options.allow_upload) refuse_uploads();
    if (kind == ContentKind::kGraph && size > options.max_graph_bytes)
      fail(ErrorKind::kUsage, "a graph of " + std::to_string(size) + " bytes exceeds this server's --max-graph-bytes " +
                                  std::to_string(options.max_graph_bytes));
    // Content larger than the room the cache directory leaves could not be kept beside it.
    uint64_t pinned = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      pinned = pinned_bytes;
    }
    if (size > options.cache_bytes - std::min(pinned, options.cache_bytes))
      fail(ErrorKind::kUsage, std::string(kind_name(kind)) + " of " + std::to_string(size) +
                                  " bytes exceed this server's cache (--cache-bytes " +
                                  std::to_string(options.cache_bytes) +
                                  (pinned ? ", of which its --cache-dir holds " + std::to_string(pinned) : std::string()) +
                                  ")");
  }

  Message on_put(Put& put) {
    check_upload(put.kind, put.content.size());
    if (sha256(put.content) != put.digest)
      fail(ErrorKind::kBadInput, std::string(kind_name(put.kind)) + " content does not match its digest " +
                                     digest_short(put.digest));
    store(put.kind, put.digest, admit(put.kind, std::move(put.content)));
    ++stats.uploads;
    return Stored{put.kind, put.digest};
  }

  // Bytes of uploads in parts that have not ended, over all connections. Bounded by the cache
  // budget, as one upload's total is: many connections' half-finished uploads cannot hold
  // more memory than the cache may.
  std::atomic<uint64_t> parts_held{0};

  // Content arriving in parts (1.1), one upload at a time per connection: the parts are
  // kept as they arrived (memory grows with the bytes sent, never to a claimed total) and
  // joined once, at the end; a part out of order abandons the upload. What it holds counts
  // in parts_held until it ends, however it ends (done, abandoned, connection gone).
  struct PartialUpload {
    PartialUpload(std::atomic<uint64_t>& held, ContentKind kind, const Digest& digest, uint64_t total)
        : held(&held), kind(kind), digest(digest), total(total) {}
    PartialUpload(PartialUpload&& o) noexcept
        : held(o.held), kind(o.kind), digest(o.digest), total(o.total), received(std::exchange(o.received, 0)),
          parts(std::move(o.parts)) {}
    PartialUpload(const PartialUpload&) = delete;
    PartialUpload& operator=(const PartialUpload&) = delete;
    PartialUpload& operator=(PartialUpload&&) = delete;
    ~PartialUpload() { held->fetch_sub(received); }

    std::atomic<uint64_t>* held;
    ContentKind kind;
    Digest digest;
    uint64_t total;
    uint64_t received = 0;
    std::vector<std::string> parts;
  };

  Message on_put_part(PutPart& part, std::optional<PartialUpload>& pending) {
    check_upload(part.kind, part.total);
    if (part.offset == 0) {
      pending.emplace(parts_held, part.kind, part.digest, part.total);  // ends any earlier one
    } else if (!pending || pending->digest != part.digest || pending->kind != part.kind ||
               pending->total != part.total || pending->received != part.offset) {
      const std::string expected = pending ? std::to_string(pending->received) : std::string("0");
      pending.reset();
      fail(ErrorKind::kBadInput, "a part at offset " + std::to_string(part.offset) + " of " +
                                     std::string(kind_name(part.kind)) + " " + digest_short(part.digest) +
                                     " where the upload stands at " + expected + "; start again at 0");
    }
    const uint64_t n = part.bytes.size();
    const uint64_t before = parts_held.fetch_add(n);
    if (before + n > options.cache_bytes) {
      parts_held.fetch_sub(n);
      pending.reset();
      fail(ErrorKind::kUsage, "uploads in progress on this server hold " + std::to_string(before) +
                                  " bytes; another part of " + std::to_string(n) + " would exceed its cache (--cache-bytes " +
                                  std::to_string(options.cache_bytes) + "): try again when they have ended");
    }
    pending->received += n;
    pending->parts.push_back(std::move(part.bytes));
    if (pending->received < pending->total) return Received{pending->received};
    PartialUpload done = std::move(*pending);
    pending.reset();
    Put whole{done.kind, done.digest, {}};
    whole.content.reserve(done.total);
    for (std::string& piece : done.parts) {
      whole.content += piece;
      std::string().swap(piece);
    }
    return on_put(whole);
  }

  std::shared_ptr<Compiled> compiled_for(const Digest& g, const Digest& w) {
    std::optional<Content> graph = find(ContentKind::kGraph, g);
    if (!graph) fail(ErrorKind::kUsage, std::string(kNotHeld) + "graph " + digest_short(g) + ": send it first");
    std::optional<Content> weights = find(ContentKind::kWeights, w);
    if (!weights) fail(ErrorKind::kUsage, std::string(kNotHeld) + "weights " + digest_short(w) + ": send them first");
    std::shared_ptr<Compiled> entry;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto& slot = compiled[{g, w}];
      if (!slot) slot = std::make_shared<Compiled>();
      entry = slot;
    }
    std::lock_guard<std::mutex> lock(entry->mutex);
    if (!entry->executable) {
      entry->executable = std::make_unique<Executable>(
          Executable::load(*graph->graph, SafetensorsFile::from_shared_bytes(weights->bytes, "weights"), options.run));
      ++stats.compiles;
    }
    return entry;
  }

  Message on_run(RunRequest& run) {
    std::shared_ptr<Compiled> entry = compiled_for(run.graph, run.weights);
    std::lock_guard<std::mutex> lock(entry->mutex);
    const Graph& graph = entry->executable->graph();
    std::map<std::string, TensorPayload*> by_name;
    for (TensorPayload& t : run.inputs) by_name[t.name] = &t;
    std::vector<at::Tensor> inputs;
    for (const NamedValue& in : graph.inputs) {
      auto it = by_name.find(in.name);
      if (it == by_name.end()) fail(ErrorKind::kBadInput, "no input named \"" + in.name + "\" was sent");
      inputs.push_back(payload_tensor(std::move(*it->second)));
      by_name.erase(it);  // its bytes are the tensor's now
    }
    if (run.inputs.size() != graph.inputs.size())
      fail(ErrorKind::kBadInput, std::to_string(run.inputs.size()) + " inputs sent, the graph takes " +
                                     std::to_string(graph.inputs.size()));
    auto t0 = Clock::now();
    std::vector<std::pair<std::string, at::Tensor>> outputs = entry->executable->run(inputs);
    Outputs reply;
    for (const auto& [name, t] : outputs) {
      // An output may be a stored weight or a view of one: memory the cache owns, which
      // another client's upload may evict while this reply is written. Its payload keeps the
      // executable, and through it the weights, alive until then.
      TensorPayload payload = tensor_payload(name, t);
      auto keeper = std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<Compiled>>>(
          payload.data.keeper(), entry);
      payload.data = Bytes(payload.data.view(), std::move(keeper));
      reply.outputs.push_back(std::move(payload));
    }
    reply.server_micros = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    ++stats.runs;
    return reply;
  }

  // One client, start to end. Errors in a request are answered and the connection goes on;
  // a broken frame, a failed hello or a vanished peer ends this connection only.
  // `same_host`: the connection came to the same-host socket, where a hello needs a ticket.
  void handle(Channel& channel, uint64_t id, bool same_host) {
    const std::string peer = channel.connection().peer();
    bool greeted = false;
    bool offered = false;  // a ticket was given on this connection (one at most)
    std::optional<PartialUpload> pending;
    // False when the client has gone (logged): the connection ends.
    auto answer = [&](const Message& reply) {
      try {
        channel.send(reply);
        return true;
      } catch (const Error& e) {
        log(peer + " connection ended: " + e.what());
        return false;
      }
    };
    while (!stopping) {
      const uint64_t out0 = channel.bytes_sent();
      std::optional<Message> request;
      try {
        request = channel.receive();
      } catch (const RefusedFrame& e) {  // skipped unread: answered, and the connection goes on
        ++stats.requests;
        log(peer + " frame refused unread: " + e.what());
        if (!answer(error_reply(e.kind(), e.what()))) return;
        continue;
      } catch (const Error& e) {
        ++stats.protocol_errors;
        log(peer + " connection ended: " + e.what());
        if (e.kind() == ErrorKind::kBadInput) {
          try {
            channel.send(error_reply(e.kind(), e.what()));
          } catch (const Error&) {
          }
        }
        return;
      }
      if (!request) return;
      ++stats.requests;
      auto t0 = Clock::now();
      const auto type = static_cast<uint8_t>(request->index() + 1);
      std::string detail;
      Message reply;
      bool close_after = false;
      std::optional<TensorLayout> agreed_layout;  // from a hello, for the frames after its answer
      try {
        if (auto* hello = std::get_if<Hello>(&*request)) {
          if (hello->major != kProtocolMajor) {
            close_after = true;
            fail(ErrorKind::kUnsupported, "protocol version " + std::to_string(hello->major) + "." +
                                              std::to_string(hello->minor) + " is not supported (this server speaks " +
                                              std::to_string(kProtocolMajor) + ".x)");
          }
          // Anyone in the server's network namespace can reach the abstract socket: there a
          // ticket the server gave over TCP stands for the credentials that connection showed
          // (its token, a TLS client certificate, which a Unix socket cannot ask for), and no
          // token is sent, so that a client fooled into another socket gives none away.
          const char* refused_here = "this socket takes only clients sent here by this server, with the ticket it gave";
          if (same_host ? !ticket_good(hello->ticket) : !same_secret(hello->token, options.token)) {
            close_after = true;
            if (same_host) fail(ErrorKind::kUsage, refused_here);
            fail(ErrorKind::kUsage, options.token.empty() ? "this server takes no token" : "wrong or missing token");
          }
          {
            std::lock_guard<std::mutex> lock(connections_mutex);
            OpenConnection& open = open_connections.at(id);
            if (open.cut) {  // cut while its hello was on the way: no welcome for a closed connection
              close_after = true;
              fail(ErrorKind::kIo, "the server is busy: too many connections are waiting to say hello; try again");
            }
            open.greeted = true;
          }
          // Taken last, when nothing else can refuse this hello: taking it ends the TCP connection.
          std::optional<std::string> proof;
          if (same_host && !(proof = take_ticket(hello->ticket))) {
            close_after = true;
            fail(ErrorKind::kUsage, refused_here);
          }
          greeted = true;
          channel.set_limits(options.limits);  // the whole frame limit, now that it knows the client
          if (!options.allow_upload)  // refused from the header: an upload's bytes are never held
            channel.set_header_check([](MessageType type, uint64_t) {
              if (type == MessageType::kPut || type == MessageType::kPutPart) refuse_uploads();
            });
          detail = hello->client;
          Welcome welcome;
          welcome.minor = std::min(hello->minor, kProtocolMinor);
          welcome.server = options.name;
          welcome.device = options.run.device.str();
          welcome.max_frame_bytes = options.limits.max_frame_bytes;
          if (same_host) {
            ++stats.same_host_moves;
            detail += " (moved here from TCP)";
            welcome.proof = *proof;
          } else if (!offered && hello->minor >= 3 && same_host_open && is_loopback(channel.connection().host())) {
            auto [ticket, answer_with] = give_ticket(id);
            if (!ticket.empty()) {
              offered = true;
              welcome.same_host = same_host_address;
              welcome.ticket = std::move(ticket);
              welcome.proof = std::move(answer_with);
            }
          }
          reply = std::move(welcome);
          agreed_layout = hello->minor >= 2 ? TensorLayout::kAligned : TensorLayout::kPacked;
        } else if (!greeted) {
          close_after = true;
          fail(ErrorKind::kUsage, "the first message must be hello");
        } else if (auto* query = std::get_if<Query>(&*request)) {
          reply = on_query(*query);
        } else if (auto* put = std::get_if<Put>(&*request)) {
          detail = std::string(kind_name(put->kind)) + "=" + digest_short(put->digest);
          reply = on_put(*put);
        } else if (auto* part = std::get_if<PutPart>(&*request)) {
          detail = std::string(kind_name(part->kind)) + "=" + digest_short(part->digest) + " at " +
                   std::to_string(part->offset) + "/" + std::to_string(part->total);
          reply = on_put_part(*part, pending);
        } else if (auto* run = std::get_if<RunRequest>(&*request)) {
          detail = "graph=" + digest_short(run->graph);
          reply = on_run(*run);
        } else {
          fail(ErrorKind::kUsage, "a client does not send " + std::string(message_type_name(type)) + " messages");
        }
      } catch (const Error& e) {
        reply = error_reply(e.kind(), e.what());
      } catch (const std::exception& e) {  // LibTorch's, from a run
        reply = error_reply(ErrorKind::kRuntime, first_line(e.what()));
      }
      if (!answer(reply)) return;
      if (agreed_layout) channel.set_tensor_layout(*agreed_layout);
      if (std::holds_alternative<RunRequest>(*request) && std::holds_alternative<ErrorReply>(reply) &&
          !device_usable()) {
        const std::string why = options.run.device.str() + " no longer runs kernels after a failed run (" +
                                std::get<ErrorReply>(reply).text.substr(0, 200) + "): restart the server";
        {
          std::lock_guard<std::mutex> lock(failure_mutex);
          if (failure.empty()) failure = why;
        }
        log("stopping: " + why);
        stop_server();
      }
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      char timing[32];
      std::snprintf(timing, sizeof timing, "%.2f ms", ms);
      std::string outcome = "ok";
      if (auto* error = std::get_if<ErrorReply>(&reply)) outcome = "error: " + error->text;
      log(peer + " " + std::string(message_type_name(type)) + (detail.empty() ? "" : " " + detail) +
          " in=" + std::to_string(channel.last_frame_bytes()) + " out=" + std::to_string(channel.bytes_sent() - out0) +
          " " + timing + " " + outcome);
      if (close_after) return;
    }
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) { impl_->preload(); }
Server::~Server() = default;
const ServerStats& Server::stats() const { return impl_->stats; }
size_t Server::preloaded() const { return impl_->preloaded; }

void Server::stop() { impl_->stop_server(); }

std::string Server::failure() const {
  std::lock_guard<std::mutex> lock(impl_->failure_mutex);
  return impl_->failure;
}

void Server::serve(Listener& listener) {
  impl_->listener = &listener;
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers;
  std::mutex workers_mutex;  // workers and next_id: two threads accept
  std::thread watchdog([this] { impl_->close_silent_connections(); });
  // Before hello, a frame need hold no more than a hello: a client that has not shown its
  // token cannot make the server take in gigabytes.
  constexpr uint64_t kHelloFrameBytes = 64 << 10;
  Limits before_hello = impl_->options.limits;
  before_hello.max_frame_bytes = std::min(before_hello.max_frame_bytes, kHelloFrameBytes);
  uint64_t next_id = 0;

  // A thread for a client just accepted.
  auto take = [&](std::unique_ptr<Connection> connection, bool same_host) {
    std::lock_guard<std::mutex> lock(workers_mutex);
    ++impl_->stats.connections;
    // Reap the threads of clients that have gone.
    for (auto it = workers.begin(); it != workers.end();) {
      if (*it->done) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
    const uint64_t id = next_id++;
    auto done = std::make_shared<std::atomic<bool>>(false);
    connection->set_poll_window(impl_->options.poll_window);
    auto channel = std::make_shared<Channel>(std::move(connection), before_hello);
    workers.reserve(workers.size() + 1);  // so that adding the worker below cannot throw
    if (!impl_->admit(id, channel->connection(), same_host)) return;  // closed as `channel` goes
    auto serve_one = [this, id, channel, done, same_host] {
      try {
        // A new thread takes the process's intra-op thread count only when told (OpenMP
        // keeps it per thread), and no autograd bookkeeping.
        at::init_num_threads();
        c10::InferenceMode inference;
        impl_->handle(*channel, id, same_host);
      } catch (const std::exception& e) {
        impl_->log(channel->connection().peer() + " connection ended: " + e.what());
      }
      impl_->drop_tickets(id);
      {
        std::lock_guard<std::mutex> lock(impl_->connections_mutex);
        impl_->open_connections.erase(id);
        impl_->connections_changed.notify_all();
      }
      *done = true;
    };
    try {
      workers.push_back({std::thread(serve_one), done});
    } catch (const std::exception& e) {  // out of threads (a process or cgroup limit), or memory
      std::lock_guard<std::mutex> lock(impl_->connections_mutex);
      impl_->open_connections.erase(id);
      ++impl_->stats.refused_connections;
      impl_->log(channel->connection().peer() + " refused: no thread to serve it: " + e.what());
    }
  };
  // Clients on this machine that came over TCP are offered shared memory (ServerOptions::
  // same_host_memory) through an abstract socket with a name nobody can guess. Without one,
  // they stay on TCP.
  std::unique_ptr<Listener> same_host;
  std::thread same_host_accepting;
  if (impl_->options.same_host_memory) {
    try {
      const std::string name = random_hex(8);
      if (name.empty()) fail(ErrorKind::kIo, std::string("no random name: ") + std::strerror(errno));
      same_host = unix_listen("@genie-serve." + name);
      impl_->same_host_address = same_host->address();
      {
        std::lock_guard<std::mutex> lock(impl_->listeners_mutex);
        impl_->same_host_listener = same_host.get();
      }
      impl_->same_host_open = true;
      same_host_accepting = std::thread([&, l = same_host.get()] {
        try {
          while (std::unique_ptr<Connection> connection = l->accept()) take(std::move(connection), true);
        } catch (const std::exception& e) {  // the same-host socket's failure ends the offers only
          impl_->same_host_open = false;
          l->close();  // a client that connects is refused, and stays on TCP
          impl_->log("clients on this machine stay on TCP: accepting on " + l->address() + " failed: " + e.what());
        }
      });
    } catch (const std::exception& e) {
      impl_->same_host_open = false;
      {
        std::lock_guard<std::mutex> lock(impl_->listeners_mutex);
        impl_->same_host_listener = nullptr;
      }
      same_host.reset();
      impl_->log(std::string("clients on this machine stay on TCP: ") + e.what());
    }
  }

  // An exception here (no memory for a connection) must not unwind past the threads: the
  // server stops as if told to, and says why (Server::failure).
  try {
    while (!impl_->stopping) {
      std::unique_ptr<Connection> connection = listener.accept();
      if (!connection) break;
      take(std::move(connection), false);
    }
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(impl_->failure_mutex);
    if (impl_->failure.empty()) impl_->failure = std::string("accepting connections failed: ") + e.what();
    impl_->log("stopping: " + impl_->failure);
  }
  if (!impl_->stopping) impl_->stop_server();  // the listener failed: the server ends as if stopped
  impl_->same_host_open = false;
  if (same_host) same_host->close();  // also when stop() came before it was there to be closed
  if (same_host_accepting.joinable()) same_host_accepting.join();
  watchdog.join();
  // Requests in flight are answered; a client that reads no answers is cut after the grace.
  {
    std::unique_lock<std::mutex> lock(impl_->connections_mutex);
    impl_->connections_changed.wait_for(lock, impl_->options.stop_grace,
                                        [&] { return impl_->open_connections.empty(); });
    for (auto& [id, open] : impl_->open_connections) {
      impl_->log(open.connection->peer() + " cut: still open " + std::to_string(impl_->options.stop_grace.count()) +
                 " ms after the server was told to stop");
      open.connection->shutdown_both();
    }
  }
  for (Worker& w : workers) w.thread.join();
  std::lock_guard<std::mutex> lock(impl_->listeners_mutex);  // stop() may be closing them now
  impl_->listener = nullptr;
  impl_->same_host_listener = nullptr;
  same_host.reset();
}

}  // namespace genie::remote
