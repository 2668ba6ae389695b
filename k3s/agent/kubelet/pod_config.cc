#include "k3s/agent/kubelet/pod_config.h"

#include <cmath>
#include <fstream>
#include <set>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/fs/files.h"
#include "k3s/agent/kubelet/fields.h"
#include "k3s/apiserver/admission.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
using core::Errc;

std::map<std::string, std::string> string_map(const json& o) {
  std::map<std::string, std::string> out;
  if (o.is_object())
    for (const auto& [k, v] : o.items())
      if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

// The host's resolv.conf: nameservers, search domains, options.
cri::v1::DNSConfig host_dns(const std::string& resolv_conf) {
  cri::v1::DNSConfig dns;
  std::ifstream in(resolv_conf);
  std::string line;
  while (std::getline(in, line)) {
    auto words = core::split(core::trim(line), ' ');
    if (words.size() < 2) continue;
    for (size_t i = 1; i < words.size(); ++i) {
      if (words[i].empty()) continue;
      std::string word(words[i]);
      if (words[0] == "nameserver") dns.add_servers(word);
      if (words[0] == "search") dns.add_searches(word);
      if (words[0] == "options") dns.add_options(word);
    }
  }
  return dns;
}

cri::v1::DNSConfig pod_dns(const json& pod, const NodeContext& node) {
  const json& spec = obj(pod, "spec");
  std::string policy = str(spec, "dnsPolicy");
  if (policy.empty()) policy = "ClusterFirst";
  bool host_network = spec.value("hostNetwork", false);
  cri::v1::DNSConfig dns;
  if (policy == "Default" || (policy == "ClusterFirst" && host_network) ||
      node.cluster_dns.empty()) {
    if (policy != "None") dns = host_dns(node.resolv_conf);
  } else if (policy != "None") {
    std::string ns = str(obj(pod, "metadata"), "namespace");
    dns.add_servers(node.cluster_dns);
    for (const auto& s :
         {ns + ".svc." + node.cluster_domain, "svc." + node.cluster_domain, node.cluster_domain})
      dns.add_searches(s);
    cri::v1::DNSConfig host = host_dns(node.resolv_conf);
    for (const auto& s : host.searches()) dns.add_searches(s);
    dns.add_options("ndots:5");
  }
  const json& extra = obj(spec, "dnsConfig");
  for (const auto& s : arr(extra, "nameservers"))
    if (s.is_string()) dns.add_servers(s.get<std::string>());
  for (const auto& s : arr(extra, "searches"))
    if (s.is_string()) dns.add_searches(s.get<std::string>());
  for (const auto& o : arr(extra, "options")) {
    std::string option = str(o, "name");
    if (!str(o, "value").empty()) option += ":" + str(o, "value");
    if (!option.empty()) dns.add_options(option);
  }
  return dns;
}

cri::v1::NamespaceOption namespaces(const json& spec) {
  cri::v1::NamespaceOption ns;
  ns.set_network(spec.value("hostNetwork", false) ? cri::v1::NODE : cri::v1::POD);
  ns.set_pid(spec.value("hostPID", false)                 ? cri::v1::NODE
             : spec.value("shareProcessNamespace", false) ? cri::v1::POD
                                                          : cri::v1::CONTAINER);
  ns.set_ipc(spec.value("hostIPC", false) ? cri::v1::NODE : cri::v1::POD);
  return ns;
}

// The downward API's fieldRef.
core::Result<std::string> field_ref(const json& pod, const std::string& path,
                                    const std::string& pod_ip, const NodeContext& node) {
  const json& meta = obj(pod, "metadata");
  auto keyed = [&](const char* prefix, const char* map) -> std::optional<std::string> {
    std::string p = std::string(prefix) + "['";
    if (!path.starts_with(p) || !path.ends_with("']")) return std::nullopt;
    return string_map(obj(meta, map))[path.substr(p.size(), path.size() - p.size() - 2)];
  };
  if (auto v = keyed("metadata.labels", "labels")) return *v;
  if (auto v = keyed("metadata.annotations", "annotations")) return *v;
  static const std::map<std::string, std::pair<const char*, const char*>> kFields = {
      {"metadata.name", {"metadata", "name"}},
      {"metadata.namespace", {"metadata", "namespace"}},
      {"metadata.uid", {"metadata", "uid"}},
      {"spec.nodeName", {"spec", "nodeName"}},
      {"spec.serviceAccountName", {"spec", "serviceAccountName"}}};
  if (auto it = kFields.find(path); it != kFields.end())
    return str(obj(pod, it->second.first), it->second.second);
  if (path == "status.podIP" || path == "status.podIPs") return pod_ip;
  if (path == "status.hostIP" || path == "status.hostIPs") return node.node_ip;
  return core::failf(Errc::kInvalid, "unsupported fieldRef {}", path);
}

std::string resource_ref(const json& container, const json& ref) {
  std::string resource = str(ref, "resource");
  size_t dot = resource.find('.');
  if (dot == std::string::npos) return "0";
  double value = quantity(obj(obj(container, "resources"), resource.substr(0, dot).c_str())
                              .value(resource.substr(dot + 1), json("0")));
  double divisor = ref.contains("divisor") ? quantity(ref["divisor"]) : 1;
  if (divisor <= 0) divisor = 1;
  return std::to_string(static_cast<int64_t>(std::ceil(value / divisor)));
}

// One key of a ConfigMap or Secret (Secrets' data is base64).
core::Result<std::optional<std::string>> key_ref(const ObjectGetter& get, const std::string& ns,
                                                 const json& ref, bool secret) {
  bool optional = ref.value("optional", false);
  auto o = get(secret ? "secrets" : "configmaps", ns, str(ref, "name"));
  if (!o) {
    if (optional && o.error().code() == Errc::kNotFound) return std::nullopt;
    return std::unexpected(o.error());
  }
  std::string key = str(ref, "key");
  if (!secret && obj(*o, "data").contains(key)) return str(obj(*o, "data"), key.c_str());
  if (secret && obj(*o, "data").contains(key))
    return K3A_TRY(core::base64_decode(str(obj(*o, "data"), key.c_str())));
  if (optional) return std::nullopt;
  return core::failf(Errc::kNotFound, "couldn't find key {} in {} {}/{}", key,
                     secret ? "Secret" : "ConfigMap", ns, str(ref, "name"));
}

core::Result<std::vector<std::pair<std::string, std::string>>> environment(
    const json& pod, const json& container, const std::string& pod_ip, const NodeContext& node,
    const ObjectGetter& get) {
  std::string ns = str(obj(pod, "metadata"), "namespace");
  std::vector<std::pair<std::string, std::string>> env;
  std::map<std::string, std::string> known;
  auto set = [&](const std::string& k, const std::string& v) {
    if (!known.count(k))
      env.emplace_back(k, v);
    else
      for (auto& e : env)
        if (e.first == k) e.second = v;
    known[k] = v;
  };
  if (!node.kubernetes_service_ip.empty()) {
    const std::string& ip = node.kubernetes_service_ip;
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"KUBERNETES_SERVICE_HOST", ip},
             {"KUBERNETES_SERVICE_PORT", "443"},
             {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
             {"KUBERNETES_PORT", "tcp://" + ip + ":443"},
             {"KUBERNETES_PORT_443_TCP", "tcp://" + ip + ":443"},
             {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
             {"KUBERNETES_PORT_443_TCP_PORT", "443"},
             {"KUBERNETES_PORT_443_TCP_ADDR", ip}})
      set(k, v);
  }
  for (const auto& from : arr(container, "envFrom")) {
    bool secret = from.contains("secretRef");
    const json& ref = obj(from, secret ? "secretRef" : "configMapRef");
    auto o = get(secret ? "secrets" : "configmaps", ns, str(ref, "name"));
    if (!o) {
      if (ref.value("optional", false) && o.error().code() == Errc::kNotFound) continue;
      return std::unexpected(o.error());
    }
    for (const auto& [k, v] : string_map(obj(*o, "data")))
      set(str(from, "prefix") + k, secret ? core::base64_decode(v).value_or("") : v);
  }
  for (const auto& e : arr(container, "env")) {
    std::string name = str(e, "name");
    if (!e.contains("valueFrom")) {
      set(name, expand_vars(str(e, "value"), known));
      continue;
    }
    const json& from = obj(e, "valueFrom");
    if (from.contains("fieldRef")) {
      set(name, K3A_TRY(field_ref(pod, str(obj(from, "fieldRef"), "fieldPath"), pod_ip, node)));
    } else if (from.contains("resourceFieldRef")) {
      set(name, resource_ref(container, obj(from, "resourceFieldRef")));
    } else {
      bool secret = from.contains("secretKeyRef");
      auto v =
          K3A_TRY(key_ref(get, ns, obj(from, secret ? "secretKeyRef" : "configMapKeyRef"), secret));
      if (v) set(name, *v);
    }
  }
  return env;
}

