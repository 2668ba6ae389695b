// The DAG check of read_oci_archive, over what the streaming pass collected: index.json →
// manifests (and nested indexes) → config and layers, then manifest.json, then unreferenced
// blobs.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/strings.h"
#include "core/serde/json.h"
#include "images/oci_archive_scan.h"
#include "images/oci_layout.h"

namespace images {
namespace {

using core::Errc;
using core::Json;
using core::Result;

constexpr int kMaxIndexDepth = 4;
constexpr size_t kMaxVisits = 100000;

using DockerView = std::pair<std::string, std::vector<std::string>>;

// What a verified manifest contributes, kept per digest.
struct ManifestFacts {
  std::string media_type;  // the document's own, possibly empty
  Platform platform;       // from its config
  DockerView view;
};

class DagChecker {
 public:
  DagChecker(ScannedArchive& archive, BlobStore* extract_to)
      : a_(archive), extract_to_(extract_to) {}

  Result<ArchiveContents> run() {
    K3A_CHECK(check_layout());
    if (!a_.index_json) return core::fail(Errc::kInvalid, "archive: no index.json");
    auto index = parse_index(*a_.index_json);
    if (!index) return std::unexpected(std::move(index.error()).context("index.json"));
    std::set<std::string> names;
    for (const Descriptor& d : index->manifests) {
      Reference ref = K3A_TRY(image_name(d));
      if (!names.insert(ref.str()).second) {
        return core::failf(Errc::kInvalid, "index.json: image {} listed twice", ref.str());
      }
      std::optional<std::string> pinned_index;
      if (auto it = d.annotations.find(std::string(kAnnotationIndexDigest));
          it != d.annotations.end()) {
        K3A_CHECK(check_digest(it->second, "index.json: " + ref.str() + ": index digest"));
        pinned_index = it->second;
      }
      K3A_CHECK(visit(d, ref, pinned_index, 0));
    }
    K3A_CHECK(check_docker_manifest());
    K3A_CHECK(check_all_referenced());
    out_.blob_bytes = a_.blob_bytes;
    out_.blob_count = a_.blobs.size();
    return std::move(out_);
  }

 private:
  Result<void> check_layout() {
    if (!a_.oci_layout) return core::fail(Errc::kInvalid, "archive: no oci-layout file");
    auto j = core::parse_json(*a_.oci_layout);
    if (!j || !j->is_object() || !j->contains("imageLayoutVersion") ||
        !(*j)["imageLayoutVersion"].is_string()) {
      return core::fail(Errc::kInvalid, "archive: oci-layout is not a layout version document");
    }
    if ((*j)["imageLayoutVersion"] != kLayoutVersion) {
      return core::failf(Errc::kUnsupported, "archive: image layout version {} is not {}",
                         (*j)["imageLayoutVersion"].dump(), kLayoutVersion);
    }
    return {};
  }

  static Result<Reference> image_name(const Descriptor& d) {
    auto it = d.annotations.find(std::string(kAnnotationImageName));
    if (it == d.annotations.end()) {
      return core::failf(Errc::kInvalid, "index.json: entry {} has no {} annotation", d.digest,
                         kAnnotationImageName);
    }
    auto ref = Reference::parse(it->second);
    if (!ref) return std::unexpected(std::move(ref.error()).context("index.json"));
    // Readers that go by the OCI tag (skopeo, umoci) must see the same image.
    auto tag = d.annotations.find(std::string(kAnnotationRefName));
    if (tag != d.annotations.end() && !ref->tag.empty() && tag->second != ref->tag) {
      return core::failf(Errc::kInvalid, "index.json: image {} has {} \"{}\"", ref->str(),
                         kAnnotationRefName, core::quote(tag->second));
    }
    return ref;
  }

  // The blob a descriptor points to: present, of the descriptor's size; marked referenced.
  Result<ScannedBlob*> blob(const Descriptor& d, std::string_view what) {
    auto it = a_.blobs.find(d.digest);
    if (it == a_.blobs.end()) {
      return core::failf(Errc::kIntegrity, "{} blob {} is missing from the archive", what,
                         d.digest);
    }
    if (it->second.size != static_cast<uint64_t>(d.size)) {
      return core::failf(Errc::kIntegrity, "{} blob {}: {} bytes, descriptor says {}", what,
                         d.digest, it->second.size, d.size);
    }
    it->second.referenced = true;
    return &it->second;
  }

