// Server internals, private to core/http (includes Beast): the state a Server shares with its
// connections, and the entry point that starts serving one accepted connection.
//
// ServerState is held by shared_ptr because every session (an object kept alive by its own
// pending asynchronous operations) must be able to reach it after Server::stop() has given up
// waiting for it. Its mutex guards the session registry only.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/http/server.h"

namespace core::http::detail {

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for a request; runs on the session's strand.
  virtual void close_if_idle() = 0;
};

struct ServerState {
  ServerOptions options;
  Handler handler;
  std::unique_ptr<boost::asio::ssl::context> tls;  // null: plain HTTP
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> accepted{0};

  uint64_t add_session(std::weak_ptr<SessionBase> session);
  void remove_session(uint64_t id);
  std::vector<std::shared_ptr<SessionBase>> live_sessions();
  // Waits until no session is left or the deadline passes; true when none is left.
  bool wait_for_sessions(std::chrono::steady_clock::time_point deadline);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::weak_ptr<SessionBase>> sessions_;  // guarded by mu_
  uint64_t next_id_ = 0;                                     // guarded by mu_
};

// Serves HTTP (or HTTPS when state->tls is set) on an accepted socket until the peer leaves,
// an error occurs or the server stops.
void start_session(std::shared_ptr<ServerState> state, boost::asio::ip::tcp::socket socket);

}  // namespace core::http::detail
