// The Job controller: runs up to `parallelism` pods at a time until `completions` of them have
// succeeded (or, without completions, until one has and none is left running), recreating
// failed ones with upstream's backoff (10 s doubling, at most 6 min) until more than
// backoffLimit have failed or activeDeadlineSeconds has passed; suspends and resumes; reports
// active, ready, succeeded and failed with the SuccessCriteriaMet/Complete or
// FailureTarget/Failed conditions; deletes finished Jobs after ttlSecondsAfterFinished.
#include <algorithm>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/jobs/";

json find_condition(const json& job, const std::string& type) {
  for (const auto& c : job.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == type && c.value("status", "") == "True") return c;
  }
  return nullptr;
}

json condition(const std::string& type, const std::string& reason, const std::string& message,
               const std::string& now) {
  return {{"type", type},       {"status", "True"},     {"reason", reason},
          {"message", message}, {"lastProbeTime", now}, {"lastTransitionTime", now}};
}

class JobController : public Controller {
 public:
  explicit JobController(ControllerContext& c) : Controller("job-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      const json& pod = ch.after ? *ch.after : *ch.before;
      enqueue_controller(pod, "Job");
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr jp = c_.informer.get(kPrefix + key);
    if (!jp || being_deleted(*jp)) {
      expectations_.forget(key);
      return {};
    }
    const json& job = *jp;
    const json& spec = job.value("spec", json::object());
    int64_t now = core::system_now();
    std::vector<ObjectPtr> active;
    int64_t succeeded = 0, failed = 0, ready = 0;
    int64_t last_failure = 0;
    std::vector<ObjectPtr> owned;
    for (const ObjectPtr& pod : c_.informer.list("/registry/pods/" + namespace_of(job) + "/")) {
      if (controller_uid(*pod) != uid_of(job)) continue;
      owned.push_back(pod);
      std::string phase = pod->value("status", json::object()).value("phase", "");
      if (phase == "Succeeded") {
        succeeded++;
      } else if (phase == "Failed") {
        failed++;
        last_failure = std::max(last_failure, finished_at(*pod));
      } else if (!being_deleted(*pod)) {
        active.push_back(pod);
        ready += pod_ready(*pod);
      }
    }
    const json& status = job.value("status", json::object());
    // Pods may be deleted after they finished: the counts never go down.
    succeeded = std::max(succeeded, status.value("succeeded", int64_t{0}));
    failed = std::max(failed, status.value("failed", int64_t{0}));
    if (!find_condition(job, "Complete").is_null() || !find_condition(job, "Failed").is_null())
      return expire(job, now);

    json next = status;
    std::string stamp = now_rfc3339();
    json conditions = next.value("conditions", json::array());
    bool suspended = spec.value("suspend", false);
    json completions = spec.value("completions", json());
    int64_t parallelism = spec.value("parallelism", int64_t{1});
    bool done = completions.is_number() ? succeeded >= completions.get<int64_t>()
                                        : succeeded > 0 && active.empty();
    std::string failure, failure_message;
    if (failed > spec.value("backoffLimit", int64_t{6})) {
      failure = "BackoffLimitExceeded";
      failure_message = "Job has reached the specified backoff limit";
    } else if (spec.contains("activeDeadlineSeconds") && status.contains("startTime") &&
               core::parse_rfc3339(status.value("startTime", "")).value_or(now) +
                       spec["activeDeadlineSeconds"].get<int64_t>() <=
                   now) {
      failure = "DeadlineExceeded";
      failure_message = "Job was active longer than specified deadline";
    }
    if (!done && failure.empty() && !suspended) {
      if (!next.contains("startTime")) next["startTime"] = stamp;
      int64_t want = completions.is_number()
                         ? std::min(parallelism, completions.get<int64_t>() - succeeded)
                         : (succeeded > 0 ? 0 : parallelism);
      int64_t missing = want - static_cast<int64_t>(active.size());
      int64_t backoff =
          failed > 0 ? std::min<int64_t>(360, 10LL << std::min<int64_t>(failed - 1, 6)) : 0;
      if (missing > 0 && failed > 0 && last_failure + backoff > now) {
        queue().add_after(key, std::chrono::seconds(last_failure + backoff - now));
      } else if (expectations_.settled(key, owned)) {
        for (int64_t i = 0; i < missing; ++i) K3A_CHECK(create_pod(key, job));
      }
      if (spec.contains("activeDeadlineSeconds")) {
        int64_t start = core::parse_rfc3339(next.value("startTime", "")).value_or(now);
        queue().add_after(key, std::chrono::seconds(std::max<int64_t>(
                                   1, start + spec["activeDeadlineSeconds"].get<int64_t>() - now)));
      }
    }
    if ((suspended || !failure.empty() || done) && !active.empty()) {
      for (const auto& pod : active) K3A_CHECK(delete_pod(job, *pod));
      active.clear();
      ready = 0;
    }
    set_condition(conditions, "Suspended", suspended, "JobSuspended", "Job suspended", stamp);
    if (!failure.empty()) {
      conditions.push_back(condition("FailureTarget", failure, failure_message, stamp));
      conditions.push_back(condition("Failed", failure, failure_message, stamp));
      c_.events.record(name(), job, "Warning", failure, failure_message);
    } else if (done) {
      conditions.push_back(condition("SuccessCriteriaMet", "CompletionsReached",
                                     "Reached expected number of succeeded pods", stamp));
      conditions.push_back(condition("Complete", "CompletionsReached",
                                     "Reached expected number of succeeded pods", stamp));
      next["completionTime"] = stamp;
      c_.events.record(name(), job, "Normal", "Completed", "Job completed");
    }
    if (conditions.empty()) {
      next.erase("conditions");
    } else {
      next["conditions"] = conditions;
    }
    next["active"] = static_cast<int64_t>(active.size());
    next["ready"] = ready;
    next["succeeded"] = succeeded;
    next["failed"] = failed;
    next["terminating"] = 0;
    next["uncountedTerminatedPods"] = json::object();
    for (const char* k : {"active", "succeeded", "failed"}) {
      if (next[k] == 0) next.erase(k);
    }
    return write_status(c_.api, object_path("batch/v1", "jobs", namespace_of(job), name_of(job)),
                        job, next);
  }

