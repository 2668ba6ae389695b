#include "k3s/agent/preload.h"

#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/reference.h"
#include "k3s/agent/image_import.h"
#include "k3s/agent/kubelet/cri.h"
#include "k3s/agent/proto/containerd.pb.h"

namespace k3s::agent {
namespace {

using json = nlohmann::json;

bool archive_name(const std::string& file) {
  std::string f = core::to_lower(file);
  for (const char* ext :
       {".tar", ".tar.zst", ".tzst", ".tar.gz", ".tgz", ".tar.lz4", ".tar.bz2", ".tbz", ".txt"}) {
    if (f.ends_with(ext)) return true;
  }
  return false;
}

// "size:mtime-ns" of a file, "" when it cannot be read.
std::string stamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_size) + ":" +
         std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
}

bool images_present(core::grpc::Client& c, const json& names) {
  for (const auto& n : names) {
    k3s::containerd::GetImageRequest req;
    req.set_name(n.get<std::string>());
    std::string bytes;
    req.SerializeToString(&bytes);
    if (!c.call("/containerd.services.images.v1.Images/Get", bytes,
                {{"containerd-namespace", "k8s.io"}}))
      return false;
  }
  return true;
}

// An image list: each image not present yet is pulled through the CRI (so registries.yaml's
// mirrors apply), then pinned.
core::Result<ImportReport> pull_list(core::grpc::Client& containerd, const std::string& file) {
  ImportReport report;
  auto text = K3A_TRY(core::read_file(file, 1 << 20));
  for (auto line : core::split(text, '\n')) {
    std::string word(core::trim(line));
    if (word.empty() || word.starts_with("#")) continue;
    auto ref = images::Reference::parse(word);
    if (!ref) return std::unexpected(std::move(ref.error()).context(file));
    std::string name = ref->str();
    cri::v1::ImageStatusRequest status;
    status.mutable_image()->set_image(name);
    auto have = K3A_TRY(
        cri::call<cri::v1::ImageStatusResponse>(containerd, "ImageService/ImageStatus", status));
    if (have.image().id().empty()) {
      cri::v1::PullImageRequest pull;
      pull.mutable_image()->set_image(name);
      core::grpc::Client puller(containerd.socket(), std::chrono::minutes(30));
      auto pulled = cri::call<cri::v1::PullImageResponse>(puller, "ImageService/PullImage", pull);
      if (!pulled) return std::unexpected(std::move(pulled.error()).context("pulling " + name));
    }
    k3s::containerd::UpdateImageRequest pin;
    pin.mutable_image()->set_name(name);
    (*pin.mutable_image()->mutable_labels())["io.cri-containerd.pinned"] = "pinned";
    pin.mutable_update_mask()->add_paths("labels.io.cri-containerd.pinned");
    std::string bytes;
    pin.SerializeToString(&bytes);
    (void)K3A_TRY(containerd.call("/containerd.services.images.v1.Images/Update", bytes,
                                  {{"containerd-namespace", "k8s.io"}}));
    report.images.push_back(name);
  }
  return report;
}

}  // namespace

PreloadReport preload_images(core::grpc::Client& containerd, const std::string& agent_dir) {
  PreloadReport report;
  std::string dir = agent_dir + "/images";
  std::string record_path = agent_dir + "/containerd/k3s-preload.json";
  json record = json::object();
  if (auto text = core::read_file(record_path, 16 << 20)) {
    record = core::parse_json(*text).value_or(json::object());
    if (!record.is_object()) record = json::object();
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with(".") && e.is_regular_file() && archive_name(name))
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  json next = json::object();
  for (const auto& file : files) {
    std::string now = stamp(file);
    bool same = record.contains(file) && record[file].value("stamp", "") == now;
    if (same && record[file].contains("error")) {  // refused before; not read again unchanged
      next[file] = record[file];
      report.failed++;
      continue;
    }
    if (same && images_present(containerd, record[file].value("images", json::array()))) {
      next[file] = record[file];
      report.unchanged++;
      continue;
    }
    std::string staging = agent_dir + "/containerd/k3s-staging";
    auto imported = file.ends_with(".txt") ? pull_list(containerd, file)
                                           : import_archive(containerd, file, staging);
    (void)core::remove_all(staging);  // containerd holds the blobs now
    if (!imported) {
      core::log::error("Failed to import {}: {}", file, imported.error().message());
      // Containerd being away is worth another try; a bad archive is not, until it changes.
      if (imported.error().code() != core::Errc::kUnavailable)
        next[file] = {{"stamp", now}, {"error", imported.error().message()}};
      report.failed++;
      continue;
    }
    core::log::info("Imported images from {}: {} ({} blobs written, {} already present)", file,
                    fmt::join(imported->images, ", "), imported->blobs_written,
                    imported->blobs_present);
    next[file] = {{"stamp", now}, {"images", imported->images}};
    report.imported++;
  }
  if (auto w = core::write_file_atomic(record_path, core::dump_json_pretty(next), 0600); !w)
    core::log::warn("preload record: {}", w.error().message());
  return report;
}

}  // namespace k3s::agent
