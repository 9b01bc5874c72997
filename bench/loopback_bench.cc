// What one send on loopback TCP costs genie-serve's transport, hot and after work that
// evicts the caches as a model's run does (docs/performance.md, "Remote execution"). An
// echo server answers each request with a reply of a given size; between requests it
// either answers at once ("hot") or first spends about 1 ms writing a buffer of the given
// size ("after work"); the round trip is then reported less that work. The client polls for its answer, as genie-run --remote does.
//   build/bench/loopback_bench [--runs N] [--work-bytes B]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "remote/transport.h"

namespace {

using Clock = std::chrono::steady_clock;

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Result {
  double send_us, round_trip_us;
};

// One server thread, one client; `reply` bytes back for each 445-byte request (a run request's size).
Result measure(size_t reply, size_t work_bytes, int runs) {
  using namespace genie::remote;
  auto listener = tcp_listen({"127.0.0.1", 0});
  const HostPort address = parse_host_port(listener->address());
  std::vector<double> sends, works;
  std::thread server([&] {
    std::unique_ptr<Connection> c = listener->accept();
    c->set_poll_window(std::chrono::microseconds(5000));
    std::vector<char> request(445), work(work_bytes);
    std::string answer(reply, 'x');
    for (int i = 0; i < runs; ++i) {
      for (size_t got = 0; got < request.size();) got += c->read_some(request.data() + got, request.size() - got);
      const auto w0 = Clock::now();
      if (work_bytes > 0)
        for (int k = 0; Clock::now() < w0 + std::chrono::milliseconds(1); ++k) std::memset(work.data(), k, work.size());
      const auto t0 = Clock::now();
      works.push_back(us(t0 - w0));
      c->write_all(answer);
      sends.push_back(us(Clock::now() - t0));
    }
  });
  std::unique_ptr<Connection> client = tcp_connect(address);
  client->set_poll_window(std::chrono::microseconds(2000));
  std::string request(445, 'r');
  std::vector<char> answer(reply);
  std::vector<double> trips;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    client->write_all(request);
    for (size_t got = 0; got < reply;) got += client->read_some(answer.data() + got, reply - got);
    trips.push_back(us(Clock::now() - t0));
  }
  server.join();
  for (int i = 0; i < runs; ++i) trips[i] -= works[i];  // the round trip less the server's work
  return {median(sends), median(trips)};
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 2000;
  size_t work_bytes = 4 << 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--work-bytes" && i + 1 < argc) work_bytes = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: loopback_bench [--runs N] [--work-bytes B]\n");
      return 2;
    }
  }
  std::printf("loopback TCP, %d requests of 445 bytes each; medians in microseconds\n", runs);
  std::printf("%-12s %14s %14s %22s %22s\n", "reply bytes", "send (hot)", "round trip", "send (after work)",
              "round trip - work");
  for (size_t reply : {size_t{20}, size_t{4488}, size_t{133 * 1024}}) {
    const Result hot = measure(reply, 0, runs);
    const Result cold = measure(reply, work_bytes, std::max(1, runs / 4));
    std::printf("%-12zu %14.1f %14.1f %22.1f %22.1f\n", reply, hot.send_us, hot.round_trip_us, cold.send_us,
                cold.round_trip_us);
  }
  return 0;
}
