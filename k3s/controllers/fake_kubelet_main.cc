// k3s_fake_kubelet KUBECONFIG [PERIOD_MS [LEASE_SECONDS]]: plays the kubelet of the "fake-*"
// nodes (fake_kubelet.h) against a running server, for end-to-end tests and benchmarks without
// agents: polls every PERIOD_MS (100) and renews leases every LEASE_SECONDS (1; kubelets renew
// every 10). Runs until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "k3s/client/kube_client.h"
#include "k3s/controllers/fake_kubelet.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: k3s_fake_kubelet KUBECONFIG [PERIOD_MS [LEASE_SECONDS]]\n");
    return 2;
  }
  auto endpoint = k3s::client::load_kubeconfig(argv[1]);
  if (!endpoint) {
    std::fprintf(stderr, "k3s_fake_kubelet: %s\n", endpoint.error().message().c_str());
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  k3s::client::KubeClient client(*endpoint);
  k3s::controllers::FakeKubelet kubelet(
      [&client](const std::string& method, const std::string& path, const nlohmann::json* body,
                const std::string& type) { return client.call(method, path, body, type); },
      std::chrono::milliseconds(argc > 2 ? std::atoi(argv[2]) : 100),
      argc > 3 ? std::atoi(argv[3]) : 1);
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
