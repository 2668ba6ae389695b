// RegistryClient::resolve and ::pull: manifests fetched and hashed here, platforms chosen from an
// index, blobs streamed into the store with size and digest checked before they appear.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "images/registry_impl.h"

namespace images {
namespace {

using core::Errc;
using core::http::Request;
using core::http::Response;

std::string accept_header() {
  return fmt::format("{}, {}, {}, {}", kOciIndex, kOciManifest, kDockerManifestList,
                     kDockerManifest);
}

// Refuses bytes beyond the expected size as they arrive, so a hostile server cannot fill the disk
// before the final size check.
class BoundedSink : public core::ByteSink {
 public:
  BoundedSink(core::ByteSink& out, uint64_t limit, std::string_view digest)
      : out_(out), limit_(limit), digest_(digest) {}
  core::Result<void> write(std::string_view data) override {
    written_ += data.size();
    if (written_ > limit_) {
      return core::failf(Errc::kIntegrity, "blob {}: more than the expected {} bytes", digest_,
                         limit_);
    }
    return out_.write(data);
  }

 private:
  core::ByteSink& out_;
  uint64_t limit_;
  uint64_t written_ = 0;
  std::string_view digest_;
};

bool is_local_failure(const core::Error& error) {
  return error.code() == Errc::kIo || error.code() == Errc::kNoSpace;
}

// The wanted platforms' manifests in index order of the wanted list; every entry with a real
// platform when none is wanted.
core::Result<std::vector<Descriptor>> select_platforms(const Index& index,
                                                       const std::vector<Platform>& wanted,
                                                       const std::string& index_digest) {
  std::vector<Descriptor> out;
  auto add = [&](const Descriptor& d) {
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const Descriptor& o) { return o.digest == d.digest; });
    if (!seen) out.push_back(d);
  };
  std::vector<std::string> listed;
  for (const Descriptor& d : index.manifests) {
    if (!d.platform || d.platform->os == "unknown") continue;
    listed.push_back(d.platform->str());
    if (wanted.empty()) add(d);
  }
  for (const Platform& w : wanted) {
    auto it = std::find_if(index.manifests.begin(), index.manifests.end(),
                           [&](const auto& d) { return d.platform && d.platform->matches(w); });
    if (it == index.manifests.end()) {
      return core::failf(Errc::kNotFound, "no manifest for platform {} in index {} (it has {})",
                         w.str(), index_digest,
                         listed.empty() ? "none" : fmt::format("{}", fmt::join(listed, ", ")));
    }
    add(*it);
  }
  if (out.empty()) {
    return core::failf(Errc::kNotFound, "index {} lists no platform manifests", index_digest);
  }
  return out;
}

core::Result<void> check_single_platform(const Platform& has, const std::vector<Platform>& wanted,
                                         const std::string& digest) {
  for (const Platform& w : wanted) {
    if (!has.matches(w)) {
      return core::failf(Errc::kNotFound, "manifest {} is for platform {}, not {}", digest,
                         has.str(), w.str());
    }
  }
  return {};
}

// The digest we computed against the one asked for and the one the registry announced.
core::Result<void> check_manifest_digest(const std::string& reference, const std::string& digest,
                                         const std::optional<std::string>& expected,
                                         const std::optional<std::string>& announced_header) {
  if (expected && *expected != digest) {
    if (reference == *expected) {
      return core::failf(Errc::kIntegrity, "manifest {}: the content has digest {}", reference,
                         digest);
    }
    return core::failf(Errc::kIntegrity, "manifest {}: expected digest {}, the content has {}",
                       reference, *expected, digest);
  }
  // Only sha256 is comparable; any other announced algorithm is ignored (we hashed ourselves).
  const std::string header = announced_header.value_or("");
  std::string_view announced = core::trim(header);
  if (announced.starts_with("sha256:") && announced != digest) {
    return core::failf(Errc::kIntegrity,
                       "manifest {}: Docker-Content-Digest says {}, the content has {}", reference,
                       core::quote(announced), digest);
  }
  return {};
}

