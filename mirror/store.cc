#include "mirror/store.h"

#include <fcntl.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/blob_store.h"
#include "images/manifest.h"
#include "images/oci_archive.h"

namespace mirror {
namespace {

using json = nlohmann::json;
using core::Errc;

// Writes each verified file into the blob store as it streams.
class StoreConsumer : public bundler::EntryConsumer {
 public:
  explicit StoreConsumer(images::BlobStore& store) : store_(store) {}
  core::Result<void> begin(const bundler::FileRecord&) override {
    writer_.emplace(K3A_TRY(store_.writer()));
    return {};
  }
  core::Result<void> data(std::string_view bytes) override { return writer_->write(bytes); }
  core::Result<void> end(const bundler::FileRecord& file) override {
    bool had = store_.has("sha256:" + file.sha256);
    K3A_CHECK(writer_->commit_expect("sha256:" + file.sha256, file.size));
    writer_.reset();
    stored += had ? 0 : 1;
    return {};
  }
  size_t stored = 0;

 private:
  images::BlobStore& store_;
  std::optional<images::BlobWriter> writer_;
};

std::string suffix(const std::string& arch) {
  return arch == "arm64" ? "-arm64" : arch == "arm" ? "-armhf" : arch == "s390x" ? "-s390x" : "";
}

// The release asset a bundle file is served as ("" when it is not one).
std::string asset_name(const bundler::FileRecord& f) {
  std::string base = core::base_name(f.path);
  switch (f.role) {
    case bundler::FileRole::kImages:
      return base.starts_with("k3s-airgap-images") ? base : "k3s-airgap-images-" + f.arch + ".tar";
    case bundler::FileRole::kImageList:
      return "k3s-images.txt";
    case bundler::FileRole::kInstaller:
      return base;
    default:
      if (f.name == "k3s") return "k3s" + suffix(f.arch);
      if (f.name == "k3s-airgap" || base == "k3s-airgap") return "k3s-airgap";
      return "";
  }
}

std::vector<int> numbers(const std::string& v) {
  std::vector<int> out;
  int n = -1;
  for (char c : v) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      n = (n < 0 ? 0 : n * 10) + (c - '0');
    } else if (n >= 0) {
      out.push_back(n);
      n = -1;
    }
  }
  if (n >= 0) out.push_back(n);
  return out;
}

bool is_index(const Manifest& m) {
  return m.media_type == images::kOciIndex || m.media_type == images::kDockerManifestList;
}

// The descriptor of a single-platform manifest held in the store, its platform read from its
// config.
core::Result<images::Descriptor> describe_held(const images::BlobStore& store, const Manifest& m) {
  images::Descriptor d{.media_type = m.media_type, .digest = m.digest};
  std::string text = K3A_TRY(store.read(m.digest));
  d.size = static_cast<int64_t>(text.size());
  auto manifest = K3A_TRY(images::parse_manifest(text));
  auto config = K3A_TRY(images::parse_image_config(K3A_TRY(store.read(manifest.config.digest))));
  d.platform = config.platform;
  return d;
}

// What a tag names once `added` (one platform's manifest) joins what it named before: that
// manifest alone, or an index of every platform held, made here and stored (the added manifest
// replacing an earlier one of its platform).
core::Result<Manifest> tag_target(const images::BlobStore& store, const Manifest* before,
                                  const images::Descriptor& added) {
  Manifest alone{added.digest, added.media_type};
  if (!before || !added.platform || before->digest == added.digest) return alone;
  images::Index index{.media_type = std::string(images::kOciIndex)};
  if (is_index(*before))
    index.manifests = K3A_TRY(images::parse_index(K3A_TRY(store.read(before->digest)))).manifests;
  else
    index.manifests.push_back(K3A_TRY(describe_held(store, *before)));
  std::string platform = added.platform->normalized().str();
  std::erase_if(index.manifests, [&](const images::Descriptor& d) {
    return !d.platform || d.platform->normalized().str() == platform;
  });
  if (index.manifests.empty()) return alone;
  // Without the archive's annotations (its ref.name): the same manifests make the same index.
  index.manifests.push_back({.media_type = added.media_type,
                             .digest = added.digest,
                             .size = added.size,
                             .platform = added.platform});
  std::sort(index.manifests.begin(), index.manifests.end(), [](const auto& a, const auto& b) {
    return a.platform->normalized().str() < b.platform->normalized().str();
  });
  std::string digest = K3A_TRY(store.put(images::to_json(index)));
  return Manifest{digest, std::string(images::kOciIndex)};
}

