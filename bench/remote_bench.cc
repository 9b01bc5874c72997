// Remote execution against local (remote-execution issue): the same graph run by an
// Executable in this process and through genie-serve's engine on loopback TCP, interleaved,
// same device and threads. Reports the first remote call (upload + compile) apart, then the
// median latency of each side, their ratio, and the bytes each call moved. Both sides start
// from inputs in host memory and end with the outputs there, as genie-run does.
// "overhead" is what a remote call costs beyond the server's own work (the median over calls
// of the call's time less the time the server reports for the run and its outputs to host
// payloads); ratio' = 1 + overhead / local: the ratio were the server's thread as fast as the
// local one — on a virtual machine whose CPUs differ in speed from moment to moment, the part
// of the ratio the transport and the protocol answer for.
//   build/bench/remote_bench [--runs N] [--threads T] [--device cpu|cuda:N] [--poll-us SERVER,CLIENT] [--unix | --unix-stream | --tcp-only] GRAPH.json...
// (weights beside each graph; --poll-us sets the server's poll ceiling and the client's window,
// 100,2000 the server's fixed window of before 2026-12-05, 0,0 to sleep at once; --unix: over a
// Unix-domain socket instead of loopback TCP, with the shared memory genie's clients ask for;
// --unix-stream: the socket's plain stream; by default a client on loopback TCP moves to shared
// memory, as genie's clients do (protocol 1.3); --tcp-only: it stays on TCP)
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "exec/example_input.h"
#include "exec/executable.h"
#include "graph/json_codec.h"
#include "io/weights.h"
#include "remote/client.h"
#include "remote/server.h"
#include "remote/tensor_payload.h"
#include "remote/transport.h"
#include "timing.h"
#include "support/files.h"

using genie::bench::median;
using genie::bench::ms;