  Result<std::string> json_blob(const Descriptor& d, std::string_view what) {
    ScannedBlob* b = K3A_TRY(blob(d, what));
    if (b->data) return *b->data;
    if (extract_to_) return extract_to_->read(d.digest, kMaxJsonSize);
    return core::failf(Errc::kTooLarge,
                       "{} blob {} ({} bytes) is not kept in memory and cannot be checked "
                       "without extracting",
                       what, d.digest, b->size);
  }

  static Result<void> check_media_type(const Descriptor& d, const std::string& actual) {
    if (actual.empty() || actual == d.media_type) return {};
    return core::failf(Errc::kInvalid, "blob {}: media type {} but its descriptor says {}",
                       d.digest, actual, d.media_type);
  }

  Result<void> visit(const Descriptor& d, const Reference& ref,
                     const std::optional<std::string>& index_digest, int depth) {
    if (++visits_ > kMaxVisits) {
      return core::failf(Errc::kTooLarge, "archive: more than {} manifest references", kMaxVisits);
    }
    if (is_manifest_type(d.media_type)) return visit_manifest(d, ref, index_digest);
    if (!is_index_type(d.media_type)) {
      return core::failf(Errc::kInvalid, "image {}: {} has media type {}, not a manifest or index",
                         ref.str(), d.digest, d.media_type);
    }
    if (depth >= kMaxIndexDepth) {
      return core::failf(Errc::kInvalid, "image {}: indexes nested too deep", ref.str());
    }
    const Index* index = K3A_TRY(load_index(d));
    K3A_CHECK(check_media_type(d, index->media_type));
    // The pinned upstream index (an annotation) names the image better than the index
    // carried, which may list fewer platforms.
    std::optional<std::string> child_index = index_digest ? index_digest : d.digest;
    for (const Descriptor& child : index->manifests) {
      K3A_CHECK(visit(child, ref, child_index, depth + 1));
    }
    return {};
  }

  Result<void> visit_manifest(const Descriptor& d, const Reference& ref,
                              const std::optional<std::string>& index_digest) {
    const ManifestFacts* facts = K3A_TRY(load_manifest(d));
    K3A_CHECK(check_media_type(d, facts->media_type));
    K3A_CHECK(check_platform(d, facts->platform));
    if (!ref.tag.empty()) tagged_views_.insert({ref.name() + ":" + ref.tag, facts->view});
    out_.images.push_back(ArchiveImage{ref, d, index_digest});
    return {};
  }

  // Parsed once per digest (a hostile index may name the same blob many times); the size is
  // checked on every reference.
  Result<const Index*> load_index(const Descriptor& d) {
    K3A_TRY(blob(d, "index"));
    if (auto it = indexes_.find(d.digest); it != indexes_.end()) return &it->second;
    auto index = parse_index(K3A_TRY(json_blob(d, "index")));
    if (!index) return std::unexpected(std::move(index.error()).context("blob " + d.digest));
    return &indexes_.emplace(d.digest, std::move(*index)).first->second;
  }

  Result<const ManifestFacts*> load_manifest(const Descriptor& d) {
    K3A_TRY(blob(d, "manifest"));
    if (auto it = manifests_.find(d.digest); it != manifests_.end()) return &it->second;
    auto manifest = parse_manifest(K3A_TRY(json_blob(d, "manifest")));
    if (!manifest) return std::unexpected(std::move(manifest.error()).context("blob " + d.digest));
    const Descriptor& config = manifest->config;
    if (!is_config_type(config.media_type)) {
      return core::failf(Errc::kInvalid, "manifest {}: config media type {} is not an image config",
                         d.digest, config.media_type);
    }
    auto image_config = parse_image_config(K3A_TRY(json_blob(config, "config")));
    if (!image_config) {
      return std::unexpected(std::move(image_config.error()).context("blob " + config.digest));
    }
    if (image_config->diff_ids.size() != manifest->layers.size()) {
      return core::failf(Errc::kInvalid, "manifest {}: {} layers but the config has {} diff_ids",
                         d.digest, manifest->layers.size(), image_config->diff_ids.size());
    }
    ManifestFacts facts{
        manifest->media_type, image_config->platform, {blob_path(config.digest), {}}};
    for (const Descriptor& layer : manifest->layers) {
      if (!is_layer_type(layer.media_type)) {
        return core::failf(Errc::kInvalid, "manifest {}: layer {} has media type {}", d.digest,
                           layer.digest, layer.media_type);
      }
      K3A_TRY(blob(layer, "layer"));
      facts.view.second.push_back(blob_path(layer.digest));
    }
    docker_views_.insert(facts.view);
    return &manifests_.emplace(d.digest, std::move(facts)).first->second;
  }

