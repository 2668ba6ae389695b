#include "k3s/controllers/local_api.h"

#include "k3s/client/kube_client.h"

namespace k3s::controllers {

core::Result<nlohmann::json> LocalApi::call(const std::string& method, const std::string& path,
                                            const nlohmann::json* body,
                                            const std::string& content_type) const {
  core::http::ServerRequest req;
  req.method = method;
  req.target = path;
  size_t q = path.find('?');
  req.path = path.substr(0, q);
  if (q != std::string::npos) req.query = path.substr(q + 1);
  req.client_verified = true;
  req.client_cn = "system:kube-controller-manager";
  req.client_orgs = {"system:masters"};
  req.headers.emplace_back("User-Agent", "kube-controller-manager/v1");
  if (body) {
    req.headers.emplace_back("Content-Type", content_type);
    req.body = body->dump();
  }
  core::http::ResponseWriter w(req);
  api_.handle(req, w);
  return client::parse_answer(method, path, w.status(), w.body());
}

core::Result<nlohmann::json> LocalApi::remove(const std::string& path,
                                              const std::string& propagation,
                                              int64_t grace_seconds) const {
  nlohmann::json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!propagation.empty()) options["propagationPolicy"] = propagation;
  if (grace_seconds >= 0) options["gracePeriodSeconds"] = grace_seconds;
  return call("DELETE", path, &options);
}

std::string object_path(const std::string& group_version, const std::string& resource,
                        const std::string& ns, const std::string& name) {
  std::string p = group_version.find('/') == std::string::npos ? "/api/" + group_version
                                                               : "/apis/" + group_version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  p += "/" + resource;
  if (!name.empty()) p += "/" + name;
  return p;
}

}  // namespace k3s::controllers
