// RegistryClient's private state, shared by its parts: registry_http.cc (HTTP clients per host,
// authenticated send/download/upload, registry error bodies), registry_auth.cc (challenges and
// tokens), registry_pull.cc and registry_push.cc. Internal to images; thread-safety as stated in
// registry_client.h (mu guards clients and auth).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/client.h"
#include "images/registry_client.h"

namespace images {

enum class Access { kPull, kPullPush };

// A parsed WWW-Authenticate challenge: scheme lowercased, parameter names lowercased.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::vector<Challenge> parse_challenges(std::string_view header);

// The Error for a registry's non-2xx answer: "<message from the errors body> (<status>)" with the
// status mapped to a code (404 kNotFound, 401 kUnauthorized, 403 kForbidden, 5xx and 429
// kUnavailable, other 4xx kInvalid).
core::Error registry_error(const core::http::Response& response);

// Opens a fresh body for an upload (called again when the upload has to be resent).
using SourceOpener = std::function<core::Result<std::unique_ptr<core::ByteSource>>()>;

struct RegistryClient::Impl {
  struct CachedAuth {
    std::string header;  // Authorization value
    std::chrono::steady_clock::time_point expires;
  };

  Impl(RegistryConfig config, RegistryClientOptions options)
      : config(std::move(config)), options(options) {}

  // Requests to an endpoint's repository, authenticated as needed (see registry_client.h). Any
  // answer but a 401 is returned as a Response. A 401 that the configured credentials cannot
  // answer, or that persists with them, is kUnauthorized saying why; other errors are the client's
  // or the token server's.
  core::Result<core::http::Response> send(const Endpoint& endpoint, Access access,
                                          core::http::Request request);
  core::Result<core::http::Response> download(const Endpoint& endpoint, Access access,
                                              core::http::Request request, core::ByteSink& sink,
                                              const core::http::DownloadOptions& options);
  core::Result<core::http::Response> upload(const Endpoint& endpoint, Access access,
                                            core::http::Request request, const SourceOpener& open,
                                            uint64_t size);

  // The HTTP client for a host, with its registries.yaml TLS settings. kInvalid for TLS files that
  // cannot be loaded (reported on first use by the client).
  core::http::Client& client_for(std::string_view host);

  // The Authorization value answering a 401's challenges (a cached or new token, or basic
  // credentials). kUnauthorized naming the host when no configured credentials fit; the token
  // server's answer as an error when it refuses.
  core::Result<CachedAuth> answer(const Endpoint& endpoint, Access access,
                                  const core::http::Response& unauthorized);
  // A token from realm for scope (registry_auth.cc); errors name the token server.
  core::Result<CachedAuth> fetch_token(const Endpoint& endpoint, const std::string& realm,
                                       const std::string& service, const std::string& scope,
                                       const std::optional<RegistryAuth>& auth);

  // Pull and push steps (registry_pull.cc, registry_push.cc).
  struct Fetched {
    Descriptor descriptor;
    std::string bytes;
  };
  core::Result<Fetched> fetch_manifest(const Endpoint& endpoint, const std::string& reference,
                                       const std::optional<std::string>& expected_digest);
  core::Result<void> fetch_blob(const Endpoint& endpoint, const Descriptor& blob, BlobStore& store,
                                const std::function<void(uint64_t)>& on_bytes);
  // Fetches a manifest's config and layers, then stores the manifest; returns the config's
  // platform.
  core::Result<Platform> fetch_image(const Endpoint& endpoint, const Fetched& manifest,
                                     BlobStore& store,
                                     const std::function<void(uint64_t)>& on_bytes);
  core::Result<std::vector<ArchiveImage>> pull_from(const Endpoint& endpoint, const Reference& ref,
                                                    BlobStore& store, const PullOptions& options);
  core::Result<void> push_blob(const Endpoint& endpoint, const Descriptor& blob, BlobStore& store);
  core::Result<void> push_manifest(const Endpoint& endpoint, const std::string& reference,
                                   const Descriptor& manifest, BlobStore& store);

  RegistryConfig config;
  RegistryClientOptions options;

  std::mutex mu;
  std::map<std::string, std::unique_ptr<core::http::Client>> clients;  // by host
  std::map<std::string, CachedAuth> auth_cache;  // by endpoint origin + " " + scope
};

// "repository:<name>:pull" or "…:pull,push".
std::string scope_for(const Endpoint& endpoint, Access access);
// The URL for a path under the endpoint's repository ("manifests/<ref>", "blobs/<digest>"), with
// ?ns=<registry> on mirrors as containerd sends it.
std::string repository_url(const Endpoint& endpoint, std::string_view path);

}  // namespace images
