// What one send on loopback TCP (or, with --unix, a Unix-domain socket and the shared memory
// genie's clients ask for over it; --unix-stream, the socket's plain stream) costs genie-serve's
// transport, hot and after work that evicts the caches as a model's run does
// (docs/performance.md, "Remote execution"). A
// server answers each 445-byte request (a run request's size) with a reply of a given size,
// either at once ("hot") or after about 1 ms of writing a buffer of --work-bytes ("after
// work"; the round trip is then reported less that work). The client polls for its answer,
// as genie-run --remote does.
//   build/bench/loopback_bench [--runs N] [--work-bytes B] [--unix | --unix-stream]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "remote/transport.h"
#include "support/error.h"

namespace {

using Clock = std::chrono::steady_clock;
using genie::remote::Connection;

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Reads exactly `size` bytes; the peer closing first is an error, not an endless loop.
void read_exact(Connection& c, char* buffer, size_t size) {
  for (size_t got = 0; got < size;) {
    const size_t n = c.read_some(buffer + got, size - got);
    if (n == 0) genie::fail(genie::ErrorKind::kIo, "the peer closed the connection");
    got += n;
  }
}

struct Result {
  double send_us, round_trip_us;
};

Result measure(size_t reply, size_t work_bytes, int runs, bool over_unix) {
  using namespace genie::remote;
  const std::string socket_path = "/tmp/genie-loopback-bench-" + std::to_string(::getpid()) + ".sock";
  auto listener = over_unix ? unix_listen(socket_path) : tcp_listen({"127.0.0.1", 0});
  const std::string address = listener->address();
  struct RemoveLockFile {
    bool over_unix;
    std::string path;
    ~RemoveLockFile() {
      if (over_unix) ::unlink(path.c_str());
    }
  } remove_lock_file{over_unix, socket_path + ".lock"};
  std::vector<double> sends, works;
  std::string server_error;
  volatile char sink = 0;  // the work's writes are read, so the compiler keeps them
  std::thread server([&] {
    try {
      std::unique_ptr<Connection> c = listener->accept();
      c->set_poll_window(genie::remote::PollWindow(std::chrono::microseconds(5000)));
      std::vector<char> request(445), work(work_bytes);
      std::string answer(reply, 'x');
      for (int i = 0; i < runs; ++i) {
        read_exact(*c, request.data(), request.size());
        const auto w0 = Clock::now();
        if (work_bytes > 0) {
          for (int k = 0; Clock::now() < w0 + std::chrono::milliseconds(1); ++k) std::memset(work.data(), k, work.size());
          sink = sink + work[work_bytes / 2];
        }
        const auto t0 = Clock::now();
        works.push_back(us(t0 - w0));
        c->write_all(answer);
        sends.push_back(us(Clock::now() - t0));
      }
    } catch (const std::exception& e) {
      server_error = e.what();
      listener->close();
    }
  });
  std::vector<double> trips;
  try {
    std::unique_ptr<Connection> client = connect_to(address);
    client->set_poll_window(genie::remote::PollWindow(std::chrono::microseconds(2000)));
    std::string request(445, 'r');
    std::vector<char> answer(reply);
    for (int i = 0; i < runs; ++i) {
      const auto t0 = Clock::now();
      client->write_all(request);
      read_exact(*client, answer.data(), reply);
      trips.push_back(us(Clock::now() - t0));
    }
  } catch (const std::exception& e) {
    listener->close();  // a server still waiting to accept stops
    server.join();
    // A failed server ends the client's reads: its error is the one that says why.
    genie::fail(genie::ErrorKind::kIo, server_error.empty() ? std::string(e.what()) : "server: " + server_error);
  }
  server.join();
  if (!server_error.empty()) genie::fail(genie::ErrorKind::kIo, "server: " + server_error);
  for (int i = 0; i < runs; ++i) trips[i] -= works[i];  // the round trip less the server's work
  return {median(sends), median(trips)};
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 2000;
  size_t work_bytes = 4 << 20;
  bool over_unix = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--work-bytes" && i + 1 < argc) work_bytes = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--unix") over_unix = true;
    else if (a == "--unix-stream") {  // a Unix socket's plain stream, without the shared memory genie's clients ask for
      over_unix = true;
      ::setenv("GENIE_SHARED_MEMORY", "0", 1);
    }
    else {
      std::fprintf(stderr, "loopback_bench: unknown argument %s\nusage: loopback_bench [--runs N] [--work-bytes B] [--unix | --unix-stream]\n",
                   a.c_str());
      return 2;
    }
  }
  std::printf("%s, %d requests of 445 bytes each (%d after work on %zu bytes); medians in microseconds\n",
              !over_unix ? "loopback TCP" : std::getenv("GENIE_SHARED_MEMORY") ? "Unix-domain socket, plain stream" : "Unix-domain socket, shared memory", runs,
              std::max(1, runs / 4), work_bytes);
  std::printf("%-12s %14s %14s %22s %22s\n", "reply bytes", "send (hot)", "round trip", "send (after work)",
              "round trip - work");
  try {
    for (size_t reply : {size_t{20}, size_t{4488}, size_t{133 * 1024}}) {
      const Result hot = measure(reply, 0, runs, over_unix);
      const Result cold = measure(reply, work_bytes, std::max(1, runs / 4), over_unix);
      std::printf("%-12zu %14.1f %14.1f %22.1f %22.1f\n", reply, hot.send_us, hot.round_trip_us, cold.send_us,
                  cold.round_trip_us);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loopback_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
