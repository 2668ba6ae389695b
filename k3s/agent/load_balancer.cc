#include "k3s/agent/load_balancer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/ranges.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/base/log.h"

namespace k3s::agent {

int dial_tcp(const std::string& server, int timeout_ms) {
  size_t colon = server.rfind(':');
  if (colon == std::string::npos) return -1;
  std::string host = server.substr(0, colon), port = server.substr(colon + 1);
  if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    bool up = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!up && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      up = ::poll(&p, 1, timeout_ms) == 1 &&
           ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    if (!up) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

namespace {

// Copies from one socket to the other until EOF, then half-closes the other's write side.
void pump(int from, int to) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) {
        ::shutdown(from, SHUT_RD);
        ::shutdown(to, SHUT_WR);
        return;
      }
      off += w;
    }
  }
  ::shutdown(to, SHUT_WR);
}

}  // namespace

core::Result<std::unique_ptr<LoadBalancer>> LoadBalancer::start(uint16_t port,
                                                                std::vector<std::string> servers) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return core::fail_errno(errno, "load balancer socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    return core::failf(core::Errc::kUnavailable, "load balancer on 127.0.0.1:{}: {}", port,
                       std::strerror(e));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto shared = std::make_shared<Shared>();
  shared->port = ntohs(addr.sin_port);
  shared->servers = std::move(servers);
  std::unique_ptr<LoadBalancer> lb(new LoadBalancer(fd, std::move(shared)));
  lb->acceptor_ = std::thread([p = lb.get()] { p->accept_loop(); });
  core::log::info("Running load balancer 127.0.0.1:{} -> [{}]", lb->port_,
                  fmt::join(lb->servers(), " "));
  return lb;
}

LoadBalancer::LoadBalancer(int fd, std::shared_ptr<Shared> shared)
    : listen_fd_(fd), port_(shared->port), shared_(std::move(shared)) {}

LoadBalancer::~LoadBalancer() { stop(); }

void LoadBalancer::set_servers(std::vector<std::string> servers) {
  if (servers.empty()) return;
  Shared& s = *shared_;
  std::lock_guard lock(s.mu);
  if (servers == s.servers) return;
  std::string was = s.current < s.servers.size() ? s.servers[s.current] : "";
  s.servers = std::move(servers);
  s.current = 0;
  for (size_t i = 0; i < s.servers.size(); ++i)
    if (s.servers[i] == was) s.current = i;
}

std::vector<std::string> LoadBalancer::servers() {
  std::lock_guard lock(shared_->mu);
  return shared_->servers;
}

void LoadBalancer::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
}

void LoadBalancer::accept_loop() {
  while (!stopping_) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::thread([shared = shared_, client] { serve(shared, client); }).detach();
  }
}

int LoadBalancer::dial(Shared& shared) {
  std::vector<std::string> servers;
  size_t first;
  {
    std::lock_guard lock(shared.mu);
    servers = shared.servers;
    first = shared.current;
  }
  for (size_t i = 0; i < servers.size(); ++i) {
    size_t at = (first + i) % servers.size();
    int fd = dial_tcp(servers[at], 3000);
    if (fd < 0) continue;
    if (at != first) {
      core::log::info("Load balancer 127.0.0.1:{}: now using {}", shared.port, servers[at]);
      std::lock_guard lock(shared.mu);
      if (shared.servers == servers) shared.current = at;
    }
    return fd;
  }
  return -1;
}

void LoadBalancer::serve(const std::shared_ptr<Shared>& shared, int client) {
  int server = dial(*shared);
  if (server < 0) {
    ::close(client);
    return;
  }
  int one = 1;
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::thread back([client, server] { pump(server, client); });
  pump(client, server);
  back.join();
  ::close(server);
  ::close(client);
}

}  // namespace k3s::agent