core::Result<void> add_mounts(cri::v1::ContainerConfig& c, const json& pod, const json& container,
                              const NodeContext& node,
                              const std::map<std::string, std::string>& volumes,
                              const std::map<std::string, std::string>& env) {
  std::set<std::string> paths;
  for (const auto& m : arr(container, "volumeMounts")) {
    std::string name = str(m, "name");
    auto it = volumes.find(name);
    if (it == volumes.end())
      return core::failf(Errc::kInvalid, "volume {} of mount {} is not prepared", name,
                         str(m, "mountPath"));
    std::string host = it->second;
    std::string sub =
        m.contains("subPathExpr") ? expand_vars(str(m, "subPathExpr"), env) : str(m, "subPath");
    if (!sub.empty()) {
      if (sub.starts_with("/") || sub == ".." || sub.starts_with("../") ||
          sub.find("/../") != std::string::npos || sub.ends_with("/.."))
        return core::failf(Errc::kInvalid, "subPath {} leaves volume {}", sub, name);
      host += "/" + sub;
      if (!core::path_exists(host)) K3A_CHECK(core::make_dirs(host, 0755));
    }
    cri::v1::Mount* mount = c.add_mounts();
    mount->set_container_path(str(m, "mountPath"));
    mount->set_host_path(host);
    mount->set_readonly(m.value("readOnly", false));
    std::string propagation = str(m, "mountPropagation");
    mount->set_propagation(propagation == "Bidirectional" ? cri::v1::PROPAGATION_BIDIRECTIONAL
                           : propagation == "HostToContainer"
                               ? cri::v1::PROPAGATION_HOST_TO_CONTAINER
                               : cri::v1::PROPAGATION_PRIVATE);
    paths.insert(str(m, "mountPath"));
  }
  std::string dir = pod_dir(pod, node);
  if (!obj(pod, "spec").value("hostNetwork", false) && !paths.count("/etc/hosts") &&
      core::path_exists(dir + "/etc-hosts")) {
    cri::v1::Mount* hosts = c.add_mounts();
    hosts->set_container_path("/etc/hosts");
    hosts->set_host_path(dir + "/etc-hosts");
  }
  std::string message_path = str(container, "terminationMessagePath");
  if (message_path.empty()) message_path = "/dev/termination-log";
  if (!paths.count(message_path)) {
    std::string log = dir + "/containers/" + str(container, "name") + "/termination-log-" +
                      std::to_string(c.metadata().attempt());
    K3A_CHECK(core::make_dirs(dir + "/containers/" + str(container, "name"), 0755));
    K3A_CHECK(core::write_file_atomic(log, ""));
    cri::v1::Mount* term = c.add_mounts();
    term->set_container_path(message_path);
    term->set_host_path(log);
  }
  return {};
}

