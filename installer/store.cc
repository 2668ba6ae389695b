#include "installer/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/serde/json.h"

namespace installer {
namespace {

using core::Errc;
constexpr char kStateFile[] = "state.json";

nlohmann::json to_json(const InstalledVersion& v) {
  return {{"id", v.id},
          {"name", v.name},
          {"sequence", v.sequence},
          {"digest", v.digest},
          {"k3s_version", v.k3s_version},
          {"expires", v.expires},
          {"expired_override", v.expired_override},
          {"signers", v.signers}};
}

core::Result<InstalledVersion> version_from_json(const nlohmann::json& j) {
  try {
    return InstalledVersion{.id = j.at("id").get<std::string>(),
                            .name = j.at("name").get<std::string>(),
                            .sequence = j.at("sequence").get<uint64_t>(),
                            .digest = j.at("digest").get<std::string>(),
                            .k3s_version = j.at("k3s_version").get<std::string>(),
                            .expires = j.value("expires", std::string()),
                            .expired_override = j.value("expired_override", false),
                            .signers = j.value("signers", std::vector<std::string>())};
  } catch (const std::exception& e) {
    return core::fail(Errc::kInvalid, std::string("installed version record: ") + e.what());
  }
}

core::Result<StoreState> parse_state(const std::string& text) {
  nlohmann::json j = K3A_TRY(core::parse_json(text));
  StoreState s;
  try {
    if (j.contains("current")) s.current = K3A_TRY(version_from_json(j["current"]));
    if (j.contains("previous")) s.previous = K3A_TRY(version_from_json(j["previous"]));
    nlohmann::json seen = j.value("seen", nlohmann::json::object());
    for (const auto& [k, v] : seen.items()) {
      auto seq = core::parse_u64(k);
      if (!seq) return core::failf(Errc::kInvalid, "bad sequence {}", core::quote(k));
      s.seen[*seq] = {v.at("digest").get<std::string>(),
                      v.value("signers", std::vector<std::string>())};
    }
  } catch (const std::exception& e) {
    return core::fail(Errc::kInvalid, e.what());
  }
  return s;
}

// Entries of a directory (names only, without . and ..).
core::Result<std::vector<std::string>> list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return core::fail_errno(errno, "open directory " + path);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

}  // namespace

bool StoreState::counts(const SeenBundle& s, const std::set<std::string>& trusted) const {
  if (trusted.empty() || s.signers.empty()) return true;
  return std::any_of(s.signers.begin(), s.signers.end(),
                     [&](const std::string& k) { return trusted.count(k) > 0; });
}

uint64_t StoreState::highest(const std::set<std::string>& trusted) const {
  uint64_t h = 0;
  for (const auto& [seq, s] : seen) {
    if (counts(s, trusted)) h = std::max(h, seq);
  }
  return h;
}

std::string version_id(uint64_t sequence, const std::string& digest) {
  return std::to_string(sequence) + "-" + digest.substr(0, 12);
}

// --- Staging ---------------------------------------------------------------------------------

Staging::~Staging() {
  if (!dir_.empty()) (void)core::remove_all(dir_);
}

bool Staging::wanted(const bundler::FileRecord& file) const {
  return file.arch.empty() || file.arch == arch_;
}

core::Result<void> Staging::make_parents(const std::string& rel) {
  size_t pos = 0;
  while ((pos = rel.find('/', pos)) != std::string::npos) {
    std::string sub = rel.substr(0, pos++);
    if (std::find(dirs_.begin(), dirs_.end(), sub) != dirs_.end()) continue;
    std::string path = dir_ + "/" + sub;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return core::fail_errno(errno, "create directory " + path);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return core::failf(Errc::kIntegrity, "{}: not a directory in staging", core::quote(sub));
    }
    dirs_.push_back(sub);
  }
  return {};
}

