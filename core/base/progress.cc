#include "core/base/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include "core/base/strings.h"

namespace core {

Progress::Progress(std::string label, uint64_t total, Output output)
    : label_(std::move(label)),
      total_(total),
      active_(output == Output::kAuto && ::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(uint64_t bytes) {
  done_ += bytes;
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (active_) draw(true);
}

void Progress::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  uint64_t done = done_, total = total_;
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  std::string line = fmt::format("\r\x1b[K{}  {}", label_, human_bytes(done));
  if (total > 0) line += fmt::format(" / {}", human_bytes(total));
  line += fmt::format("  {}/s", human_bytes(static_cast<uint64_t>(rate)));
  if (!final && total > done && rate > 0) {
    line += fmt::format("  ETA {:.0f}s", static_cast<double>(total - done) / rate);
  }
  if (final) line += fmt::format("  in {:.1f}s\n", secs);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace core