void add_linux(cri::v1::ContainerConfig& c, const json& pod, const json& container) {
  const json& spec = obj(pod, "spec");
  cri::v1::LinuxContainerConfig* linux = c.mutable_linux();
  const json& resources = obj(container, "resources");
  cri::v1::LinuxContainerResources* r = linux->mutable_resources();
  double cpu_request = quantity(obj(resources, "requests").value("cpu", json("0")));
  double cpu_limit = quantity(obj(resources, "limits").value("cpu", json("0")));
  if (cpu_request == 0) cpu_request = cpu_limit;
  r->set_cpu_shares(std::max<int64_t>(2, static_cast<int64_t>(cpu_request * 1024)));
  if (cpu_limit > 0) {
    r->set_cpu_period(100000);
    r->set_cpu_quota(std::max<int64_t>(1000, static_cast<int64_t>(cpu_limit * 100000)));
  }
  double memory = quantity(obj(resources, "limits").value("memory", json("0")));
  if (memory > 0) r->set_memory_limit_in_bytes(static_cast<int64_t>(memory));
  cri::v1::LinuxContainerSecurityContext* sc = linux->mutable_security_context();
  *sc->mutable_namespace_options() = namespaces(spec);
  const json& pod_sc = obj(spec, "securityContext");
  const json& own = obj(container, "securityContext");
  auto pick = [&](const char* key) -> const json* {
    if (own.contains(key)) return &own[key];
    if (pod_sc.contains(key)) return &pod_sc[key];
    return nullptr;
  };
  if (const json* u = pick("runAsUser"); u && u->is_number_integer())
    sc->mutable_run_as_user()->set_value(u->get<int64_t>());
  if (const json* g = pick("runAsGroup"); g && g->is_number_integer())
    sc->mutable_run_as_group()->set_value(g->get<int64_t>());
  for (const auto& g : arr(pod_sc, "supplementalGroups"))
    if (g.is_number_integer()) sc->add_supplemental_groups(g.get<int64_t>());
  sc->set_privileged(own.value("privileged", false));
  sc->set_readonly_rootfs(own.value("readOnlyRootFilesystem", false));
  if (own.contains("allowPrivilegeEscalation"))
    sc->set_no_new_privs(!own.value("allowPrivilegeEscalation", true));
  for (const auto& cap : arr(obj(own, "capabilities"), "add"))
    if (cap.is_string()) sc->mutable_capabilities()->add_add_capabilities(cap.get<std::string>());
  for (const auto& cap : arr(obj(own, "capabilities"), "drop"))
    if (cap.is_string()) sc->mutable_capabilities()->add_drop_capabilities(cap.get<std::string>());
}

}  // namespace