core::Result<void> Staging::begin(const bundler::FileRecord& file) {
  skipping_ = !wanted(file);
  if (skipping_) return {};
  K3A_CHECK(make_parents(file.path));
  current_ = K3A_TRY(
      core::Fd::open(dir_ + "/" + file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  return {};
}

core::Result<void> Staging::data(std::string_view bytes) {
  if (skipping_) return {};
  return current_.write_all(bytes);
}

core::Result<void> Staging::end(const bundler::FileRecord& file) {
  if (skipping_) return {};
  if (::fchmod(current_.get(), file.mode) != 0) {
    return core::fail_errno(errno, "chmod " + file.path);
  }
  K3A_CHECK(current_.fsync());
  return current_.close();
}

core::Result<void> Staging::add_file(const std::string& rel, std::string_view content,
                                     mode_t mode) {
  K3A_CHECK(make_parents(rel));
  core::Fd fd =
      K3A_TRY(core::Fd::open(dir_ + "/" + rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
  K3A_CHECK(fd.write_all(content));
  K3A_CHECK(fd.fsync());
  return fd.close();
}

core::Result<void> Staging::seal() {
  std::vector<std::string> order = dirs_;
  std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const auto& d : order) K3A_CHECK(core::fsync_dir(dir_ + "/" + d));
  if (::chmod(dir_.c_str(), 0755) != 0) return core::fail_errno(errno, "chmod " + dir_);
  return core::fsync_dir(dir_);
}

// --- Store -----------------------------------------------------------------------------------

core::Result<Store> Store::open(const std::string& host_dir) {
  K3A_CHECK(core::make_dirs(host_dir + "/versions", 0700));
  core::Fd lock = K3A_TRY(core::Fd::open(host_dir + "/.lock", O_RDWR | O_CREAT, 0600));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return core::failf(Errc::kConflict, "another installer is running (lock {}/.lock is held)",
                         host_dir);
    }
    return core::fail_errno(errno, "lock " + host_dir + "/.lock");
  }
  Store store(host_dir, std::move(lock));
  for (const auto& name : K3A_TRY(list_dir(host_dir + "/versions"))) {
    if (name.starts_with(".staging-")) K3A_CHECK(core::remove_all(host_dir + "/versions/" + name));
  }
  for (const auto& name : K3A_TRY(list_dir(host_dir))) {
    if (name.starts_with(".link-")) ::unlink((host_dir + "/" + name).c_str());
  }
  std::string state_path = host_dir + "/" + kStateFile;
  if (core::path_exists(state_path)) {
    auto state = parse_state(K3A_TRY(core::read_file(state_path, 4u << 20)));
    if (!state) return std::unexpected(std::move(state.error()).context(state_path));
    store.state_ = std::move(*state);
  }
  K3A_CHECK(store.reconcile());
  return store;
}

// A crash between the flip of `current` and the state write leaves the link ahead of the
// record. The link is what k3s runs, so the record follows it (rebuilt from that version's
// bundle.json).
core::Result<void> Store::reconcile() {
  char buf[4096];
  ssize_t n = ::readlink((dir_ + "/current").c_str(), buf, sizeof buf);
  if (n <= 0) return {};
  std::string_view target(buf, n);
  if (!target.starts_with("versions/")) {
    return core::failf(Errc::kIntegrity, "{}/current points outside versions/", dir_);
  }
  std::string id(target.substr(9));
  if (state_.current && state_.current->id == id) return {};
  std::string json = K3A_TRY(core::read_file(version_dir(id) + "/bundle.json"));
  bundler::BundleManifest m = K3A_TRY(bundler::parse_manifest(json));
  InstalledVersion v{.id = id,
                     .name = m.name,
                     .sequence = m.sequence,
                     .digest = core::Sha256::hex_of(json),
                     .k3s_version = m.k3s_version,
                     .expires = m.expires.value_or("")};
  if (state_.current) state_.previous = state_.current;
  state_.current = v;
  state_.seen[v.sequence] = {v.digest, v.signers};
  return save_state();
}

core::Result<std::unique_ptr<Staging>> Store::begin_staging(const std::string& arch) {
  std::string dir = dir_ + "/versions/.staging-" + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0700) != 0) return core::fail_errno(errno, "create " + dir);
  return std::make_unique<Staging>(dir, arch);
}

