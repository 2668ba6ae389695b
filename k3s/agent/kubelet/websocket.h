// The server side of WebSocket (RFC 6455) as the Kubernetes streaming protocols use it: the
// handshake's accept key, and frames: client frames (masked, possibly fragmented) parsed into
// messages, server frames written unmasked. Pure functions and a parser object (one per
// connection, not thread-safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace k3s::agent::kubelet::ws {

enum Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10
};

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string accept_key(std::string_view key);

// One frame, FIN set, unmasked.
std::string frame(Opcode op, std::string_view payload);

struct Message {
  Opcode op;
  std::string payload;
};

class Parser {
 public:
  // Feeds bytes; complete messages (fragments joined; control frames as they come) are
  // appended to out. False on a protocol error (unmasked client frame, oversized message).
  bool feed(std::string_view data, std::vector<Message>& out);

 private:
  std::string buffer_;
  std::optional<Opcode> fragmented_;
  std::string fragments_;
};

}  // namespace k3s::agent::kubelet::ws