double quantity(const json& q) {
  if (q.is_number()) return q.get<double>();
  if (!q.is_string()) return 0;
  return apiserver::parse_quantity(q.get<std::string>()).value_or(0);
}

std::string expand_vars(const std::string& text, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {  // "$$" is a literal "$"
      out += '$';
      ++i;
      continue;
    }
    size_t close = text[i + 1] == '(' ? text.find(')', i + 2) : std::string::npos;
    if (close == std::string::npos) {
      out += text[i];
      continue;
    }
    std::string name = text.substr(i + 2, close - i - 2);
    auto it = env.find(name);
    out += it != env.end() ? it->second : text.substr(i, close - i + 1);
    i = close;
  }
  return out;
}

std::string pod_dir(const json& pod, const NodeContext& node) {
  return node.kubelet_root + "/pods/" + str(obj(pod, "metadata"), "uid");
}

std::string pod_log_dir(const json& pod, const NodeContext& node) {
  const json& meta = obj(pod, "metadata");
  return node.log_root + "/" + str(meta, "namespace") + "_" + str(meta, "name") + "_" +
         str(meta, "uid");
}

cri::v1::PodSandboxConfig sandbox_config(const json& pod, uint32_t attempt,
                                         const NodeContext& node) {
  const json& meta = obj(pod, "metadata");
  const json& spec = obj(pod, "spec");
  cri::v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name(str(meta, "name"));
  c.mutable_metadata()->set_namespace_(str(meta, "namespace"));
  c.mutable_metadata()->set_uid(str(meta, "uid"));
  c.mutable_metadata()->set_attempt(attempt);
  std::string hostname = str(spec, "hostname");
  if (hostname.empty()) hostname = str(meta, "name");
  c.set_hostname(spec.value("hostNetwork", false) ? "" : hostname.substr(0, 63));
  c.set_log_directory(pod_log_dir(pod, node));
  *c.mutable_dns_config() = pod_dns(pod, node);
  for (const char* group : {"initContainers", "containers"}) {
    for (const auto& container : arr(spec, group)) {
      for (const auto& p : arr(container, "ports")) {
        if (!p.contains("hostPort")) continue;
        cri::v1::PortMapping* m = c.add_port_mappings();
        std::string protocol = str(p, "protocol");
        m->set_protocol(protocol == "UDP"    ? cri::v1::UDP
                        : protocol == "SCTP" ? cri::v1::SCTP
                                             : cri::v1::TCP);
        m->set_container_port(p.value("containerPort", 0));
        m->set_host_port(p.value("hostPort", 0));
        m->set_host_ip(str(p, "hostIP"));
      }
    }
  }
  for (const auto& [k, v] : string_map(obj(meta, "labels"))) (*c.mutable_labels())[k] = v;
  (*c.mutable_labels())[kPodNameLabel] = str(meta, "name");
  (*c.mutable_labels())[kPodNamespaceLabel] = str(meta, "namespace");
  (*c.mutable_labels())[kPodUidLabel] = str(meta, "uid");
  for (const auto& [k, v] : string_map(obj(meta, "annotations"))) (*c.mutable_annotations())[k] = v;
  cri::v1::LinuxPodSandboxConfig* linux = c.mutable_linux();
  *linux->mutable_security_context()->mutable_namespace_options() = namespaces(spec);
  const json& sc = obj(spec, "securityContext");
  for (const auto& s : arr(sc, "sysctls"))
    (*linux->mutable_sysctls())[str(s, "name")] = str(s, "value");
  bool privileged = false;
  for (const char* group : {"initContainers", "containers"})
    for (const auto& container : arr(spec, group))
      privileged |= obj(container, "securityContext").value("privileged", false);
  linux->mutable_security_context()->set_privileged(privileged);
  return c;
}