int main(int argc, char** argv) {
  int runs = 30;
  std::vector<std::string> graphs;
  genie::remote::ServerOptions options;
  genie::remote::ClientOptions client_options;
  std::string device_name = "cpu";
  bool over_unix = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--device" && i + 1 < argc) device_name = argv[++i];
    else if (a == "--unix") over_unix = true;
    else if (a == "--unix-stream") {  // a Unix socket's plain stream, without the shared memory genie's clients ask for
      over_unix = true;
      ::setenv("GENIE_SHARED_MEMORY", "0", 1);
    }
    else if (a == "--tcp-only") ::setenv("GENIE_SHARED_MEMORY", "0", 1);
    else if (a == "--threads" && i + 1 < argc) at::set_num_threads(std::atoi(argv[++i]));
    else if (a == "--poll-us" && i + 1 < argc) {
      const std::string both = argv[++i];
      const std::chrono::microseconds server(std::atoi(both.c_str()));
      options.poll_window = genie::remote::PollWindow(std::min(server, options.poll_window.floor()), server);
      client_options.poll_window =
          genie::remote::PollWindow(std::chrono::microseconds(std::atoi(both.substr(both.find(',') + 1).c_str())));
    }
    else if (a.rfind("-", 0) == 0) {
      std::fprintf(stderr, "remote_bench: unknown option %s\n", a.c_str());
      graphs.clear();  // usage below
      break;
    }
    else graphs.push_back(a);
  }
  if (graphs.empty()) {
    std::fprintf(stderr, "usage: remote_bench [--runs N] [--threads T] [--device cpu|cuda:N] [--poll-us SERVER,CLIENT] [--unix | --unix-stream | --tcp-only] GRAPH.json...\n");
    return 2;
  }
  genie::RunOptions run_options;
  try {
    run_options.device = genie::parse_run_device(device_name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "remote_bench: %s\n", e.what());
    return 2;
  }
  options.run = run_options;

  options.allow_upload = true;
  genie::remote::Server server(options);
  const std::string socket_path = "/tmp/genie-remote-bench-" + std::to_string(::getpid()) + ".sock";
  auto listener = over_unix ? genie::remote::unix_listen(socket_path) : genie::remote::tcp_listen({"127.0.0.1", 0});
  std::thread serving([&] { server.serve(*listener); });
  const bool shared_memory = genie::remote::shared_memory_wanted();

  std::printf("%s, %d runs per side, interleaved, %d threads, %s, poll windows %lld-%lld us (server) %lld us (client); medians in ms\n",
              !over_unix ? (shared_memory ? "loopback TCP, the client moved to shared memory" : "loopback TCP only")
              : shared_memory ? "Unix-domain socket, shared memory" : "Unix-domain socket, plain stream", runs, at::get_num_threads(), run_options.device.str().c_str(),
              static_cast<long long>(options.poll_window.floor().count()),
              static_cast<long long>(options.poll_window.ceiling().count()),
              static_cast<long long>(client_options.poll_window.ceiling().count()));
  std::printf("%-28s %10s %10s %8s %10s %8s %12s %12s %14s %12s\n", "graph", "local", "remote", "ratio", "overhead",
              "ratio'", "bytes out", "bytes in", "first remote", "round trip");
  int status = 0;
  for (const std::string& path : graphs) try {
    genie::Graph graph = genie::graph_read(path);
    const std::string weights_path = genie::weights_path_beside(path);
    at::Generator generator = at::detail::createCPUGenerator(0);
    std::vector<at::Tensor> inputs;
    std::vector<std::string> names;
    for (const genie::NamedValue& in : graph.inputs) {
      inputs.push_back(genie::example_input(graph.values[in.value].type, generator));
      names.push_back(in.name);
    }
    const auto canonical = std::make_shared<const std::string>(genie::graph_to_json(graph));
    const auto weights = std::make_shared<const std::string>(genie::read_file(weights_path));
    genie::Executable local =
        genie::Executable::load(std::move(graph), genie::SafetensorsFile::open(weights_path), run_options);
    // The local side's outputs come back to host memory, as the remote side's do.
    auto local_call = [&] {
      for (auto& [name, t] : local.run(inputs)) t.cpu();
    };

    client_options.name = "remote_bench";
    genie::remote::RemoteClient client = genie::remote::RemoteClient::connect(listener->address(), client_options);
    // What genie-run --remote does per call: tensors to payloads, the call, payloads to tensors.
    uint64_t bytes_out = 0, bytes_in = 0;
    std::vector<double> server_ms;
    auto remote_call = [&] {
      std::vector<genie::remote::TensorPayload> payloads;
      for (size_t i = 0; i < inputs.size(); ++i) payloads.push_back(genie::remote::tensor_payload(names[i], inputs[i]));
      const uint64_t out0 = client.bytes_sent(), in0 = client.bytes_received();
      genie::remote::Outputs outputs = client.run(std::move(payloads));
      bytes_out = client.bytes_sent() - out0;
      bytes_in = client.bytes_received() - in0;
      server_ms.push_back(outputs.server_micros / 1e3);
      for (auto& t : outputs.outputs) genie::remote::payload_tensor(std::move(t));
    };
    const double first = ms([&] {
      client.ensure(canonical, weights);
      remote_call();
    });
    c10::InferenceMode inference;
    for (int w = 0; w < 3; ++w) {
      local_call();
      remote_call();
    }
    std::vector<double> local_ms, remote_ms, overhead_ms;
    for (int r = 0; r < runs; ++r) {
      local_ms.push_back(ms(local_call));
      remote_ms.push_back(ms(remote_call));
      overhead_ms.push_back(remote_ms.back() - server_ms.back());
    }
    // The protocol's own round trip: a query the server answers from memory.
    std::vector<double> round_trip_ms;
    for (int r = 0; r < 200; ++r) round_trip_ms.push_back(ms([&] { client.ping(); }));
    std::string name = path.substr(path.find_last_of('/') + 1);
    std::printf("%-28s %10.3f %10.3f %8.3f %10.3f %8.3f %12llu %12llu %11.1f ms %9.3f ms  server run %.3f ms\n",
                name.c_str(), median(local_ms), median(remote_ms), median(remote_ms) / median(local_ms),
                median(overhead_ms), 1 + median(overhead_ms) / median(local_ms), static_cast<unsigned long long>(bytes_out),
                static_cast<unsigned long long>(bytes_in), first, median(round_trip_ms), median(server_ms));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "remote_bench: %s\n", e.what());
    status = 1;
  }
  if (!over_unix && shared_memory && server.stats().same_host_moves == 0) {
    std::fprintf(stderr, "remote_bench: the client did not move from TCP to shared memory\n");
    status = 1;
  }
  server.stop();
  serving.join();
  listener.reset();
  if (over_unix) ::unlink((socket_path + ".lock").c_str());
  return status;
}