  // The platform an index claims must be the one the config describes (os, architecture, and
  // the variant when the config names one).
  static Result<void> check_platform(const Descriptor& d, const Platform& config) {
    if (!d.platform) return {};
    Platform claimed = d.platform->normalized();
    Platform actual = config.normalized();
    bool same = claimed.os == actual.os && claimed.architecture == actual.architecture &&
                (config.variant.empty() || claimed.variant == actual.variant);
    if (same) return {};
    return core::failf(Errc::kInvalid, "manifest {}: platform {} but its config says {}", d.digest,
                       d.platform->str(), config.str());
  }

  Result<void> check_docker_entry(const Json& e, size_t i);
  Result<void> check_docker_manifest();
  Result<void> check_all_referenced() {
    for (const auto& [digest, b] : a_.blobs) {
      if (!b.referenced) {
        return core::failf(Errc::kInvalid, "blob {} is not referenced by index.json", digest);
      }
    }
    return {};
  }

  ScannedArchive& a_;
  BlobStore* extract_to_;
  ArchiveContents out_;
  // What docker-load style readers may see: config path → layer paths, one per manifest, and
  // which "name:tag" may show it.
  std::set<DockerView> docker_views_;
  std::set<std::pair<std::string, DockerView>> tagged_views_;
  std::map<std::string, Index> indexes_;
  std::map<std::string, ManifestFacts> manifests_;
  size_t visits_ = 0;
};

Result<void> DagChecker::check_docker_entry(const Json& e, size_t i) {
  std::string what = fmt::format("manifest.json[{}]", i);
  if (!e.is_object() || !e.contains("Config") || !e["Config"].is_string() ||
      !e.contains("Layers") || !e["Layers"].is_array()) {
    return core::failf(Errc::kInvalid, "{}: needs Config and Layers", what);
  }
  DockerView view{e["Config"].get<std::string>(), {}};
  for (const Json& l : e["Layers"]) {
    if (!l.is_string()) return core::failf(Errc::kInvalid, "{}: a layer is not a string", what);
    view.second.push_back(l.get<std::string>());
  }
  if (!docker_views_.contains(view)) {
    return core::failf(Errc::kInvalid,
                       "{}: config {} with these layers is not an image of index.json", what,
                       core::quote(view.first));
  }
  if (!e.contains("RepoTags") || e["RepoTags"].is_null()) return {};
  if (!e["RepoTags"].is_array()) return core::failf(Errc::kInvalid, "{}: bad RepoTags", what);
  for (const Json& tag : e["RepoTags"]) {
    if (!tag.is_string()) return core::failf(Errc::kInvalid, "{}: a tag is not a string", what);
    auto ref = Reference::parse(tag.get<std::string>());
    if (!ref) return std::unexpected(std::move(ref.error()).context(what));
    if (!tagged_views_.contains({ref->name() + ":" + ref->tag, view})) {
      return core::failf(Errc::kInvalid, "{}: tag {} names another image in index.json", what,
                         ref->str());
    }
  }
  return {};
}

Result<void> DagChecker::check_docker_manifest() {
  if (!a_.docker_manifest) return {};
  auto j = core::parse_json(*a_.docker_manifest);
  if (!j) return std::unexpected(std::move(j.error()).context("manifest.json"));
  if (!j->is_array()) return core::fail(Errc::kInvalid, "manifest.json: not an array");
  for (size_t i = 0; i < j->size(); ++i) K3A_CHECK(check_docker_entry((*j)[i], i));
  return {};
}

}  // namespace

Result<ArchiveContents> check_archive_dag(ScannedArchive& archive, BlobStore* extract_to) {
  DagChecker checker(archive, extract_to);
  return checker.run();
}

}  // namespace images