core::Result<cri::v1::ContainerConfig> container_config(
    const json& pod, const json& container, uint32_t attempt, const std::string& pod_ip,
    const NodeContext& node, const ObjectGetter& get,
    const std::map<std::string, std::string>& volumes) {
  const json& meta = obj(pod, "metadata");
  std::string name = str(container, "name");
  cri::v1::ContainerConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_metadata()->set_attempt(attempt);
  c.mutable_image()->set_image(str(container, "image"));
  auto env = K3A_TRY(environment(pod, container, pod_ip, node, get));
  std::map<std::string, std::string> vars(env.begin(), env.end());
  for (const auto& [k, v] : env) {
    cri::v1::KeyValue* kv = c.add_envs();
    kv->set_key(k);
    kv->set_value(v);
  }
  for (const auto& a : arr(container, "command"))
    if (a.is_string()) c.add_command(expand_vars(a.get<std::string>(), vars));
  for (const auto& a : arr(container, "args"))
    if (a.is_string()) c.add_args(expand_vars(a.get<std::string>(), vars));
  c.set_working_dir(str(container, "workingDir"));
  c.set_log_path(name + "/" + std::to_string(attempt) + ".log");
  c.set_stdin(container.value("stdin", false));
  c.set_stdin_once(container.value("stdinOnce", false));
  c.set_tty(container.value("tty", false));
  (*c.mutable_labels())[kContainerNameLabel] = name;
  (*c.mutable_labels())[kPodNameLabel] = str(meta, "name");
  (*c.mutable_labels())[kPodNamespaceLabel] = str(meta, "namespace");
  (*c.mutable_labels())[kPodUidLabel] = str(meta, "uid");
  (*c.mutable_annotations())["io.kubernetes.container.restartCount"] = std::to_string(attempt);
  K3A_CHECK(add_mounts(c, pod, container, node, volumes, vars));
  add_linux(c, pod, container);
  return c;
}

}  // namespace k3s::agent::kubelet
