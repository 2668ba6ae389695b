#include "core/fs/stream.h"

#include <vector>

namespace core {

Result<uint64_t> copy_stream(ByteSource& in, ByteSink& out) {
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (true) {
    size_t n = K3A_TRY(in.read(buf.data(), buf.size()));
    if (n == 0) return total;
    K3A_CHECK(out.write(std::string_view(buf.data(), n)));
    total += n;
  }
}

Result<void> BufferedSink::write(std::string_view data) {
  if (buf_.size() + data.size() > capacity_) {
    K3A_CHECK(flush());
    if (data.size() >= capacity_) return out_.write(data);
  }
  buf_.append(data);
  return {};
}

Result<void> BufferedSink::flush() {
  if (buf_.empty()) return {};
  auto r = out_.write(buf_);
  buf_.clear();
  return r;
}

}  // namespace core
