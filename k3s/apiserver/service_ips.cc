#include "k3s/apiserver/service_ips.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "k3s/server/net.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

constexpr int kNodePortMin = 30000, kNodePortMax = 32767;

void used(datastore::Backend& store, std::set<std::string>& ips, std::set<int>& ports) {
  auto all = store.list(datastore::Range::prefix("/registry/services/specs/"), {});
  if (!all) return;
  for (const auto& kv : all->kvs) {
    json s = json::parse(kv.value, nullptr, false);
    if (!s.is_object()) continue;
    const json& spec = s.value("spec", json::object());
    for (const auto& ip : spec.value("clusterIPs", json::array())) {
      if (ip.is_string()) ips.insert(ip.get<std::string>());
    }
    if (spec.value("clusterIP", "") != "") ips.insert(spec.value("clusterIP", ""));
    for (const auto& p : spec.value("ports", json::array())) {
      if (p.value("nodePort", 0) > 0) ports.insert(p.value("nodePort", 0));
    }
  }
}

// Addresses in the CIDR, capped (IPv6 ranges are huge; a service range never needs more).
uint64_t range_size(const std::string& cidr) {
  size_t slash = cidr.find('/');
  int prefix = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
  int bits = (cidr.find(':') != std::string::npos ? 128 : 32) - prefix;
  return bits >= 20 ? (uint64_t{1} << 20) : (uint64_t{1} << bits);
}

std::optional<uint32_t> ipv4(const std::string& text) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return std::nullopt;
  if (a > 255 || b > 255 || c > 255 || d > 255) return std::nullopt;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// Whether ip is a host address of the CIDR (not its network or broadcast address). IPv6
// ranges are checked by family only.
bool inside_range(const std::string& cidr, const std::string& ip, uint64_t size) {
  auto base = ipv4(cidr.substr(0, cidr.find('/')));
  auto addr = ipv4(ip);
  if (!base || !addr)
    return server::parse_ip(ip).has_value() && ip.find(':') != std::string::npos &&
           cidr.find(':') != std::string::npos;
  uint64_t offset = static_cast<uint64_t>(*addr) - *base;
  return *addr > *base && offset + 1 < size;
}

}  // namespace

std::optional<std::string> allocate_service(datastore::Backend& store,
                                            const std::string& service_cidr, json& svc) {
  std::string name = svc["metadata"].value("name", "");
  json& spec = svc["spec"];
  if (!spec.is_object()) spec = json::object();
  std::string type = spec.value("type", "ClusterIP");
  spec["type"] = type;
  if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
  auto invalid = [&](const std::string& field, const std::string& value, const std::string& why) {
    return fmt::format("Service \"{}\" is invalid: {}: Invalid value: {}: {}", name, field, value,
                       why);
  };
  std::set<std::string> ips;
  std::set<int> ports;
  used(store, ips, ports);
  if (type != "ExternalName") {
    std::string ip = spec.value("clusterIP", "");
    if (ip.empty() && spec.contains("clusterIPs") && !spec["clusterIPs"].empty())
      ip = spec["clusterIPs"][0].get<std::string>();
    uint64_t size = range_size(service_cidr);
    if (ip.empty()) {
      // Dynamic addresses come from above the lower band, which static ones use.
      uint64_t band = std::clamp<uint64_t>(size / 16, 16, 256);
      for (uint64_t i = 0; i + 2 < size && ip.empty(); ++i) {
        uint64_t n = 1 + (band + i) % (size - 2);
        auto candidate = server::nth_address(service_cidr, n);
        if (candidate && !ips.count(*candidate)) ip = *candidate;
      }
      if (ip.empty()) return invalid("spec.clusterIPs", "[]", "range is full");
    } else if (ip != "None") {
      std::string quoted = fmt::format("[]string{{\"{}\"}}", ip);
      if (!inside_range(service_cidr, ip, size)) {
        return invalid(
            "spec.clusterIPs", quoted,
            fmt::format("failed to allocate IP {}: provided IP is not in the valid range. "
                        "The range of valid IPs is {}",
                        ip, service_cidr));
      }
      if (ips.count(ip)) {
        return invalid(
            "spec.clusterIPs", quoted,
            fmt::format("failed to allocate IP {}: provided IP is already allocated", ip));
      }
    }
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = {ip};
    if (ip != "None") {
      spec["ipFamilies"] = {ip.find(':') != std::string::npos ? "IPv6" : "IPv4"};
      spec["ipFamilyPolicy"] = "SingleStack";
      spec["internalTrafficPolicy"] = spec.value("internalTrafficPolicy", "Cluster");
    }
  }
  bool node_ports = type == "NodePort" || type == "LoadBalancer";
  json& list = spec["ports"];
  if (!list.is_array()) list = json::array();
  int next = kNodePortMin;
  for (size_t i = 0; i < list.size(); ++i) {
    json& p = list[i];
    if (!p.contains("protocol")) p["protocol"] = "TCP";
    if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
    if (!node_ports) continue;
    int port = p.value("nodePort", 0);
    std::string field = fmt::format("spec.ports[{}].nodePort", i);
    if (port == 0) {
      while (next <= kNodePortMax && ports.count(next)) ++next;
      if (next > kNodePortMax) return invalid(field, "0", "range is full");
      port = next;
    } else if (port < kNodePortMin || port > kNodePortMax) {
      return invalid(field, std::to_string(port),
                     fmt::format("provided port is not in the valid range. The range of valid "
                                 "ports is {}-{}",
                                 kNodePortMin, kNodePortMax));
    } else if (ports.count(port)) {
      return invalid(field, std::to_string(port), "provided port is already allocated");
    }
    ports.insert(port);
    p["nodePort"] = port;
  }
  return std::nullopt;
}

void keep_service_allocations(const json& previous, json& svc) {
  const json& before = previous.value("spec", json::object());
  json& spec = svc["spec"];
  if (!spec.is_object()) return;
  for (const char* k : {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"}) {
    if (!spec.contains(k) && before.contains(k)) spec[k] = before[k];
  }
  if (!spec.contains("ports") || !spec["ports"].is_array()) return;
  for (auto& p : spec["ports"]) {
    if (p.contains("nodePort")) continue;
    for (const auto& old : before.value("ports", json::array())) {
      if (old.value("port", -1) == p.value("port", -2) && old.contains("nodePort"))
        p["nodePort"] = old["nodePort"];
    }
  }
}

}  // namespace k3s::apiserver
