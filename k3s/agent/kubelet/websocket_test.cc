// WebSocket framing as kubectl's streaming clients use it: the RFC 6455 accept key, masked and
// fragmented client frames, the three length encodings, and refusals.
#include "k3s/agent/kubelet/websocket.h"

#include <gtest/gtest.h>

namespace k3s::agent::kubelet::ws {
namespace {

// A client frame: masked with a fixed key.
std::string client_frame(uint8_t first, std::string_view payload) {
  std::string f = frame(static_cast<Opcode>(first & 0x0f), payload);
  f[0] = static_cast<char>(first);
  size_t header = payload.size() < 126 ? 2 : payload.size() <= 0xffff ? 4 : 10;
  std::string out = f.substr(0, header);
  out[1] = static_cast<char>(out[1] | 0x80);
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  out.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ key[i % 4]);
  return out;
}

TEST(WebSocketTest, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, ServerFramesUseTheShortestLength) {
  EXPECT_EQ(frame(kBinary, "ab"), std::string("\x82\x02"
                                              "ab",
                                              4));
  EXPECT_EQ(frame(kBinary, std::string(300, 'x')).substr(0, 4), std::string("\x82\x7e\x01\x2c", 4));
  EXPECT_EQ(frame(kBinary, std::string(70000, 'x')).substr(0, 10),
            std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
}

TEST(WebSocketTest, ParsesMaskedFramesFedInPieces) {
  std::string big(70000, 'y');
  std::string wire = client_frame(0x82, std::string("\0hello", 6)) + client_frame(0x82, big) +
                     client_frame(0x89, "ping");
  Parser p;
  std::vector<Message> out;
  for (size_t i = 0; i < wire.size(); i += 1000) ASSERT_TRUE(p.feed(wire.substr(i, 1000), out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].payload, std::string("\0hello", 6));
  EXPECT_EQ(out[1].payload, big);
  EXPECT_EQ(out[2].op, kPing);
}

TEST(WebSocketTest, JoinsFragmentsAroundControlFrames) {
  std::string wire =
      client_frame(0x02, "par") + client_frame(0x8a, "pong") + client_frame(0x80, "tial");
  Parser p;
  std::vector<Message> out;
  ASSERT_TRUE(p.feed(wire, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].op, kPong);
  EXPECT_EQ(out[1].op, kBinary);
  EXPECT_EQ(out[1].payload, "partial");
}

TEST(WebSocketTest, RefusesUnmaskedAndStrayFrames) {
  std::vector<Message> out;
  Parser unmasked;
  EXPECT_FALSE(unmasked.feed(frame(kBinary, "x"), out));
  Parser stray;
  EXPECT_FALSE(stray.feed(client_frame(0x80, "continuation without a start"), out));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace k3s::agent::kubelet::ws
