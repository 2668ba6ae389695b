// The deploy controller (upstream's pkg/deploy): every 15 s it walks <data-dir>/server/manifests
// (recursively, in path order; dotfiles, `<file>.skip` and all but .yaml/.yml/.json ignored) and
// applies each changed file as an Addon (k3s.cattle.io/v1, kube-system, named after the file up
// to its first dot) with the file's SHA-256 as spec.checksum and the kinds it applied in the
// addon.k3s.cattle.io/gvks annotation. Objects are applied server-side and labelled as the
// Addon's; those a file no longer holds are pruned. Files of --disable'd components are
// deleted together with their Addon and objects. Events on the Addon say what happened.
// The scanning thread starts with start() and ends with stop() or the destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/base/error.h"
#include "k3s/apiserver/catalog.h"
#include "k3s/controllers/controller.h"

namespace k3s::deploy {

struct DeployOptions {
  std::string dir;  // <data-dir>/server/manifests
  std::chrono::milliseconds interval = std::chrono::seconds(15);
  std::set<std::string> disabled;  // --disable names
};

class DeployController {
 public:
  DeployController(const controllers::LocalApi& api, const apiserver::Catalog& catalog,
                   controllers::EventRecorder& events, DeployOptions options)
      : api_(api), catalog_(catalog), events_(events), options_(std::move(options)) {}
  ~DeployController() { stop(); }

  // Registers the Addon CRD, then scans at once and every interval on its own thread. Fails when
  // the CRD cannot be registered.
  core::Result<void> start();
  void stop();
  // One pass; `force` re-applies files whose checksum is unchanged.
  void scan(bool force);

 private:
  void process(const std::string& path, const std::string& relative, bool force);
  core::Result<void> apply(const std::string& name, const std::string& path,
                           const std::string& checksum, const std::string& text);
  // Deletes the objects labelled as the Addon's that are not in `keep` ("<gvk>|<ns>/<name>"),
  // among the kinds in `gvks`.
  core::Result<void> prune(const std::string& name, const std::set<std::string>& gvks,
                           const std::set<std::string>& keep);
  void remove(const std::string& name, const std::string& path);

  const controllers::LocalApi& api_;
  const apiserver::Catalog& catalog_;
  controllers::EventRecorder& events_;
  DeployOptions options_;
  std::map<std::string, int64_t> mtimes_;  // path -> modification time last applied
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace k3s::deploy
