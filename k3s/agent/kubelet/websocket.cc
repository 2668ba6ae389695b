#include "k3s/agent/kubelet/websocket.h"

#include <openssl/sha.h>

#include "core/crypto/base64.h"

namespace k3s::agent::kubelet::ws {

constexpr size_t kMaxMessage = 16 << 20;

std::string accept_key(std::string_view key) {
  std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return core::base64_encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

std::string frame(Opcode op, std::string_view payload) {
  std::string out;
  out += static_cast<char>(0x80 | op);
  uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  out.append(payload);
  return out;
}

bool Parser::feed(std::string_view data, std::vector<Message>& out) {
  buffer_.append(data);
  for (;;) {
    if (buffer_.size() < 2) return true;
    auto byte = [&](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
    bool fin = byte(0) & 0x80;
    auto op = static_cast<Opcode>(byte(0) & 0x0f);
    if (!(byte(1) & 0x80)) return false;  // clients must mask
    uint64_t n = byte(1) & 0x7f;
    size_t at = 2;
    if (n == 126) {
      if (buffer_.size() < 4) return true;
      n = (uint64_t{byte(2)} << 8) | byte(3);
      at = 4;
    } else if (n == 127) {
      if (buffer_.size() < 10) return true;
      n = 0;
      for (int i = 0; i < 8; ++i) n = (n << 8) | byte(2 + i);
      at = 10;
    }
    if (n > kMaxMessage) return false;
    if (buffer_.size() < at + 4 + n) return true;
    std::string payload = buffer_.substr(at + 4, n);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= buffer_[at + (i % 4)];
    buffer_.erase(0, at + 4 + n);
    if (op >= kClose) {
      out.push_back({op, std::move(payload)});
      continue;
    }
    if (op != kContinuation) {
      fragmented_ = op;
      fragments_.clear();
    }
    if (!fragmented_) return false;
    fragments_ += payload;
    if (fragments_.size() > kMaxMessage) return false;
    if (fin) {
      out.push_back({*fragmented_, std::move(fragments_)});
      fragments_.clear();
      fragmented_.reset();
    }
  }
}

}  // namespace k3s::agent::kubelet::ws
