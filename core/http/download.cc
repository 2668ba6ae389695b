// Client::download: streams a body into a sink while hashing it, and resumes with Range
// requests when the connection drops mid-body.
#include <fmt/core.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/http/client.h"
#include "core/http/fetcher.h"

namespace core::http {
namespace {

using detail::Exchange;

constexpr size_t kChunk = 256 * 1024;

struct ContentRange {
  uint64_t first = 0;
  std::optional<uint64_t> total;
};

// "bytes 100-199/1000" or "bytes 100-199/*".
std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim(value);
  if (!starts_with_ci(value, "bytes ")) return std::nullopt;
  value.remove_prefix(6);
  size_t dash = value.find('-');
  size_t slash = value.find('/');
  if (dash == value.npos || slash == value.npos || slash < dash) return std::nullopt;
  auto first = parse_u64(value.substr(0, dash));
  if (!first) return std::nullopt;
  ContentRange range{*first, std::nullopt};
  if (value.substr(slash + 1) != "*") {
    range.total = parse_u64(value.substr(slash + 1));
    if (!range.total) return std::nullopt;
  }
  return range;
}

void erase_header(Headers& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& field) {
    return field.first.size() == name.size() && starts_with_ci(field.first, name);
  });
}

class Downloader {
 public:
  Downloader(detail::Fetcher& fetcher, const Request& request, Url url, ByteSink& sink,
             const DownloadOptions& options)
      : fetcher_(fetcher),
        request_(request),
        url_(std::move(url)),
        name_(detail::display_url(url_)),
        sink_(sink),
        options_(options),
        hash_(options.prefix_hash ? options.prefix_hash : &own_hash_),
        offset_(options.resume_from),
        buf_(kChunk) {}

  Result<Response> run();

 private:
  detail::Message message() const;
  Result<void> accept_first(const Exchange& exchange);
  Result<Exchange> reopen();
  Result<void> copy_body(Exchange& exchange);
  bool resumable() const;
  Result<void> verify();

  detail::Fetcher& fetcher_;
  const Request& request_;
  const Url url_;
  const std::string name_;
  ByteSink& sink_;
  const DownloadOptions& options_;
  Sha256 own_hash_;
  Sha256* hash_;
  uint64_t offset_;                // position in the resource of the next byte for the sink
  uint64_t skip_ = 0;              // bytes of the current body the sink already holds
  std::optional<uint64_t> total_;  // size of the whole resource, when announced
  std::string etag_, last_modified_;
  bool ranges_ = false;
  bool sink_failed_ = false;
  std::vector<char> buf_;
};

detail::Message Downloader::message() const {
  detail::Message message;
  message.headers = request_.headers;
  erase_header(message.headers, "Range");
  erase_header(message.headers, "If-Range");
  if (offset_ > 0) message.headers.emplace_back("Range", fmt::format("bytes={}-", offset_));
  return message;
}

Result<Response> Downloader::run() {
  Url url = url_;
  detail::Reply reply = K3A_TRY(fetcher_.follow(url, message(), detail::BodyMode::kStream));
  Response response;
  response.status = reply.exchange.status();
  response.headers = reply.exchange.headers();
  response.url = detail::display_url(url);
  if (response.status / 100 != 2) {
    response.body = K3A_TRY(reply.exchange.read_all(fetcher_.options().max_body));
    return response;
  }
  K3A_CHECK(accept_first(reply.exchange));
  std::optional<Exchange> current(std::move(reply.exchange));
  int failures = 0;
  while (true) {
    uint64_t before = offset_;
    auto copied = copy_body(*current);
    if (copied) break;
    const Error& error = copied.error();
    bool network = error.code() == Errc::kUnavailable || error.code() == Errc::kTimeout;
    failures = offset_ > before ? 1 : failures + 1;
    if (sink_failed_ || !network) return std::unexpected(copied.error());
    if (!resumable() || failures > fetcher_.options().retries) {
      return failf(error.code(), "GET {}: {} (stopped at byte {}{})", name_, error.message(),
                   offset_, resumable() ? "" : "; the server does not support resuming");
    }
    log::debug("GET {}: {}; resuming at byte {}", name_, error.message(), offset_);
    current.reset();
    if (failures > 1)
      std::this_thread::sleep_for(fetcher_.options().retry_backoff * (failures - 1));
    current.emplace(K3A_TRY(reopen()));
  }
  K3A_CHECK(verify());
  return response;
}

Result<void> Downloader::accept_first(const Exchange& exchange) {
  if (exchange.status() == 206) {
    auto range = parse_content_range(exchange.header("Content-Range").value_or(""));
    if (!range || range->first != offset_) {
      return failf(Errc::kUnavailable, "GET {}: asked for bytes from {}, got Content-Range {}",
                   name_, offset_, quote(exchange.header("Content-Range").value_or("")));
    }
    total_ = range->total;
    ranges_ = true;
  } else {
    skip_ = offset_;  // the server ignored the Range header and sends the whole resource
    if (auto length = exchange.header("Content-Length")) total_ = parse_u64(trim(*length));
  }
  auto accept = exchange.header("Accept-Ranges");
  if (accept && accept->find("bytes") != std::string::npos) ranges_ = true;
  // A weak ETag does not promise identical bytes, so it cannot guard a resumption.
  etag_ = exchange.header("ETag").value_or("");
  if (etag_.starts_with("W/")) etag_.clear();
  last_modified_ = exchange.header("Last-Modified").value_or("");
  if (options_.expected_size && total_ && *total_ != *options_.expected_size) {
    return failf(Errc::kIntegrity, "GET {}: size mismatch: expected {} bytes, server announces {}",
                 name_, *options_.expected_size, *total_);
  }
  return {};
}