core::Result<void> Store::point(const std::string& link, const std::string& id) {
  std::string tmp = dir_ + "/.link-" + link;
  ::unlink(tmp.c_str());
  std::string target = "versions/" + id;
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return core::fail_errno(errno, "symlink " + tmp);
  if (::rename(tmp.c_str(), (dir_ + "/" + link).c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail_errno(err, "switch " + dir_ + "/" + link);
  }
  return core::fsync_dir(dir_);
}

core::Result<void> Store::save_state() {
  nlohmann::json j = nlohmann::json::object();
  if (state_.current) j["current"] = to_json(*state_.current);
  if (state_.previous) j["previous"] = to_json(*state_.previous);
  nlohmann::json seen = nlohmann::json::object();
  for (const auto& [k, v] : state_.seen) {
    seen[std::to_string(k)] = {{"digest", v.digest}, {"signers", v.signers}};
  }
  j["seen"] = seen;
  return core::write_file_atomic(dir_ + "/" + kStateFile, core::dump_json_pretty(j), 0600);
}

core::Result<void> Store::remove_unreferenced() {
  for (const auto& name : K3A_TRY(list_dir(dir_ + "/versions"))) {
    if (name.starts_with('.')) continue;
    bool keep = (state_.current && state_.current->id == name) ||
                (state_.previous && state_.previous->id == name);
    if (!keep) K3A_CHECK(core::remove_all(dir_ + "/versions/" + name));
  }
  return core::fsync_dir(dir_ + "/versions");
}

core::Result<void> Store::commit(Staging& staging, const InstalledVersion& v) {
  K3A_CHECK(staging.seal());
  std::string dest = version_dir(v.id);
  // The same version may be present as `previous` (roll forward after a rollback): replace it.
  if (core::path_exists(dest)) {
    if (state_.previous && state_.previous->id == v.id) state_.previous.reset();
    K3A_CHECK(core::remove_all(dest));
  }
  if (::rename(staging.dir().c_str(), dest.c_str()) != 0) {
    return core::fail_errno(errno, "move staging into " + dest);
  }
  staging.release();
  K3A_CHECK(core::fsync_dir(dir_ + "/versions"));
  K3A_CHECK(point("current", v.id));
  if (state_.current && state_.current->id != v.id) {
    K3A_CHECK(point("previous", state_.current->id));
    state_.previous = state_.current;
  }
  return record(v);
}

core::Result<void> Store::record(const InstalledVersion& v) {
  bool same = state_.current && state_.current->id == v.id &&
              state_.current->expired_override == v.expired_override &&
              state_.current->signers == v.signers;
  if (same) return {};  // a reinstall of what is current: nothing to write
  state_.current = v;
  state_.seen[v.sequence] = {v.digest, v.signers};
  K3A_CHECK(save_state());
  return remove_unreferenced();
}

core::Result<InstalledVersion> Store::rollback() {
  if (!state_.current || !state_.previous) {
    return core::fail(Errc::kNotFound, "no previous version to roll back to");
  }
  if (!core::path_exists(version_dir(state_.previous->id))) {
    return core::failf(Errc::kNotFound, "previous version {} is missing from {}",
                       state_.previous->id, dir_ + "/versions");
  }
  InstalledVersion back = *state_.previous;
  K3A_CHECK(point("current", back.id));
  K3A_CHECK(point("previous", state_.current->id));
  std::swap(state_.current, state_.previous);
  K3A_CHECK(save_state());
  return back;
}

}  // namespace installer
