#include "core/fs/stream.h"

#include <algorithm>
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

Result<size_t> StringSource::read(char* buf, size_t n) {
  size_t k = std::min({n, chunk_, data_.size() - pos_});
  std::copy_n(data_.data() + pos_, k, buf);
  pos_ += k;
  return k;
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
