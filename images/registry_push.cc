// RegistryClient::push: blobs by monolithic upload (HEAD to skip existing ones, POST to open an
// upload, PUT ?digest= with the streamed body), then manifests, then an index for several
// platforms.
#include <fmt/core.h>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/http/url.h"
#include "images/builder.h"
#include "images/registry_impl.h"

namespace images {
namespace {

using core::Errc;
using core::http::Request;
using core::http::Response;

// The upload URL from a Location header, resolved against the request URL (it may be relative and
// may carry its own query, such as distribution's _state), with the digest added.
core::Result<std::string> upload_url(const Response& response, const std::string& request_url,
                                     std::string_view digest) {
  auto location = response.header("Location");
  if (!location || location->empty()) {
    return core::fail(Errc::kInvalid, "upload started without a Location header");
  }
  core::http::Url base = K3A_TRY(core::http::Url::parse(request_url));
  core::http::Url target = K3A_TRY(base.resolve(*location));
  std::string url = target.str();
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + "digest=" + core::http::url_encode(digest);
}

// The blobs one manifest references, with the manifest's descriptors.
core::Result<std::vector<Descriptor>> blobs_of(const Descriptor& manifest, BlobStore& store) {
  std::string bytes = K3A_TRY(store.read(manifest.digest, kMaxJsonSize));
  auto parsed = parse_manifest(bytes);
  if (!parsed)
    return std::unexpected(std::move(parsed).error().context("manifest " + manifest.digest));
  std::vector<Descriptor> blobs{parsed->config};
  blobs.insert(blobs.end(), parsed->layers.begin(), parsed->layers.end());
  for (const Descriptor& blob : blobs) {
    if (!store.has(blob.digest)) {
      return core::failf(Errc::kNotFound, "blob {} of manifest {} is not in the store", blob.digest,
                         manifest.digest);
    }
  }
  return blobs;
}

}  // namespace

core::Result<void> RegistryClient::Impl::push_blob(const Endpoint& endpoint, const Descriptor& blob,
                                                   BlobStore& store) {
  const std::string blob_url = repository_url(endpoint, "blobs/" + blob.digest);
  Response head =
      K3A_TRY(send(endpoint, Access::kPullPush, Request{.method = "HEAD", .url = blob_url}));
  if (head.status == 200) return {};
  if (head.status != 404)
    return std::unexpected(registry_error(head).context("blob " + blob.digest));

  const std::string start_url = repository_url(endpoint, "blobs/uploads/");
  Request start{.method = "POST", .url = start_url};
  start.headers.emplace_back("Content-Length", "0");
  Response started = K3A_TRY(send(endpoint, Access::kPullPush, std::move(start)));
  if (started.status != 202) {
    return std::unexpected(registry_error(started).context("blob " + blob.digest + ": upload"));
  }
  auto url = upload_url(started, start_url, blob.digest);
  if (!url) return std::unexpected(std::move(url).error().context("blob " + blob.digest));

  uint64_t size = K3A_TRY(store.size(blob.digest));
  Request put{.method = "PUT", .url = *url};
  put.headers.emplace_back("Content-Type", "application/octet-stream");
  SourceOpener open = [&]() -> core::Result<std::unique_ptr<core::ByteSource>> {
    return std::make_unique<BlobReader>(K3A_TRY(store.open_blob(blob.digest)));
  };
  Response done = K3A_TRY(upload(endpoint, Access::kPullPush, std::move(put), open, size));
  if (done.status != 201 && done.status != 204 && done.status != 200) {
    return std::unexpected(registry_error(done).context("blob " + blob.digest + ": upload"));
  }
  core::log::debug("pushed blob {} ({} bytes) to {}", blob.digest, size, endpoint.display());
  return {};
}

core::Result<void> RegistryClient::Impl::push_manifest(const Endpoint& endpoint,
                                                       const std::string& reference,
                                                       const Descriptor& manifest,
                                                       BlobStore& store) {
  std::string bytes = K3A_TRY(store.read(manifest.digest, kMaxJsonSize));
  std::string media_type = K3A_TRY(detect_media_type(bytes));
  Request put{.method = "PUT",
              .url = repository_url(endpoint, "manifests/" + reference),
              .body = std::move(bytes)};
  put.headers.emplace_back("Content-Type", media_type);
  Response response = K3A_TRY(send(endpoint, Access::kPullPush, std::move(put)));
  if (response.status / 100 != 2) {
    return std::unexpected(registry_error(response).context("manifest " + reference));
  }
  auto announced = response.header("Docker-Content-Digest");
  if (announced && core::trim(*announced) != manifest.digest) {
    return core::failf(Errc::kIntegrity, "manifest {}: the registry stored it as {}, not {}",
                       reference, core::quote(core::trim(*announced)), manifest.digest);
  }
  return {};
}

core::Result<void> RegistryClient::push(const Reference& target,
                                        const std::vector<ArchiveImage>& platform_images,
                                        BlobStore& store) {
  const std::string what = "push " + target.str();
  if (platform_images.empty()) return core::failf(Errc::kInvalid, "{}: no image to push", what);
  // Everything local is checked before the first request.
  std::vector<Descriptor> manifests, blobs;
  for (const ArchiveImage& image : platform_images) {
    auto image_blobs = blobs_of(image.manifest, store);
    if (!image_blobs) return std::unexpected(std::move(image_blobs).error().context(what));
    blobs.insert(blobs.end(), image_blobs->begin(), image_blobs->end());
    manifests.push_back(image.manifest);
  }
  std::optional<Descriptor> index;
  if (manifests.size() > 1) {
    auto built = build_index(manifests, store);
    if (!built) return std::unexpected(std::move(built).error().context(what));
    index = *built;
  }
  const Descriptor& top = index ? *index : manifests.front();
  if (!target.digest.empty() && target.digest != top.digest) {
    return core::failf(Errc::kInvalid, "{}: the target's digest is not the pushed {}", what,
                       top.digest);
  }
  Endpoint endpoint = impl_->config.default_endpoint(target);
  auto send_all = [&]() -> core::Result<void> {
    for (const Descriptor& blob : blobs) K3A_CHECK(impl_->push_blob(endpoint, blob, store));
    if (index) {
      for (const Descriptor& manifest : manifests) {
        K3A_CHECK(impl_->push_manifest(endpoint, manifest.digest, manifest, store));
      }
    }
    return impl_->push_manifest(endpoint, target.tag.empty() ? top.digest : target.tag, top, store);
  };
  auto sent = send_all();
  if (!sent)
    return std::unexpected(std::move(sent).error().context(endpoint.display()).context(what));
  return {};
}

}  // namespace images
