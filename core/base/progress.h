// Progress of long work (bytes done of a total, rate, ETA), drawn on stderr when it is a
// terminal and silent otherwise. advance() may be called from several threads; drawing is
// rate-limited to a few times a second.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace core {

class Progress {
 public:
  enum class Output { kAuto, kNever };
  // total 0 means unknown: rate is shown without ETA.
  Progress(std::string label, uint64_t total, Output output = Output::kAuto);
  ~Progress();

  void advance(uint64_t bytes);
  void add_total(uint64_t bytes) { total_ += bytes; }
  // Draws the final line (when drawing) and stops.
  void finish();
  uint64_t done() const { return done_; }

 private:
  void draw(bool final);

  std::string label_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_{0};
  bool active_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mu_;
};

}  // namespace core