// Runs op on each endpoint in turn until one succeeds. When all fail, the error reported is the
// first answer that said something about the image (a 404, a missing platform, bad content)
// rather than a later endpoint that could not be reached: a mirror's "no such platform" is more
// use than the default endpoint's "host not found" inside an air gap.
template <typename T, typename Op>
core::Result<T> on_endpoints(const std::vector<Endpoint>& endpoints, const std::string& what,
                             const Op& op) {
  if (endpoints.empty()) {
    return core::failf(Errc::kNotFound,
                       "{}: no endpoint (the default endpoint is disabled and no "
                       "mirror applies)",
                       what);
  }
  auto unreachable = [](const core::Error& e) {
    return e.code() == Errc::kUnavailable || e.code() == Errc::kTimeout;
  };
  std::optional<core::Error> best;
  for (const Endpoint& endpoint : endpoints) {
    core::Result<T> result = op(endpoint);
    if (result) return result;
    core::Error error = std::move(result).error().context(endpoint.display());
    core::log::debug("{}: {}", what, error.message());
    bool local = is_local_failure(error);
    if (!best || (unreachable(*best) && !unreachable(error)) || local) best = std::move(error);
    if (local) break;
  }
  return std::unexpected(std::move(*best).context(what));
}

}  // namespace

core::Result<RegistryClient::Impl::Fetched> RegistryClient::Impl::fetch_manifest(
    const Endpoint& endpoint, const std::string& reference,
    const std::optional<std::string>& expected_digest) {
  Request request{.url = repository_url(endpoint, "manifests/" + reference)};
  request.headers.emplace_back("Accept", accept_header());
  Response response = K3A_TRY(send(endpoint, Access::kPull, std::move(request)));
  if (response.status / 100 != 2) {
    // A tag is named by the operation already; a digest may be one of an index's entries.
    if (!is_valid_digest(reference)) return std::unexpected(registry_error(response));
    return std::unexpected(registry_error(response).context("manifest " + reference));
  }
  if (response.body.size() > kMaxJsonSize) {
    return core::failf(Errc::kTooLarge, "manifest {}: larger than {} bytes", reference,
                       kMaxJsonSize);
  }
  std::string digest = sha256_digest(core::Sha256::hex_of(response.body));
  K3A_CHECK(check_manifest_digest(reference, digest, expected_digest,
                                  response.header("Docker-Content-Digest")));
  auto media_type = detect_media_type(response.body);
  if (!media_type) {
    return std::unexpected(std::move(media_type).error().context("manifest " + reference));
  }
  if (!is_index_type(*media_type) && !is_manifest_type(*media_type)) {
    return core::failf(Errc::kInvalid, "manifest {}: unsupported media type {}", reference,
                       core::quote(*media_type));
  }
  Descriptor descriptor{.media_type = *media_type,
                        .digest = digest,
                        .size = static_cast<int64_t>(response.body.size())};
  return Fetched{std::move(descriptor), std::move(response.body)};
}

core::Result<void> RegistryClient::Impl::fetch_blob(const Endpoint& endpoint,
                                                    const Descriptor& blob, BlobStore& store,
                                                    const std::function<void(uint64_t)>& on_bytes) {
  K3A_CHECK(check_digest(blob.digest, "blob"));
  const auto size = static_cast<uint64_t>(blob.size);
  if (store.has(blob.digest)) {
    uint64_t stored = K3A_TRY(store.size(blob.digest));
    if (stored == size) return {};
    return core::failf(Errc::kIntegrity, "blob {}: the descriptor says {} bytes, the blob has {}",
                       blob.digest, size, stored);
  }
  BlobWriter writer = K3A_TRY(store.writer());
  BoundedSink sink(writer, size, blob.digest);
  core::http::DownloadOptions download_options{
      .expected_size = size, .expected_sha256 = digest_hex(blob.digest), .on_bytes = on_bytes};
  auto response = download(endpoint, Access::kPull,
                           Request{.url = repository_url(endpoint, "blobs/" + blob.digest)}, sink,
                           download_options);
  if (!response) return std::unexpected(std::move(response).error().context("blob " + blob.digest));
  if (response->status / 100 != 2) {
    return std::unexpected(registry_error(*response).context("blob " + blob.digest));
  }
  // Checked again by the store itself: only bytes with this size and digest are published.
  return writer.commit_expect(blob.digest, size);
}

