// k3s-standin: the process inside the stand-in images that the main job and the end-to-end
// tests build from local files for the packaged components (CoreDNS, Traefik,
// local-path-provisioner, metrics-server), where the real images cannot be pulled. It serves
// what the packaged manifests probe — every path answers 200 "ok" — on the HTTP and HTTPS ports
// it is given, logs what it stands in for and the arguments the manifest passed, and exits 0 on
// SIGTERM or SIGINT. Usage:
//   k3s-standin NAME [--http PORT,...] [--https PORT,... --tls-cert F --tls-key F] [ARGS...]
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "core/http/server.h"

namespace {

struct Options {
  std::string name;
  std::vector<uint16_t> http, https;
  std::string tls_cert, tls_key;
  std::vector<std::string> rest;
};

bool parse_ports(const std::string& list, std::vector<uint16_t>& out) {
  for (auto p : core::split(list, ',')) {
    int port = std::atoi(std::string(p).c_str());
    if (port <= 0 || port > 65535) return false;
    out.push_back(static_cast<uint16_t>(port));
  }
  return true;
}

bool parse(int argc, char** argv, Options& o) {
  if (argc < 2) return false;
  o.name = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--http" && has_value) {
      if (!parse_ports(argv[++i], o.http)) return false;
    } else if (a == "--https" && has_value) {
      if (!parse_ports(argv[++i], o.https)) return false;
    } else if (a == "--tls-cert" && has_value) {
      o.tls_cert = argv[++i];
    } else if (a == "--tls-key" && has_value) {
      o.tls_key = argv[++i];
    } else {
      o.rest.push_back(a);
    }
  }
  return o.https.empty() || (!o.tls_cert.empty() && !o.tls_key.empty());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: k3s-standin NAME [--http PORT,...] [--https PORT,... --tls-cert F "
                 "--tls-key F] [ARGS...]\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before the servers' threads start

  auto handler = [](const core::http::ServerRequest&, core::http::ResponseWriter& w) {
    w.add_header("Content-Type", "text/plain");
    w.send("ok\n");
  };
  std::vector<std::unique_ptr<core::http::Server>> servers;
  auto listen = [&](uint16_t port, bool tls) {
    core::http::ServerOptions so{.address = "0.0.0.0", .port = port, .threads = 1};
    if (tls) {
      so.tls_cert_file = o.tls_cert;
      so.tls_key_file = o.tls_key;
    }
    auto s = core::http::Server::start(so, handler);
    if (!s) {
      std::fprintf(stderr, "k3s-standin %s: %s\n", o.name.c_str(), s.error().message().c_str());
      return false;
    }
    servers.push_back(std::move(*s));
    return true;
  };
  for (uint16_t p : o.http)
    if (!listen(p, false)) return 1;
  for (uint16_t p : o.https)
    if (!listen(p, true)) return 1;
  std::string args;
  for (const auto& a : o.rest) args += " " + a;
  std::printf("stand-in for %s: %zu HTTP and %zu HTTPS ports, started with:%s\n", o.name.c_str(),
              o.http.size(), o.https.size(), args.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  std::printf("stand-in for %s: signal %d, stopping\n", o.name.c_str(), sig);
  return 0;
}
