// genie-serve: run captured graphs on this machine's device for clients across the network
// (genie-run --remote). Graphs, weights and compiled plans are kept by content digest, so a
// client sends each once and afterwards only its inputs (docs/genie-serve.md).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/tool_main.h"
#include "exec/executable.h"
#include "remote/server.h"
#include "remote/transport.h"
#include "support/error.h"
#include "support/files.h"

int main(int argc, char** argv) {
  CLI::App app{"Serve Genie graphs on this machine's device to genie-run --remote clients.\n\n"
               "Examples:\n"
               "  genie-serve --device cuda:0 --allow-upload            loopback only, port 7070\n"
               "  genie-serve --listen 0.0.0.0:7070 --token-file /etc/genie/token --device cuda:0 --allow-upload\n"
               "  genie-serve --cache-dir /srv/genie/graphs               serves only the graphs placed there\n"
               "  genie-serve --listen unix:/run/genie/serve.sock --device cuda:0 --allow-upload   clients on this machine\n"
               "  genie-serve --listen 0.0.0.0:7070 --listen unix:/run/genie/serve.sock --token-file /etc/genie/token ...\n"
               "  genie-serve --listen 0.0.0.0:7070 --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem",
               "genie-serve"};
  std::vector<std::string> listen;
  std::string device_name = "cpu", token_file, cache_dir;
  genie::remote::TlsServerConfig tls;
  uint64_t cache_bytes = uint64_t{8} << 30, max_request_bytes = uint64_t{4} << 30, max_graph_bytes = uint64_t{64} << 20;
  bool allow_upload = false;
  unsigned poll_us = 2000;
  size_t max_connections = 1024;
  app.add_option("--listen", listen,
                 "HOST:PORT to listen on (port 0: any free one), or unix:PATH for clients on this machine; "
                 "given again, listens on each (default: 127.0.0.1:7070)")
      ->allow_extra_args(false);  // one address each time it is given
  app.add_option("--device", device_name, "cpu, cuda or cuda:N")->default_val("cpu");
  app.add_option("--token-file", token_file, "file holding the token clients must present (first line)");
  auto* cert = app.add_option("--tls-cert", tls.cert_file, "TLS: this server's certificate chain (PEM)");
  auto* key = app.add_option("--tls-key", tls.key_file, "TLS: its private key (PEM)");
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-client-ca", tls.client_ca_file, "mutual TLS: clients need a certificate this CA signed")
      ->needs(cert);
  app.add_option("--cache-bytes", cache_bytes, "graphs and weights kept, in bytes of content")->default_val(cache_bytes);
  app.add_option("--max-request-bytes", max_request_bytes, "largest frame a client may send")
      ->default_val(max_request_bytes);
  app.add_option("--cache-dir", cache_dir, "graphs (GRAPH.json + GRAPH.safetensors) served without upload");
  app.add_flag("--allow-upload", allow_upload, "let clients send graphs and weights");
  app.add_option("--max-graph-bytes", max_graph_bytes, "largest graph (canonical JSON) a client may upload")
      ->default_val(max_graph_bytes);
  app.add_option("--max-connections", max_connections,
                 "clients connected at once (a thread each); more are closed as they arrive")
      ->default_val(max_connections)
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  app.add_option("--poll-us", poll_us,
                 "most microseconds a connection polls for its client's next request before it sleeps: 100 "
                 "after an idle spell, more while the client calls again within this (0: sleeps at once; "
                 "polling spends CPU, sleeping costs a wake-up per request)")
      ->default_val(poll_us)
      ->check(CLI::Range(0u, 1000000u));
  app.set_version_flag("--version", "genie-serve 0.1.0");

  return genie::tool_main(app, argc, argv, [&] {
    // SIGTERM/SIGINT go to one thread that stops the server; the others never see them. Set
    // first, so that every thread the process starts inherits it (LibTorch's and CUDA's too).
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);  // from this process: the server stopped by itself
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that vanished is an error on its socket, not a kill

    // Addresses are checked before the cache directory is read. TLS serves the TCP ones; a
    // server on Unix sockets alone has none for it to serve.
    if (listen.empty()) listen = {"127.0.0.1:7070"};
    const bool any_tcp = std::any_of(listen.begin(), listen.end(),
                                      [](const std::string& a) { return !genie::remote::is_unix_address(a); });
    for (const std::string& address : listen) genie::remote::check_address(address, tls.enabled() && !any_tcp);
    for (size_t i = 0; i < listen.size(); ++i)
      if (std::find(listen.begin(), listen.begin() + i, listen[i]) != listen.begin() + i)
        genie::fail(genie::ErrorKind::kUsage, "--listen " + listen[i] + " is given twice");
    genie::remote::ServerOptions options;
    if (!token_file.empty()) {
      options.token = genie::read_first_line(token_file);
      if (options.token.empty()) genie::fail(genie::ErrorKind::kUsage, token_file + ": the token file is empty");
    }
    // A Unix-domain socket is reached from this machine only, by whoever may write its file.
    for (const std::string& address : listen) {
      if (genie::remote::is_unix_address(address)) continue;
      const std::string host = genie::remote::parse_host_port(address).host;
      if (!genie::remote::is_loopback(host) && options.token.empty() && tls.client_ca_file.empty())
        genie::fail(genie::ErrorKind::kUsage,
                    "listening on " + host +
                        " (not loopback) needs --token-file or mutual TLS (--tls-client-ca): anyone who reaches the "
                        "port could run graphs");
    }
    options.run.device = genie::parse_run_device(device_name);
    options.cache_bytes = cache_bytes;
    options.limits.max_frame_bytes = max_request_bytes;
    options.allow_upload = allow_upload;
    options.max_graph_bytes = max_graph_bytes;
    options.cache_dir = cache_dir;
    options.max_connections = max_connections;
    options.poll_window = genie::remote::PollWindow(std::chrono::microseconds(std::min(100u, poll_us)),
                                                    std::chrono::microseconds(poll_us));

    genie::remote::Server server(options);
    std::vector<std::unique_ptr<genie::remote::Listener>> listeners;
    std::string where;  // "0.0.0.0:7070 (TLS) and unix:/run/genie/serve.sock"
    for (const std::string& address : listen) {
      const bool over_tls = tls.enabled() && !genie::remote::is_unix_address(address);
      listeners.push_back(genie::remote::listen_at(address, over_tls ? tls : genie::remote::TlsServerConfig{}));
      where += (where.empty() ? "" : " and ") + listeners.back()->address() +
               (over_tls ? (tls.client_ca_file.empty() ? " (TLS)" : " (mutual TLS)") : "");
    }
    auto listener = genie::remote::listen_all(std::move(listeners));
    std::fprintf(stderr, "genie-serve: listening on %s, device %s, uploads %s, %zu cached graph%s\n", where.c_str(),
                 options.run.device.str().c_str(), allow_upload ? "on" : "off", server.preloaded(),
                 server.preloaded() == 1 ? "" : "s");
    std::atomic<bool> served{false};
    std::thread signal_thread([&] {
      for (;;) {
        int received = 0;
        sigwait(&signals, &received);
        if (received == SIGTERM || received == SIGINT) {
          std::fprintf(stderr, "genie-serve: %s: finishing requests in flight\n",
                       received == SIGTERM ? "SIGTERM" : "SIGINT");
          server.stop();
          return;
        }
        if (served) return;  // SIGUSR1 from main: the server ended by itself (another's is ignored)
      }
    });
    server.serve(*listener);
    // serve() returns after stop(): from the signal thread, or by itself (Server::failure),
    // when the signal thread is still waiting and is told so.
    const std::string failure = server.failure();
    served = true;
    pthread_kill(signal_thread.native_handle(), SIGUSR1);  // returned already, after a SIGTERM
    signal_thread.join();
    const auto& stats = server.stats();
    auto count = [](uint64_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
    std::fprintf(stderr, "genie-serve: stopped after %s, %s, %s\n", count(stats.connections, "connection").c_str(),
                 count(stats.runs, "run").c_str(), count(stats.uploads, "upload").c_str());
    if (!failure.empty()) genie::fail(genie::ErrorKind::kRuntime, failure);
    return 0;
  });
}