// Resuming is safe only when the server serves ranges and something tells us the resource did
// not change between the two requests.
bool Downloader::resumable() const {
  return ranges_ && (!etag_.empty() || !last_modified_.empty() || options_.expected_sha256);
}

Result<Exchange> Downloader::reopen() {
  detail::Message resume = message();
  if (!etag_.empty() || !last_modified_.empty()) {
    resume.headers.emplace_back("If-Range", etag_.empty() ? last_modified_ : etag_);
  }
  Url url = url_;
  detail::Reply reply = K3A_TRY(fetcher_.follow(url, std::move(resume), detail::BodyMode::kStream));
  const Exchange& exchange = reply.exchange;
  auto changed = [&](std::string_view what) {
    return failf(Errc::kConflict, "GET {}: the resource changed during the download ({})", name_,
                 what);
  };
  if (exchange.status() == 200) return changed("the server sent it whole again");
  if (exchange.status() != 206) {
    return failf(Errc::kUnavailable, "GET {}: resuming at byte {}: HTTP {}", name_, offset_,
                 exchange.status());
  }
  auto range = parse_content_range(exchange.header("Content-Range").value_or(""));
  if (!range || range->first != offset_) {
    return failf(Errc::kUnavailable, "GET {}: asked for bytes from {}, got Content-Range {}", name_,
                 offset_, quote(exchange.header("Content-Range").value_or("")));
  }
  if (total_ && range->total != total_) return changed("its size changed");
  if (!etag_.empty() && exchange.header("ETag").value_or("") != etag_) return changed("ETag");
  if (!last_modified_.empty() && exchange.header("Last-Modified").value_or("") != last_modified_) {
    return changed("Last-Modified");
  }
  return std::move(reply.exchange);
}

Result<void> Downloader::copy_body(Exchange& exchange) {
  while (true) {
    size_t n = K3A_TRY(exchange.read(buf_.data(), buf_.size()));
    if (n == 0) break;
    std::string_view chunk(buf_.data(), n);
    size_t skipped = static_cast<size_t>(std::min<uint64_t>(skip_, chunk.size()));
    chunk.remove_prefix(skipped);
    skip_ -= skipped;
    if (chunk.empty()) continue;
    hash_->update(chunk);
    if (auto written = sink_.write(chunk); !written) {
      sink_failed_ = true;
      return std::unexpected(std::move(written).error().context(fmt::format("GET {}", name_)));
    }
    offset_ += chunk.size();
    if (options_.on_bytes) options_.on_bytes(chunk.size());
  }
  if (skip_ > 0) {
    return failf(Errc::kIntegrity, "GET {}: the body ended before byte {} (resume point)", name_,
                 options_.resume_from);
  }
  return {};
}

Result<void> Downloader::verify() {
  if (total_ && offset_ != *total_) {
    return failf(Errc::kIntegrity, "GET {}: size mismatch: announced {} bytes, got {}", name_,
                 *total_, offset_);
  }
  if (options_.expected_size && offset_ != *options_.expected_size) {
    return failf(Errc::kIntegrity, "GET {}: size mismatch: expected {} bytes, got {}", name_,
                 *options_.expected_size, offset_);
  }
  if (options_.expected_sha256) {
    std::string actual = hash_->finish_hex();
    if (actual != *options_.expected_sha256) {
      return failf(Errc::kIntegrity, "GET {}: sha256 mismatch: expected {}, got {}", name_,
                   *options_.expected_sha256, actual);
    }
  }
  return {};
}

}  // namespace

Result<Response> Client::download(const Request& request, ByteSink& sink,
                                  const DownloadOptions& options) {
  Url url = K3A_TRY(Url::parse(request.url));
  if (request.method != "GET") {
    return failf(Errc::kInvalid, "download of {}: method must be GET, not {}",
                 detail::display_url(url), quote(request.method));
  }
  if (options.expected_sha256 && !is_sha256_hex(*options.expected_sha256)) {
    return failf(Errc::kInvalid,
                 "download of {}: expected sha256 {} is not 64 lowercase hex digits",
                 detail::display_url(url), quote(*options.expected_sha256));
  }
  if (options.expected_sha256 && options.resume_from > 0 && options.prefix_hash == nullptr) {
    return failf(Errc::kInvalid,
                 "download of {}: resuming with an expected sha256 needs prefix_hash",
                 detail::display_url(url));
  }
  Downloader downloader(impl_->fetcher, request, std::move(url), sink, options);
  return downloader.run();
}

}  // namespace core::http
