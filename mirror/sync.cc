#include "mirror/sync.h"

#include <fcntl.h>

#include "core/archive/zstd.h"
#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/fs/stream.h"
#include "core/http/client.h"
#include "core/serde/json.h"
#include "images/blob_store.h"
#include "images/gzip.h"
#include "images/oci_archive.h"
#include "mirror/store.h"

namespace mirror {
namespace {

using core::Errc;

struct Upstream {
  std::string channels;  // .../v1-release/channels
  std::string releases;  // .../k3s-io/k3s/releases
};

Upstream upstream_of(const std::string& url) {
  if (url.empty())
    return {"https://update.k3s.io/v1-release/channels", "https://github.com/k3s-io/k3s/releases"};
  std::string u = url;
  while (u.ends_with("/")) u.pop_back();
  return {u + "/v1-release/channels", u + "/k3s-io/k3s/releases"};
}

// The version a channel points at: the last path part of where its redirect leads.
core::Result<std::string> resolve_channel(core::http::Client& http, const Upstream& up,
                                          const std::string& channel) {
  auto r = K3A_TRY(http.send({.url = up.channels + "/" + channel}));
  auto location = r.header("Location");
  if (r.status / 100 != 3 || !location)
    return core::failf(Errc::kNotFound, "channel {}: {} without a redirect", channel, r.status);
  return std::string(location->substr(location->rfind('/') + 1));
}

// Downloads url into the store under its sha256, resuming a partial file an earlier, broken
// sync left in <root>/.partial; returns the bytes transferred. A download that fails keeps the
// partial file for the next run; one whose hash does not match drops it.
core::Result<uint64_t> fetch(core::http::Client& http, const images::BlobStore& store,
                             const std::string& root, const std::string& url,
                             const std::string& hex) {
  std::string partial = root + "/.partial/" + hex;
  K3A_CHECK(core::make_dirs(root + "/.partial", 0700));
  int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return core::fail_errno(errno, partial);
  core::Fd file(fd);
  // What an earlier run left: hashed as it is read (reads start at 0, writes append).
  core::Sha256 prefix;
  uint64_t have = 0;
  std::string buf(1 << 20, '\0');
  for (size_t n; (n = K3A_TRY(file.read_some(buf.data(), buf.size()))) > 0; have += n)
    prefix.update(std::string_view(buf.data(), n));
  core::FdSink sink(file);
  auto got = http.download(
      {.url = url}, sink,
      {.expected_sha256 = hex, .resume_from = have, .prefix_hash = have ? &prefix : nullptr});
  if (!got || got->status / 100 != 2) {
    if (!got && got.error().code() == Errc::kIntegrity) (void)core::remove_all(partial);
    if (!got) return std::unexpected(got.error());
    return core::failf(Errc::kNotFound, "{}: {}", url, got->status);
  }
  K3A_CHECK(file.close());
  std::string digest = K3A_TRY(store.put_file(partial));
  (void)core::remove_all(partial);
  if (digest != "sha256:" + hex)
    return core::failf(Errc::kIntegrity, "{}: {} instead of sha256:{}", url, digest, hex);
  return K3A_TRY(store.size(digest)) - have;
}

std::string encode(const std::string& version) {
  std::string out;
  for (char c : version) out += c == '+' ? std::string("%2B") : std::string(1, c);
  return out;
}

}  // namespace

core::Result<SyncReport> sync(const SyncOptions& o) {
  auto store = K3A_TRY(images::BlobStore::open(o.root));
  Index index = K3A_TRY(load_index(o.root));
  Upstream up = upstream_of(o.upstream);
  core::http::Client redirects({.max_redirects = 0, .proxy = std::nullopt});
  core::http::Client http;
  SyncReport report;
  for (const auto& channel : o.channels) {
    std::string version = K3A_TRY(resolve_channel(redirects, up, channel));
    std::string base = up.releases + "/download/" + encode(version) + "/";
    auto sums = K3A_TRY(http.send({.url = base + "sha256sum-" + o.arch + ".txt"}));
    if (sums.status != 200)
      return core::failf(Errc::kNotFound, "{}sha256sum-{}.txt: {}", base, o.arch, sums.status);
    auto& assets = index.releases[version];
    for (auto line : core::split(sums.body, '\n')) {
      auto words = core::split(core::trim(line), ' ');
      if (words.size() < 2 || !core::is_sha256_hex(words[0])) continue;
      std::string hex(words[0]), name(words.back());
      std::string digest = "sha256:" + hex;
      report.assets++;
      if (!store.has(digest)) {
        report.bytes += K3A_TRY(fetch(http, store, o.root, base + name, hex));
        report.fetched++;
      }
      assets[name] = {digest, K3A_TRY(store.size(digest))};
      if (!name.starts_with("k3s-airgap-images-")) continue;
      auto blob = K3A_TRY(store.open_blob(digest));
      std::unique_ptr<core::ByteSource> decoded;
      if (name.ends_with(".zst")) decoded = K3A_TRY(core::ZstdSource::create(blob));
      if (name.ends_with(".gz")) decoded = K3A_TRY(images::GzipSource::create(blob));
      auto contents = K3A_TRY(images::read_oci_archive(decoded ? *decoded : blob, &store));
      for (const auto& image : contents.images) {
        if (image.ref.tag.empty()) continue;
        index.repositories[image.ref.repository][image.ref.tag] = {image.manifest.digest,
                                                                   image.manifest.media_type};
        index.origins[image.ref.repository] = image.ref.registry;
      }
    }
    std::string sums_digest = K3A_TRY(store.put(sums.body));
    assets["sha256sum-" + o.arch + ".txt"] = {sums_digest, sums.body.size()};
    index.channels[channel] = version;
    report.versions.push_back(version);
  }
  K3A_CHECK(save_index(o.root, index));
  return report;
}

}  // namespace mirror
