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

}  // namespace core
