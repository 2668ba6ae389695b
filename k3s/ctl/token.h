// `k3s token`: bootstrap tokens on a running server (create, delete, list, generate), through
// the API with a kubeconfig, as upstream's command does. Output goes to the given stream.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::ctl {

struct TokenOptions {
  std::string kubeconfig;  // "" = $KUBECONFIG, else /etc/rancher/k3s/k3s.yaml
  std::string data_dir;    // accepted for upstream's command line; the kubeconfig decides
  std::string description;
  std::vector<std::string> groups;
  std::vector<std::string> usages;
  std::string ttl = "24h0m0s";  // "0" never expires
  std::string output = "text";  // list: text, json or yaml
};

// Prints the token in secure form (K10<ca hash>::<id>.<secret>). Fails with kAlreadyExists
// when a token with its id exists, kInvalid for a malformed token, group, usage or TTL.
core::Result<void> token_create(const TokenOptions& options, const std::string& token,
                                std::FILE* out);
// Deletes by id or whole token; kNotFound when one does not exist.
core::Result<void> token_delete(const TokenOptions& options, const std::vector<std::string>& ids,
                                std::FILE* out);
core::Result<void> token_list(const TokenOptions& options, std::FILE* out);
void token_generate(std::FILE* out);

}  // namespace k3s::ctl