 private:
  static int64_t finished_at(const json& pod) {
    int64_t at = 0;
    for (const auto& s :
         pod.value("status", json::object()).value("containerStatuses", json::array())) {
      json term = s.value("state", json::object()).value("terminated", json::object());
      at = std::max(at, core::parse_rfc3339(term.value("finishedAt", "")).value_or(0));
    }
    return at;
  }

  static void set_condition(json& conditions, const std::string& type, bool on,
                            const std::string& reason, const std::string& message,
                            const std::string& now) {
    for (auto& c : conditions) {
      if (c.value("type", "") != type) continue;
      std::string want = on ? "True" : "False";
      if (c.value("status", "") != want) {
        c["status"] = want;
        c["reason"] = on ? reason : "JobResumed";
        c["message"] = on ? message : "Job resumed";
        c["lastTransitionTime"] = now;
        c["lastProbeTime"] = now;
      }
      return;
    }
    if (on) conditions.push_back(condition(type, reason, message, now));
  }

  core::Result<void> create_pod(const std::string& key, const json& job) {
    const json& tmpl = job.value("spec", json::object()).value("template", json::object());
    json md = tmpl.value("metadata", json::object());
    md["generateName"] = name_of(job) + "-";
    md["namespace"] = namespace_of(job);
    md["ownerReferences"] = json::array({controller_ref(job)});
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", md},
                {"spec", tmpl.value("spec", json::object())}};
    auto created = c_.api.create(object_path("v1", "pods", namespace_of(job)), pod);
    if (!created) {
      c_.events.record(name(), job, "Warning", "FailedCreate",
                       "Error creating: " + created.error().message());
      return std::unexpected(created.error());
    }
    expectations_.expect_create(key, name_of(*created));
    c_.events.record(name(), job, "Normal", "SuccessfulCreate",
                     "Created pod: " + name_of(*created));
    return {};
  }

  core::Result<void> delete_pod(const json& job, const json& pod) {
    K3A_CHECK(
        unless_missing(c_.api.remove(object_path("v1", "pods", namespace_of(pod), name_of(pod)))));
    c_.events.record(name(), job, "Normal", "SuccessfulDelete", "Deleted pod: " + name_of(pod));
    return {};
  }

  // A finished Job with ttlSecondsAfterFinished goes (with its pods) once that has passed.
  core::Result<void> expire(const json& job, int64_t now) {
    const json& spec = job.value("spec", json::object());
    if (!spec.contains("ttlSecondsAfterFinished")) return {};
    json done = find_condition(job, "Complete");
    if (done.is_null()) done = find_condition(job, "Failed");
    int64_t at = core::parse_rfc3339(done.value("lastTransitionTime", "")).value_or(now) +
                 spec["ttlSecondsAfterFinished"].get<int64_t>();
    if (at > now) {
      queue().add_after(queue_key(job), std::chrono::seconds(at - now));
      return {};
    }
    K3A_CHECK(unless_missing(c_.api.remove(
        object_path("batch/v1", "jobs", namespace_of(job), name_of(job)), "Background")));
    return {};
  }

  ControllerContext& c_;
  Expectations expectations_;
};

}  // namespace

std::unique_ptr<Controller> make_job_controller(ControllerContext& c) {
  return std::make_unique<JobController>(c);
}

}  // namespace k3s::controllers
