#include "core/http/client.h"

#include "core/base/strings.h"
#include "core/http/fetcher.h"

namespace core::http {
namespace {

Response to_response(detail::Reply& reply, const Url& url) {
  Response response;
  response.status = reply.exchange.status();
  response.headers = reply.exchange.headers();
  response.body = std::move(reply.body);
  response.url = detail::display_url(url);
  return response;
}

}  // namespace

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && starts_with_ci(key, name)) return value;
  }
  return std::nullopt;
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {}

Client::~Client() = default;

Result<Response> Client::send(const Request& request) {
  Url url = K3A_TRY(Url::parse(request.url));
  detail::Message message;
  message.method = request.method;
  message.headers = request.headers;
  message.body = request.body;
  auto reply = K3A_TRY(impl_->fetcher.follow(url, std::move(message), detail::BodyMode::kBuffer));
  return to_response(reply, url);
}

Result<Response> Client::upload(const Request& request, ByteSource& body, uint64_t size) {
  Url url = K3A_TRY(Url::parse(request.url));
  detail::Message message;
  message.method = request.method;
  message.headers = request.headers;
  message.source = &body;
  message.source_size = size;
  auto reply = K3A_TRY(impl_->fetcher.attempt(url, message, detail::BodyMode::kBuffer));
  return to_response(reply, url);
}

}  // namespace core::http
