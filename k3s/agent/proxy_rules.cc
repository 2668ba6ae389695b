#include "k3s/agent/proxy_rules.h"

#include <fmt/format.h>

#include <map>

#include "core/crypto/sha256.h"

namespace k3s::agent {
namespace {

using json = nlohmann::json;

// One port of one Service, with what it needs to be reached.
struct ServicePort {
  std::string name;      // "ns/svc:port", or "ns/svc" for an unnamed port
  std::string protocol;  // "tcp", "udp", "sctp"
  std::string cluster_ip;
  int64_t port = 0, node_port = 0;
  std::vector<std::string> external;   // externalIPs and LoadBalancer ingress IPs
  std::vector<std::string> endpoints;  // "ip:port", sorted
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const json& field(const json& o, const char* key) {
  static const json kEmpty = json::object();
  auto it = o.find(key);
  return it != o.end() && it->is_object() ? *it : kEmpty;
}

// The endpoints of a Service port: ready ones, else those serving while terminating (as
// kube-proxy falls back to them).
std::vector<std::string> endpoints_of(const json& service, const json& port,
                                      const std::vector<json>& slices) {
  const json& meta = field(service, "metadata");
  std::set<std::string> ready, terminating;
  for (const json& slice : slices) {
    const json& sm = field(slice, "metadata");
    if (sm.value("namespace", "") != meta.value("namespace", "") ||
        field(sm, "labels").value("kubernetes.io/service-name", "") != meta.value("name", ""))
      continue;
    for (const json& sp : slice.value("ports", json::array())) {
      if (sp.value("name", "") != port.value("name", "") ||
          sp.value("protocol", "TCP") != port.value("protocol", "TCP") || !sp.contains("port"))
        continue;
      for (const json& e : slice.value("endpoints", json::array())) {
        const json& addresses = e.value("addresses", json::array());
        if (addresses.empty() || !addresses[0].is_string()) continue;
        std::string target =
            fmt::format("{}:{}", addresses[0].get<std::string>(), sp["port"].get<int64_t>());
        const json& c = field(e, "conditions");
        if (c.value("ready", true))
          ready.insert(target);
        else if (c.value("serving", false) && c.value("terminating", false))
          terminating.insert(target);
      }
    }
  }
  const auto& chosen = ready.empty() ? terminating : ready;
  return {chosen.begin(), chosen.end()};
}

std::vector<ServicePort> service_ports(const ProxyState& state) {
  std::vector<ServicePort> out;
  for (const json& s : state.services) {
    const json& spec = field(s, "spec");
    std::string cluster_ip = spec.value("clusterIP", "");
    if (cluster_ip.empty() || cluster_ip == "None" || spec.value("type", "") == "ExternalName")
      continue;
    std::vector<std::string> external;
    for (const json& ip : spec.value("externalIPs", json::array()))
      if (ip.is_string()) external.push_back(ip);
    for (const json& in : field(field(s, "status"), "loadBalancer").value("ingress", json::array()))
      if (in.is_object() && in.contains("ip")) external.push_back(in["ip"]);
    const json& meta = field(s, "metadata");
    std::string base = meta.value("namespace", "") + "/" + meta.value("name", "");
    for (const json& p : spec.value("ports", json::array())) {
      std::string port_name = p.value("name", "");
      out.push_back({.name = port_name.empty() ? base : base + ":" + port_name,
                     .protocol = lower(p.value("protocol", "TCP")),
                     .cluster_ip = cluster_ip,
                     .port = p.value("port", int64_t{0}),
                     .node_port = p.value("nodePort", int64_t{0}),
                     .external = external,
                     .endpoints = endpoints_of(s, p, state.slices)});
    }
  }
  return out;
}

// "-p tcp -m tcp --dport 80"
std::string match(const ServicePort& p, int64_t port) {
  return fmt::format("-p {0} -m {0} --dport {1}", p.protocol, port);
}

// The nat rules in the order they are written, and the filter table's.
struct Tables {
  std::vector<std::string> chains = {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING",
                                     "KUBE-MARK-MASQ"};
  std::string rules, node_ports, endpoints, rejects;
};

// A port without endpoints: its addresses refuse connections.
void add_rejects(const ServicePort& p, Tables& t) {
  std::string why = fmt::format("-m comment --comment \"{} has no endpoints\" -j REJECT", p.name);
  t.rejects +=
      fmt::format("-A KUBE-SERVICES -d {}/32 {} {}\n", p.cluster_ip, match(p, p.port), why);
  for (const auto& ip : p.external)
    t.rejects +=
        fmt::format("-A KUBE-EXTERNAL-SERVICES -d {}/32 {} {}\n", ip, match(p, p.port), why);
  if (p.node_port)
    t.rejects += fmt::format("-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL {} {}\n",
                             match(p, p.node_port), why);
}

// KUBE-SVC (and KUBE-EXT for node ports and external addresses) of a port, and a KUBE-SEP
// per endpoint, each picked with equal probability.
void add_service(const ServicePort& p, const std::string& cluster_cidr, Tables& t) {
  std::string svc = chain_name("KUBE-SVC-", p.name + p.protocol);
  t.chains.push_back(svc);
  t.rules +=
      fmt::format("-A KUBE-SERVICES -d {}/32 {} -m comment --comment \"{} cluster IP\" -j {}\n",
                  p.cluster_ip, match(p, p.port), p.name, svc);
  t.rules += fmt::format("-A {} ! -s {} -d {}/32 {} -j KUBE-MARK-MASQ\n", svc, cluster_cidr,
                         p.cluster_ip, match(p, p.port));
  if (!p.external.empty() || p.node_port) {
    std::string ext = chain_name("KUBE-EXT-", p.name + p.protocol);
    t.chains.push_back(ext);
    t.rules += fmt::format(
        "-A {0} -m comment --comment \"masquerade traffic for {1} external "
        "destinations\" -j KUBE-MARK-MASQ\n-A {0} -j {2}\n",
        ext, p.name, svc);
    for (const auto& ip : p.external)
      t.rules += fmt::format(
          "-A KUBE-SERVICES -d {}/32 {} -m comment --comment \"{} external IP\" -j {}\n", ip,
          match(p, p.port), p.name, ext);
    if (p.node_port)
      t.node_ports += fmt::format("-A KUBE-NODEPORTS {} -m comment --comment \"{}\" -j {}\n",
                                  match(p, p.node_port), p.name, ext);
  }
  size_t n = p.endpoints.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& target = p.endpoints[i];
    std::string sep = chain_name("KUBE-SEP-", p.name + p.protocol + target);
    t.chains.push_back(sep);
    std::string pick = i + 1 < n ? fmt::format("-m statistic --mode random --probability {:.10f} ",
                                               1.0 / static_cast<double>(n - i))
                                 : "";
    t.rules += fmt::format("-A {} -m comment --comment \"{} -> {}\" {}-j {}\n", svc, p.name, target,
                           pick, sep);
    t.endpoints += fmt::format(
        "-A {0} -s {1}/32 -j KUBE-MARK-MASQ\n-A {0} -p {2} -m {2} -j DNAT "
        "--to-destination {3}\n",
        sep, target.substr(0, target.rfind(':')), p.protocol, target);
  }
}

}  // namespace

std::string chain_name(const std::string& prefix, const std::string& text) {
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  core::Sha256::Digest d = core::Sha256::of(text);
  std::string out = prefix;
  // 16 characters of 5 bits: the first 10 bytes.
  uint64_t bits = 0;
  int held = 0;
  for (size_t i = 0; out.size() < prefix.size() + 16; ++i) {
    bits = (bits << 8) | d[i];
    held += 8;
    while (held >= 5 && out.size() < prefix.size() + 16) {
      held -= 5;
      out += kBase32[(bits >> held) & 31];
    }
  }
  return out;
}

std::string render_proxy_rules(const ProxyState& state) {
  std::string flannel =
      !state.pod_network
          ? ""
          : fmt::format(
                "-A FLANNEL-POSTRTG -s {0} -d {0} -m comment --comment \"pod to pod\" -j RETURN\n"
                "-A FLANNEL-POSTRTG -s {0} ! -d 224.0.0.0/4 -m comment --comment \"pods leaving "
                "the cluster network\" -j MASQUERADE --random-fully\n",
                state.cluster_cidr);
  if (!state.service_rules)
    return flannel.empty() ? "" : "*nat\n:FLANNEL-POSTRTG - [0:0]\n" + flannel + "COMMIT\n";
  Tables t;
  if (state.pod_network) t.chains.push_back("FLANNEL-POSTRTG");
  t.rules = flannel +
            "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring "
            "SNAT\" -j MASQUERADE --random-fully\n"
            "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
  for (const ServicePort& p : service_ports(state)) {
    if (p.endpoints.empty())
      add_rejects(p, t);
    else
      add_service(p, state.cluster_cidr, t);
  }
  std::string nat = "*nat\n", removed;
  std::set<std::string> wanted(t.chains.begin(), t.chains.end());
  for (const auto& c : t.chains) nat += ":" + c + " - [0:0]\n";
  for (const auto& c : state.existing_chains) {
    if (wanted.count(c)) continue;
    nat += ":" + c + " - [0:0]\n";
    removed += "-X " + c + "\n";
  }
  return nat + t.rules + t.node_ports + t.endpoints +
         "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n" + removed +
         "COMMIT\n*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n" + t.rejects +
         "COMMIT\n";
}

}  // namespace k3s::agent