json to_json(const Index& index) {
  json j = {{"releases", json::object()},
            {"channels", index.channels},
            {"repositories", json::object()},
            {"origins", index.origins}};
  for (const auto& [v, assets] : index.releases)
    for (const auto& [name, a] : assets)
      j["releases"][v][name] = {{"digest", a.digest}, {"size", a.size}};
  for (const auto& [repo, tags] : index.repositories)
    for (const auto& [tag, m] : tags)
      j["repositories"][repo][tag] = {{"digest", m.digest}, {"mediaType", m.media_type}};
  return j;
}

}  // namespace

bool version_less(const std::string& a, const std::string& b) { return numbers(a) < numbers(b); }

core::Result<Index> load_index(const std::string& root) {
  Index index;
  std::string path = root + "/index.json";
  if (!core::path_exists(path)) return index;
  auto j = K3A_TRY(core::parse_json(K3A_TRY(core::read_file(path))));
  try {
    for (const auto& [v, assets] : j.at("releases").items())
      for (const auto& [name, a] : assets.items())
        index.releases[v][name] = {a.at("digest").get<std::string>(), a.at("size").get<uint64_t>()};
    for (const auto& [name, v] : j.at("channels").items())
      index.channels[name] = v.get<std::string>();
    json origins = j.value("origins", json::object());
    for (const auto& [repo, r] : origins.items()) index.origins[repo] = r.get<std::string>();
    for (const auto& [repo, tags] : j.at("repositories").items())
      for (const auto& [tag, m] : tags.items())
        index.repositories[repo][tag] = {m.at("digest").get<std::string>(),
                                         m.at("mediaType").get<std::string>()};
  } catch (const std::exception& e) {
    return core::failf(Errc::kInvalid, "{}: {}", path, e.what());
  }
  return index;
}

core::Result<void> save_index(const std::string& root, const Index& index) {
  return core::write_file_atomic(root + "/index.json", core::dump_json_pretty(to_json(index)));
}

core::Result<AddReport> add_bundle(const std::string& root, const std::string& bundle,
                                   const bundler::VerifyOptions& options) {
  auto store = K3A_TRY(images::BlobStore::open(root));
  int fd = ::open(bundle.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::fail_errno(errno, bundle);
  core::Fd file(fd);
  core::FdSource source(file);
  StoreConsumer consumer(store);
  auto verified = bundler::verify_bundle(source, options, &consumer);
  if (!verified) return std::unexpected(std::move(verified.error()).context(bundle));
  const bundler::BundleManifest& m = verified->manifest;
  Index index = K3A_TRY(load_index(root));
  AddReport report{
      .version = m.k3s_version, .files = m.files.size(), .files_stored = consumer.stored};
  auto& assets = index.releases[m.k3s_version];
  std::map<std::string, std::string> sums;  // arch → sha256sum-<arch>.txt
  for (const auto& f : m.files) {
    std::string name = asset_name(f);
    if (name.empty()) continue;
    assets[name] = {"sha256:" + f.sha256, f.size};
    if (name.starts_with("k3s") && name != "k3s-images.txt") {
      std::string arch = f.arch.empty() ? "amd64" : f.arch;
      sums[arch] += f.sha256 + "  " + name + "\n";
    }
    if (f.role != bundler::FileRole::kImages) continue;
    // The images, blob by blob, into the same store (verified again as they are read).
    auto blob = K3A_TRY(store.open_blob("sha256:" + f.sha256));
    auto contents = K3A_TRY(images::read_oci_archive(blob, &store));
    for (const auto& image : contents.images) {
      if (image.ref.tag.empty()) continue;
      auto& tags = index.repositories[image.ref.repository];
      index.origins[image.ref.repository] = image.ref.registry;
      auto before = tags.find(image.ref.tag);
      tags[image.ref.tag] = K3A_TRY(
          tag_target(store, before == tags.end() ? nullptr : &before->second, image.manifest));
      report.images++;
    }
  }
  for (const auto& [arch, text] : sums) {
    std::string digest = K3A_TRY(store.put(text));
    assets["sha256sum-" + arch + ".txt"] = {digest, text.size()};
  }
  // Channels follow the highest version: stable, latest and v<major>.<minor>.
  auto n = numbers(m.k3s_version);
  std::vector<std::string> names = {"stable", "latest"};
  if (n.size() >= 2) names.push_back("v" + std::to_string(n[0]) + "." + std::to_string(n[1]));
  for (const auto& c : names) {
    auto it = index.channels.find(c);
    if (it == index.channels.end() || !version_less(m.k3s_version, it->second)) {
      index.channels[c] = m.k3s_version;
      report.channels.push_back(c);
    }
  }
  K3A_CHECK(save_index(root, index));
  return report;
}

}  // namespace mirror
