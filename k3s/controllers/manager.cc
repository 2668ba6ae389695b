#include "k3s/controllers/manager.h"

#include "core/base/log.h"

namespace k3s::controllers {

ControllerManager::ControllerManager(const apiserver::ApiServer& api, datastore::Backend& store,
                                     ControllerOptions options)
    : options_(std::move(options)),
      api_(api),
      informer_(store),
      events_(api_),
      context_{informer_, api_, api.catalog(), events_, options_} {
  controllers_.push_back(make_namespace_controller(context_));
  controllers_.push_back(make_garbage_collector(context_));
  controllers_.push_back(make_service_account_controller(context_));
  controllers_.push_back(make_replica_set_controller(context_));
  controllers_.push_back(make_deployment_controller(context_));
  controllers_.push_back(make_scheduler(context_));
  controllers_.push_back(make_endpoints_controller(context_));
  controllers_.push_back(make_node_lifecycle_controller(context_));
  controllers_.push_back(make_node_ipam_controller(context_));
  controllers_.push_back(make_node_hosts_controller(context_));
  if (options_.service_lb) controllers_.push_back(make_service_lb_controller(context_));
  controllers_.push_back(make_job_controller(context_));
  controllers_.push_back(make_cron_job_controller(context_));
  controllers_.push_back(make_daemon_set_controller(context_));
  controllers_.push_back(make_stateful_set_controller(context_));
  controllers_.push_back(make_resource_quota_controller(context_));
  controllers_.push_back(make_token_cleaner(context_));
}

core::Result<void> ControllerManager::start() {
  K3A_CHECK(informer_.start());
  for (auto& c : controllers_) workers_.emplace_back([this, &c] { work(*c); });
  return {};
}

void ControllerManager::stop() {
  for (auto& c : controllers_) c->queue().shutdown();
  for (auto& t : workers_) t.join();
  workers_.clear();
  informer_.stop();
}

void ControllerManager::work(Controller& c) {
  while (auto key = c.queue().take()) {
    core::Result<void> result;
    try {
      result = c.sync(*key);
    } catch (const std::exception& e) {
      // An object of an unexpected shape (a string where an object belongs): skip it, and
      // look again later in case it is fixed.
      result = core::failf(core::Errc::kInvalid, "malformed object: {}", e.what());
    }
    if (result) {
      c.queue().forget(*key);
    } else {
      // A conflict only means the view was stale: the retry reads the newer object.
      if (result.error().code() != core::Errc::kConflict)
        core::log::warn("{}: {}: {}", c.name(), *key, result.error().message());
      c.queue().retry(*key);
    }
    c.queue().done(*key);
  }
}

}  // namespace k3s::controllers
