// RegistryConfig: k3s's registries.yaml (/etc/rancher/k3s/registries.yaml, the same structure as
// JSON is accepted) and the endpoint list it gives for an image reference, with the semantics k3s
// renders into containerd's hosts.toml:
//  - `mirrors.<registry>.endpoint` are tried in order, then the registry's own (default) endpoint
//    unless disable_default_endpoint; the `"*"` entry applies only to registries without one.
//  - An endpoint without a scheme is https, except localhost/loopback on a port other than 443,
//    which is http. A path of "", "/" or "/v2" means the API root "/v2"; any other path is the API
//    root itself (containerd's override_path: "http://host:5000/v2/prefix" serves
//    "/v2/prefix/<name>/manifests/<ref>").
//  - `mirrors.<registry>.rewrite` (regex → replacement, "$1" groups, first matching pattern in key
//    order) changes the repository on mirror endpoints only, never on the default one.
//  - The default endpoint of docker.io is https://registry-1.docker.io/v2; of any other registry
//    <scheme>://<host>/v2, where the scheme is the one a mirror endpoint of that registry gives the
//    same host, else https when configs has a tls section for the host, else http for loopback
//    hosts on a port other than 443, else https.
//  - `configs.<host:port>` (auth, tls) belong to the host an endpoint points at; `"*"` applies to
//    hosts without an entry.
// Plain values; const methods are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "images/reference.h"

namespace images {

struct RegistryAuth {
  std::string username, password;
  std::string auth;            // base64 "user:pass"; used when username is empty
  std::string identity_token;  // OAuth2 refresh token for the token realm
};

struct RegistryTls {
  std::string ca_file, cert_file, key_file;  // PEM paths
  bool insecure_skip_verify = false;
};

struct RegistryHostConfig {
  std::optional<RegistryAuth> auth;
  std::optional<RegistryTls> tls;
};

struct RegistryMirror {
  std::vector<std::string> endpoints;                         // as written
  std::vector<std::pair<std::string, std::string>> rewrites;  // pattern → replacement, key order
};

// One place to ask for an image: where the API lives and what the repository is called there.
struct Endpoint {
  std::string api;         // API root without trailing slash: "https://registry-1.docker.io/v2"
  std::string host;        // "host:port" as the URL names it (port omitted when default)
  std::string repository;  // after rewrites (mirrors only)
  std::string registry;    // the reference's registry, sent to mirrors as ?ns=
  bool mirror = false;     // false for the registry's own endpoint
  // For messages: scheme://authority plus the path when it is not plain "/v2".
  std::string display() const;
};

struct RegistryConfig {
  std::map<std::string, RegistryMirror> mirrors;      // registry (or "*") → mirror
  std::map<std::string, RegistryHostConfig> configs;  // "host[:port]" (or "*") → config
  bool disable_default_endpoint = false;              // k3s --disable-default-registry-endpoint

  // Parses registries.yaml (YAML or JSON). Unknown keys are ignored as k3s ignores them. kInvalid
  // naming the field for a wrong type, an invalid endpoint URL, an invalid rewrite regex, or
  // undecodable base64 in auth.auth.
  static core::Result<RegistryConfig> parse_yaml(std::string_view text);
  // Reads and parses a file; kNotFound/kIo from reading, errors as parse_yaml prefixed with path.
  static core::Result<RegistryConfig> load(const std::string& path);

  // The endpoints to try for a pull of ref, in order (see the header comment). May be empty when
  // the default endpoint is disabled and no mirror applies.
  std::vector<Endpoint> endpoints_for(const Reference& ref) const;
  // The registry's own endpoint (pushes go there, never to mirrors).
  Endpoint default_endpoint(const Reference& ref) const;
  // The configs entry for a host ("host:port"; docker.io's registry-1.docker.io also matches
  // "docker.io"), else "*", else nullptr.
  const RegistryHostConfig* config_for(std::string_view host) const;
};

// "user:pass" credentials of an auth entry (username/password, else decoded auth); nullopt when
// neither is set.
std::optional<std::pair<std::string, std::string>> basic_credentials(const RegistryAuth& auth);

}  // namespace images