core::Result<Platform> RegistryClient::Impl::fetch_image(
    const Endpoint& endpoint, const Fetched& fetched, BlobStore& store,
    const std::function<void(uint64_t)>& on_bytes) {
  const std::string& digest = fetched.descriptor.digest;
  auto manifest = parse_manifest(fetched.bytes);
  if (!manifest) return std::unexpected(std::move(manifest).error().context("manifest " + digest));
  K3A_CHECK(fetch_blob(endpoint, manifest->config, store, on_bytes));
  std::string config_bytes = K3A_TRY(store.read(manifest->config.digest, kMaxJsonSize));
  auto config = parse_image_config(config_bytes);
  if (!config) {
    return std::unexpected(std::move(config).error().context("config " + manifest->config.digest));
  }
  if (config->diff_ids.size() != manifest->layers.size()) {
    return core::failf(Errc::kInvalid, "manifest {}: {} layers, but its config lists {} diff_ids",
                       digest, manifest->layers.size(), config->diff_ids.size());
  }
  for (const Descriptor& layer : manifest->layers) {
    K3A_CHECK(fetch_blob(endpoint, layer, store, on_bytes));
  }
  // The manifest goes in last: a manifest in the store implies its blobs are there.
  K3A_TRY(store.put(fetched.bytes));
  return config->platform;
}

core::Result<std::vector<ArchiveImage>> RegistryClient::Impl::pull_from(
    const Endpoint& endpoint, const Reference& ref, BlobStore& store, const PullOptions& options) {
  std::optional<std::string> expected = options.pinned_digest;
  if (!expected && !ref.digest.empty()) expected = ref.digest;
  Fetched top = K3A_TRY(fetch_manifest(endpoint, expected ? *expected : ref.tag, expected));
  if (is_manifest_type(top.descriptor.media_type)) {
    Platform platform = K3A_TRY(fetch_image(endpoint, top, store, options.on_bytes));
    K3A_CHECK(check_single_platform(platform, options.platforms, top.descriptor.digest));
    Descriptor manifest = top.descriptor;
    manifest.platform = platform;
    return std::vector<ArchiveImage>{{ref, manifest, std::nullopt}};
  }
  auto index = parse_index(top.bytes);
  if (!index)
    return std::unexpected(std::move(index).error().context("index " + top.descriptor.digest));
  std::vector<Descriptor> chosen =
      K3A_TRY(select_platforms(*index, options.platforms, top.descriptor.digest));
  std::vector<ArchiveImage> out;
  for (const Descriptor& wanted : chosen) {
    if (!is_manifest_type(wanted.media_type)) {
      return core::failf(Errc::kUnsupported, "index {}: entry {} is a {}, not an image manifest",
                         top.descriptor.digest, wanted.digest, core::quote(wanted.media_type));
    }
    Fetched manifest = K3A_TRY(fetch_manifest(endpoint, wanted.digest, wanted.digest));
    if (manifest.descriptor.size != wanted.size ||
        manifest.descriptor.media_type != wanted.media_type) {
      return core::failf(Errc::kIntegrity, "manifest {}: size or media type differ from its index",
                         wanted.digest);
    }
    K3A_TRY(fetch_image(endpoint, manifest, store, options.on_bytes));
    out.push_back({ref, wanted, top.descriptor.digest});
  }
  K3A_TRY(store.put(top.bytes));
  return out;
}

core::Result<Descriptor> RegistryClient::resolve(const Reference& given) {
  Reference ref = given.with_default_tag();
  std::optional<std::string> expected;
  if (!ref.digest.empty()) expected = ref.digest;
  return on_endpoints<Descriptor>(impl_->config.endpoints_for(ref), "resolve " + ref.str(),
                                  [&](const Endpoint& endpoint) -> core::Result<Descriptor> {
                                    Impl::Fetched top = K3A_TRY(impl_->fetch_manifest(
                                        endpoint, expected ? *expected : ref.tag, expected));
                                    return top.descriptor;
                                  });
}

core::Result<std::vector<ArchiveImage>> RegistryClient::pull(const Reference& given,
                                                             BlobStore& store,
                                                             const PullOptions& options) {
  Reference ref = given.with_default_tag();
  if (options.pinned_digest) {
    K3A_CHECK(check_digest(*options.pinned_digest, "pull " + ref.str() + ": pinned digest"));
    if (!ref.digest.empty() && ref.digest != *options.pinned_digest) {
      return core::failf(Errc::kIntegrity, "pull {}: the reference's digest is not the pinned {}",
                         ref.str(), *options.pinned_digest);
    }
  }
  return on_endpoints<std::vector<ArchiveImage>>(
      impl_->config.endpoints_for(ref), "pull " + ref.str(),
      [&](const Endpoint& endpoint) { return impl_->pull_from(endpoint, ref, store, options); });
}

}  // namespace images
