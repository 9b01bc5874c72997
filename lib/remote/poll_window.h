// How long a read that finds nothing polls before it sleeps, learning from the peer as KVM's
// halt polling learns from a guest: a wait that outlasted the window, but not the ceiling,
// widens it to twice that wait, so a peer that sends again as soon is met by a thread still
// polling; a longer wait (the peer went idle) narrows it back to the floor.
#pragma once

#include <chrono>

namespace genie::remote {

class PollWindow {
 public:
  using micros = std::chrono::microseconds;
  // 0: every read that finds nothing sleeps at once.
  PollWindow() = default;
  // Always `window`.
  explicit PollWindow(micros window) : PollWindow(window, window) {}
  // From `floor` (at most `ceiling`) up to `ceiling`.
  PollWindow(micros floor, micros ceiling);

  // How long the next read that finds nothing polls.
  micros current() const { return current_; }
  micros floor() const { return floor_; }
  micros ceiling() const { return ceiling_; }
  // A read waited this long for its bytes (polling, then asleep).
  void waited(micros waited);

 private:
  micros floor_{0}, ceiling_{0}, current_{0};
};

}  // namespace genie::remote
