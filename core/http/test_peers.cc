#include "core/http/test_peers.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/base/strings.h"
#include "tests/support/test_support.h"

namespace core::http::testing {
namespace {

int listen_loopback(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    ADD_FAILURE() << "cannot listen on 127.0.0.1: " << std::strerror(errno);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// Connects to a numeric IPv4 address or localhost; -1 on failure.
int connect_to(std::string host, uint16_t port) {
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Copies bytes both ways until either side closes.
void pump(int a, int b) {
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  char buf[16384];
  while (::poll(fds, 2, -1) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) return;
      write_all(fds[1 - i].fd, std::string_view(buf, static_cast<size_t>(n)));
    }
  }
}

bool split_host_port(std::string_view authority, std::string* host, uint16_t* port) {
  size_t colon = authority.rfind(':');
  if (colon == authority.npos) return false;
  auto value = parse_u64(authority.substr(colon + 1));
  if (!value || *value > 65535) return false;
  *host = std::string(authority.substr(0, colon));
  *port = static_cast<uint16_t>(*value);
  return true;
}

}  // namespace

std::string read_head(int fd) {
  std::string head;
  char c;
  while (!head.ends_with("\r\n\r\n")) {
    if (::read(fd, &c, 1) != 1) return "";
    head.push_back(c);
  }
  return head;
}

std::string head_field(const std::string& head, const std::string& name) {
  std::string lower = to_lower(head);
  size_t at = lower.find("\r\n" + to_lower(name) + ":");
  if (at == std::string::npos) return "";
  size_t start = at + 3 + name.size();
  return std::string(trim(std::string_view(head).substr(start, head.find("\r\n", start) - start)));
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

RawServer::RawServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = listen_loopback(&port_);
  thread_ = std::thread([this] { serve(); });
}

RawServer::~RawServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

std::string RawServer::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

std::vector<std::string> RawServer::heads() const {
  std::lock_guard lock(mu_);
  return heads_;
}

void RawServer::serve() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    ++connections_;
    std::string head = read_head(fd);
    {
      std::lock_guard lock(mu_);
      heads_.push_back(head);
    }
    if (!head.empty()) handler_(fd, head);
    ::close(fd);
  }
}

TestProxy::TestProxy(std::string required_auth) : required_auth_(std::move(required_auth)) {
  listen_fd_ = listen_loopback(&port_);
  thread_ = std::thread([this] { serve(); });
}

TestProxy::~TestProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& worker : workers) worker.join();
  ::close(listen_fd_);
}

std::string TestProxy::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

std::vector<std::string> TestProxy::request_lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

void TestProxy::serve() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard lock(mu_);
    open_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { handle(fd); });
  }
}

void TestProxy::handle(int client) {
  std::string head = read_head(client);
  std::string line = head.substr(0, head.find("\r\n"));
  int upstream = -1;
  {
    std::lock_guard lock(mu_);
    if (!line.empty()) lines_.push_back(line);
  }
  std::vector<std::string_view> parts = split(line, ' ');
  std::string host;
  uint16_t port = 0;
  if (!required_auth_.empty() && head_field(head, "Proxy-Authorization") != required_auth_) {
    write_all(client, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
  } else if (parts.size() == 3 && parts[0] == "CONNECT" &&
             split_host_port(parts[1], &host, &port)) {
    upstream = connect_to(host, port);
    write_all(client, upstream >= 0 ? "HTTP/1.1 200 Connection established\r\n\r\n"
                                    : "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
  } else if (parts.size() == 3 && parts[1].starts_with("http://")) {
    std::string_view rest = parts[1].substr(7);
    if (split_host_port(rest.substr(0, rest.find('/')), &host, &port)) {
      upstream = connect_to(host, port);
      if (upstream >= 0) write_all(upstream, head);
    }
  }
  if (upstream >= 0) {
    pump(client, upstream);
    ::close(upstream);
  }
  std::lock_guard lock(mu_);
  std::erase(open_fds_, client);
  ::close(client);
}

std::optional<TestPki> make_test_pki(const std::string& dir) {
  if (!testing_support::have_program("openssl")) {
    std::cerr << "openssl command not found\n";
    return std::nullopt;
  }
  TestPki pki{dir + "/ca.crt",    dir + "/leaf.crt",  dir + "/leaf.key",
              dir + "/wrong.crt", dir + "/wrong.key", dir + "/other-ca.crt"};
  auto sh = [&](const std::string& script) {
    auto out = testing_support::run({"sh", "-ec", "cd " + dir + "\n" + script});
    if (out.exit_code != 0) std::cerr << "openssl failed: " << out.out << "\n";
    return out.exit_code == 0;
  };
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  auto leaf = [&](const std::string& name, const std::string& san, int serial) {
    return fmt::format(
        "openssl req {key} -keyout {n}.key -out {n}.csr -subj /CN={n}\n"
        "printf 'subjectAltName={san}\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n'"
        " > {n}.ext\n"
        "openssl x509 -req -in {n}.csr -CA ca.crt -CAkey ca.key -set_serial {serial} -days 2"
        " -extfile {n}.ext -out {n}.crt\n",
        fmt::arg("key", key), fmt::arg("n", name), fmt::arg("san", san),
        fmt::arg("serial", serial));
  };
  auto make_ca = [&](const std::string& name) {
    return fmt::format("openssl req -x509 {} -keyout {} -out {} -subj /CN={} -days 2\n", key,
                       name + ".key", name + ".crt", name);
  };
  bool ok =
      sh(make_ca("ca") + make_ca("other-ca") + leaf("leaf", "IP:127.0.0.1,DNS:localhost", 1001) +
         leaf("wrong", "DNS:example.test", 1002));
  if (!ok) return std::nullopt;
  return pki;
}

const TestPki* shared_test_pki() {
  static TempDir dir = testing_support::make_temp_dir();
  static std::optional<TestPki> pki = make_test_pki(dir.path());
  return pki ? &*pki : nullptr;
}

std::string pattern_bytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

}  // namespace core::http::testing
