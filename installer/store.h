// The installed payloads under <data-dir>/airgap, switched atomically:
//
//   airgap/.lock                 flock held by the running installer (a second one fails fast)
//   airgap/versions/<id>/        one verified bundle's files (bin/, images/, manifests/, ...)
//   airgap/versions/.staging-N/  a payload being written (0700); removed on failure or next run
//   airgap/current -> versions/<id>, airgap/previous -> versions/<id>
//   airgap/state.json            what is installed, and the sequences seen (rollback defence)
//
// A payload is staged file by file (each fsynced), its directories fsynced bottom-up, renamed
// into versions/ (fsync versions/), then `current` is flipped by renaming a fresh symlink over
// it (fsync airgap/); the state file follows. Everything outside points through `current`, so
// the flip is the single moment the installation changes. Not thread-safe; one per process.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bundler/format/verifier.h"
#include "core/fs/fd.h"

namespace installer {

struct InstalledVersion {
  std::string id;  // directory name under versions/
  std::string name;
  uint64_t sequence = 0;
  std::string digest;  // sha256 of bundle.json
  std::string k3s_version;
  std::string expires;
  bool expired_override = false;     // installed past `expires` with --allow-expired
  std::vector<std::string> signers;  // trusted key ids whose signatures it carried
};

// A bundle sequence this host has installed, and who signed it.
struct SeenBundle {
  std::string digest;                // sha256 of bundle.json
  std::vector<std::string> signers;  // empty: installed without signature checks
};

struct StoreState {
  std::optional<InstalledVersion> current;
  std::optional<InstalledVersion> previous;
  std::map<uint64_t, SeenBundle> seen;

  // The rollback and equivocation defences count only what is still vouched for: a sequence
  // signed by a key that has since left the trust set (a leaked key that signed a huge
  // sequence) stops holding later bundles back, as a key rotation resets TUF's high-water
  // mark. Unsigned installs always count, and with no trust set (signatures not checked)
  // everything counts.
  bool counts(const SeenBundle& s, const std::set<std::string>& trusted) const;
  uint64_t highest(const std::set<std::string>& trusted) const;
};

// The version directory name for a bundle: "<sequence>-<first 12 hex of its digest>".
std::string version_id(uint64_t sequence, const std::string& digest);

// Writes verified entries into a staging directory. Files are created exclusively, never
// through symlinks, written with mode 0600 and given their manifest mode once complete.
class Staging : public bundler::EntryConsumer {
 public:
  Staging(std::string dir, std::string arch) : dir_(std::move(dir)), arch_(std::move(arch)) {}
  ~Staging() override;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  const std::string& dir() const { return dir_; }
  // Whether a file belongs on this host (per-architecture files of other arches are skipped).
  bool wanted(const bundler::FileRecord& file) const;
  core::Result<void> begin(const bundler::FileRecord& file) override;
  core::Result<void> data(std::string_view bytes) override;
  core::Result<void> end(const bundler::FileRecord& file) override;
  core::Result<void> add_file(const std::string& rel, std::string_view content, mode_t mode);
  // fsync of every directory, deepest first; then the staging tree may be renamed.
  core::Result<void> seal();
  void release() { dir_.clear(); }

 private:
  core::Result<void> make_parents(const std::string& rel);
  std::string dir_;
  std::string arch_;
  std::vector<std::string> dirs_;  // created directories, relative
  core::Fd current_;
  bool skipping_ = false;
};

class Store {
 public:
  // Opens (creating) <host airgap dir>, takes the lock (kConflict if held), removes leftover
  // staging directories and temporary links, reads the state.
  static core::Result<Store> open(const std::string& host_dir);
  Store(Store&&) noexcept = default;

  const StoreState& state() const { return state_; }
  std::string version_dir(const std::string& id) const { return dir_ + "/versions/" + id; }
  // A fresh staging directory on the same filesystem as versions/.
  core::Result<std::unique_ptr<Staging>> begin_staging(const std::string& arch);
  // Seals the staging tree, moves it to versions/<v.id>, flips `current` (old current becomes
  // `previous`), records v in the state, and removes versions no longer referenced.
  core::Result<void> commit(Staging& staging, const InstalledVersion& v);
  // Re-records the current version (same id) — a reinstall of identical content.
  core::Result<void> record(const InstalledVersion& v);
  // Flips `current` back to `previous` (and `previous` to what was current).
  core::Result<InstalledVersion> rollback();

 private:
  Store(std::string dir, core::Fd lock) : dir_(std::move(dir)), lock_(std::move(lock)) {}
  core::Result<void> point(const std::string& link, const std::string& id);
  core::Result<void> save_state();
  core::Result<void> reconcile();
  core::Result<void> remove_unreferenced();

  std::string dir_;
  core::Fd lock_;
  StoreState state_;
};

}  // namespace installer
