// The agent's client-side load balancer, as upstream's: a TCP proxy on 127.0.0.1:<lb-server-port>
// (6444) that the agent's kubeconfigs point at. Each connection goes to the server that
// answered last, else to the next one of the list (/v1-k3s/apiservers) that accepts a
// connection within three seconds, so the agent keeps working while any server is up. TLS
// passes through untouched: the agent still verifies the server's certificate (127.0.0.1 is
// among its names). Thread-safe; a thread per direction of each connection, which ends with
// the connection (stop() ends only the listener).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/error.h"

namespace k3s::agent {

// A blocking TCP connection to "host:port" ("[v6]:port" too) made within timeout_ms; -1 when
// none could be made. The caller owns the descriptor.
int dial_tcp(const std::string& server, int timeout_ms);

class LoadBalancer {
 public:
  // Listens on 127.0.0.1:port (0 picks one). servers: "host:port". kUnavailable when the port is
  // taken.
  static core::Result<std::unique_ptr<LoadBalancer>> start(uint16_t port,
                                                           std::vector<std::string> servers);
  ~LoadBalancer();
  uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // Replaces the list (from a fresh /v1-k3s/apiservers); connections in flight stay.
  void set_servers(std::vector<std::string> servers);
  std::vector<std::string> servers();
  void stop();

 private:
  // What connections in flight share with the balancer; they may outlive it.
  struct Shared {
    uint16_t port = 0;
    std::mutex mu;
    std::vector<std::string> servers;  // guarded by mu
    size_t current = 0;                // guarded by mu: the one that answered last
  };
  LoadBalancer(int fd, std::shared_ptr<Shared> shared);
  void accept_loop();
  static void serve(const std::shared_ptr<Shared>& shared, int client);
  static int dial(Shared& shared);  // a connected socket to a server, -1 when none answers

  int listen_fd_;
  uint16_t port_;
  std::shared_ptr<Shared> shared_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
};

}  // namespace k3s::agent
