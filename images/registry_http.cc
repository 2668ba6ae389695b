// RegistryClient's HTTP layer: one core::http::Client per registry host (its TLS settings from
// registries.yaml), requests authenticated from the cache or after a 401, and registry error bodies
// turned into one-line Errors.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/http/url.h"
#include "core/serde/json.h"
#include "images/registry_impl.h"

namespace images {
namespace {

using core::Errc;
using core::http::Request;
using core::http::Response;

std::string origin_of(std::string_view url) {
  auto parsed = core::http::Url::parse(url);
  return parsed ? parsed->scheme + "://" + parsed->host_port() : std::string();
}

Errc status_code(int status) {
  if (status == 401) return Errc::kUnauthorized;
  if (status == 403) return Errc::kForbidden;
  if (status == 404) return Errc::kNotFound;
  if (status == 405) return Errc::kUnsupported;
  if (status == 429 || status >= 500) return Errc::kUnavailable;
  return Errc::kInvalid;
}

// The first entry of a distribution error body {"errors":[{"code","message","detail"}]}.
std::string error_text(const Response& response) {
  auto body = core::parse_json(response.body);
  if (body && body->is_object() && body->contains("errors") && (*body)["errors"].is_array() &&
      !(*body)["errors"].empty()) {
    const core::Json& first = (*body)["errors"][0];
    if (first.is_object() && first.contains("message") && first["message"].is_string()) {
      std::string text = first["message"].get<std::string>();
      if (first.contains("detail") && first["detail"].is_string()) {
        text += ": " + first["detail"].get<std::string>();
      }
      return core::quote(text.substr(0, 300));
    }
  }
  switch (response.status) {
    case 400:
      return "bad request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 429:
      return "too many requests";
    case 500:
      return "internal server error";
    case 502:
      return "bad gateway";
    case 503:
      return "service unavailable";
    default:
      return fmt::format("HTTP status {}", response.status);
  }
}

}  // namespace

RegistryClient::RegistryClient(RegistryConfig config, RegistryClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), options)) {}

RegistryClient::~RegistryClient() = default;

core::Error registry_error(const Response& response) {
  return core::Error(status_code(response.status),
                     fmt::format("{} ({})", error_text(response), response.status));
}

std::string scope_for(const Endpoint& endpoint, Access access) {
  return fmt::format("repository:{}:{}", endpoint.repository,
                     access == Access::kPull ? "pull" : "pull,push");
}

std::string repository_url(const Endpoint& endpoint, std::string_view path) {
  std::string url = fmt::format("{}/{}/{}", endpoint.api, endpoint.repository, path);
  if (endpoint.mirror && !endpoint.registry.empty()) {
    url += "?ns=" + core::http::url_encode(endpoint.registry);
  }
  return url;
}

core::http::Client& RegistryClient::Impl::client_for(std::string_view host) {
  std::lock_guard lock(mu);
  auto& slot = clients[std::string(host)];
  if (slot) return *slot;
  core::http::ClientOptions http;
  http.retries = options.retries;
  http.connect_timeout = options.connect_timeout;
  http.max_body = kMaxJsonSize + (64u << 10);  // buffered bodies are JSON documents and errors
  const RegistryHostConfig* host_config = config.config_for(host);
  if (host_config && host_config->tls) {
    http.ca_file = host_config->tls->ca_file;
    http.client_cert_file = host_config->tls->cert_file;
    http.client_key_file = host_config->tls->key_file;
    http.insecure_skip_verify = host_config->tls->insecure_skip_verify;
  }
  slot = std::make_unique<core::http::Client>(http);
  return *slot;
}

namespace {

// Runs op with the cached Authorization for (endpoint, scope); after a 401, answers the challenge
// and runs op once more.
template <typename Op>
core::Result<Response> authorized(RegistryClient::Impl& impl, const Endpoint& endpoint,
                                  Access access, Request request, const Op& op) {
  const std::string key = origin_of(endpoint.api) + " " + scope_for(endpoint, access);
  // Credentials go only to the endpoint's own origin, not to upload locations elsewhere.
  const bool same_origin = origin_of(request.url) == origin_of(endpoint.api);
  std::optional<RegistryClient::Impl::CachedAuth> cached;
  if (same_origin) {
    std::lock_guard lock(impl.mu);
    auto it = impl.auth_cache.find(key);
    if (it != impl.auth_cache.end() && it->second.expires > std::chrono::steady_clock::now()) {
      cached = it->second;
    }
  }
  Request first = request;
  if (cached) first.headers.emplace_back("Authorization", cached->header);
  Response response = K3A_TRY(op(first));
  if (response.status != 401 || !same_origin) return response;
  RegistryClient::Impl::CachedAuth auth = K3A_TRY(impl.answer(endpoint, access, response));
  {
    std::lock_guard lock(impl.mu);
    impl.auth_cache[key] = auth;
  }
  request.headers.emplace_back("Authorization", auth.header);
  response = K3A_TRY(op(request));
  if (response.status == 401) {
    {
      std::lock_guard lock(impl.mu);
      impl.auth_cache.erase(key);
    }
    return core::failf(Errc::kUnauthorized, "{}: the registry refused the credentials",
                       registry_error(response).message());
  }
  return response;
}

}  // namespace

core::Result<Response> RegistryClient::Impl::send(const Endpoint& endpoint, Access access,
                                                  Request request) {
  auto& client = client_for(endpoint.host);
  return authorized(*this, endpoint, access, std::move(request),
                    [&](const Request& r) { return client.send(r); });
}

core::Result<Response> RegistryClient::Impl::download(
    const Endpoint& endpoint, Access access, Request request, core::ByteSink& sink,
    const core::http::DownloadOptions& download_options) {
  auto& client = client_for(endpoint.host);
  // A non-2xx answer writes nothing into the sink, so the second attempt starts clean.
  return authorized(*this, endpoint, access, std::move(request),
                    [&](const Request& r) { return client.download(r, sink, download_options); });
}

core::Result<Response> RegistryClient::Impl::upload(const Endpoint& endpoint, Access access,
                                                    Request request, const SourceOpener& open,
                                                    uint64_t size) {
  auto& client = client_for(endpoint.host);
  return authorized(*this, endpoint, access, std::move(request),
                    [&](const Request& r) -> core::Result<Response> {
                      std::unique_ptr<core::ByteSource> body = K3A_TRY(open());
                      return client.upload(r, *body, size);
                    });
}

}  // namespace images
