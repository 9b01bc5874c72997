// Timing helpers the benchmarks that are plain programs share (the others use Google
// Benchmark): the median of a sample and the wall time of a call.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace genie::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Milliseconds `f` took.
template <typename F>
double ms(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace genie::bench
