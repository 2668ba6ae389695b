#include "k3s/agent/cni.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/fs/files.h"

namespace k3s::agent {

std::string cni_conflist(const std::string& pod_cidr, bool masquerade) {
  nlohmann::json bridge = {{"type", "bridge"},
                           {"bridge", "cni0"},
                           {"isGateway", true},
                           {"ipMasq", masquerade},
                           {"hairpinMode", true},
                           {"ipam",
                            {{"type", "host-local"},
                             {"dataDir", "/run/k3s/cni/networks"},
                             {"ranges", {{{{"subnet", pod_cidr}}}}},
                             {"routes", {{{"dst", "0.0.0.0/0"}}}}}}};
  nlohmann::json portmap = {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}};
  nlohmann::json list = {{"cniVersion", "1.0.0"}, {"name", "cbr0"}, {"plugins", {bridge, portmap}}};
  return list.dump(2) + "\n";
}

std::optional<std::string> cni_bin_dir(const std::string& data_dir) {
  char self[4096] = {0};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string beside = n > 0 ? core::dir_name(std::string(self, static_cast<size_t>(n))) : "";
  for (const std::string& dir : {data_dir + "/data/current/bin", beside,
                                 std::string("/usr/lib/cni"), std::string("/opt/cni/bin")}) {
    if (!dir.empty() && core::path_exists(dir + "/bridge")) return dir;
  }
  return std::nullopt;
}

}  // namespace k3s::agent
