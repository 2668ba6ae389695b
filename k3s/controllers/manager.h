// The controller manager of `k3s server`: builds the in-process controllers over one informer
// and the API, and runs each on its own worker thread until stop(). Construction registers the
// controllers' handlers; start() lists the store and begins. Not copyable; stop() (or the
// destructor) joins every thread.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/controllers/controller.h"

namespace k3s::controllers {

class ControllerManager {
 public:
  ControllerManager(const apiserver::ApiServer& api, datastore::Backend& store,
                    ControllerOptions options);
  ~ControllerManager() { stop(); }
  ControllerManager(const ControllerManager&) = delete;
  ControllerManager& operator=(const ControllerManager&) = delete;

  // Fails when the store cannot be listed.
  core::Result<void> start();
  void stop();

 private:
  void work(Controller& c);

  ControllerOptions options_;
  LocalApi api_;
  Informer informer_;
  EventRecorder events_;
  ControllerContext context_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::vector<std::thread> workers_;
};

// The controllers, each in its own file.
std::unique_ptr<Controller> make_namespace_controller(ControllerContext& c);
std::unique_ptr<Controller> make_garbage_collector(ControllerContext& c);
std::unique_ptr<Controller> make_service_account_controller(ControllerContext& c);
std::unique_ptr<Controller> make_replica_set_controller(ControllerContext& c);
std::unique_ptr<Controller> make_deployment_controller(ControllerContext& c);
std::unique_ptr<Controller> make_scheduler(ControllerContext& c);
std::unique_ptr<Controller> make_endpoints_controller(ControllerContext& c);
std::unique_ptr<Controller> make_node_lifecycle_controller(ControllerContext& c);
std::unique_ptr<Controller> make_node_ipam_controller(ControllerContext& c);
std::unique_ptr<Controller> make_node_hosts_controller(ControllerContext& c);
std::unique_ptr<Controller> make_service_lb_controller(ControllerContext& c);
std::unique_ptr<Controller> make_job_controller(ControllerContext& c);
std::unique_ptr<Controller> make_cron_job_controller(ControllerContext& c);
std::unique_ptr<Controller> make_daemon_set_controller(ControllerContext& c);
std::unique_ptr<Controller> make_stateful_set_controller(ControllerContext& c);
std::unique_ptr<Controller> make_resource_quota_controller(ControllerContext& c);
std::unique_ptr<Controller> make_token_cleaner(ControllerContext& c);

}  // namespace k3s::controllers
