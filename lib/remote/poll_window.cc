#include "remote/poll_window.h"

#include <algorithm>

namespace genie::remote {

PollWindow::PollWindow(micros floor, micros ceiling)
    : floor_(std::max(micros(0), std::min(floor, ceiling))),
      ceiling_(std::max(micros(0), ceiling)),
      current_(floor_) {}

void PollWindow::waited(micros waited) {
  if (waited <= current_) return;  // the poll caught it
  // Twice the gap: the next one may be a little longer and still be caught.
  current_ = waited <= ceiling_ ? std::min(ceiling_, 2 * waited) : floor_;
}

}  // namespace genie::remote
