// The CronJob controller: at each scheduled minute (in spec.timeZone) a Job named
// <cronjob>-<minutes since the epoch> from the jobTemplate; a missed start runs once, late, within
// startingDeadlineSeconds; concurrencyPolicy Allow, Forbid (skip while one is active) or
// Replace (delete the active ones); suspend; status.active, lastScheduleTime and
// lastSuccessfulTime; finished Jobs beyond the history limits deleted, oldest first.
#include <algorithm>

#include "core/base/time.h"
#include "k3s/controllers/cron_schedule.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/cronjobs/";

// "Complete" or "Failed" when the job has finished, else "".
std::string finished(const json& job) {
  for (const auto& c : job.value("status", json::object()).value("conditions", json::array())) {
    std::string type = c.value("type", "");
    if ((type == "Complete" || type == "Failed") && c.value("status", "") == "True") return type;
  }
  return "";
}

json reference(const json& job) {
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"namespace", namespace_of(job)},
          {"name", name_of(job)},
          {"uid", uid_of(job)},
          {"resourceVersion", metadata(job).value("resourceVersion", "")}};
}

class CronJobController : public Controller {
 public:
  explicit CronJobController(ControllerContext& c) : Controller("cronjob-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/jobs/", [this](const Change& ch) {
      const json& job = ch.after ? *ch.after : *ch.before;
      enqueue_controller(job, "CronJob");
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr cp = c_.informer.get(kPrefix + key);
    if (!cp || being_deleted(*cp)) return {};
    const json& cj = *cp;
    const json& spec = cj.value("spec", json::object());
    std::vector<ObjectPtr> jobs;
    for (const ObjectPtr& j : c_.informer.list("/registry/jobs/" + namespace_of(cj) + "/")) {
      if (controller_uid(*j) == uid_of(cj)) jobs.push_back(j);
    }
    std::sort(jobs.begin(), jobs.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      return metadata(*a).value("creationTimestamp", "") <
             metadata(*b).value("creationTimestamp", "");
    });
    json status = cj.value("status", json::object());
    json next = status;
    json active = json::array();
    std::vector<ObjectPtr> succeeded, failed;
    for (const auto& j : jobs) {
      std::string end = finished(*j);
      if (end.empty()) {
        if (!being_deleted(*j)) active.push_back(reference(*j));
      } else {
        (end == "Complete" ? succeeded : failed).push_back(j);
      }
      std::string done_at = j->value("status", json::object()).value("completionTime", "");
      if (end == "Complete" && done_at > next.value("lastSuccessfulTime", ""))
        next["lastSuccessfulTime"] = done_at;
    }
    K3A_CHECK(prune(succeeded, spec.value("successfulJobsHistoryLimit", int64_t{3})));
    K3A_CHECK(prune(failed, spec.value("failedJobsHistoryLimit", int64_t{1})));

    std::string tz = spec.value("timeZone", "");
    auto schedule = CronSchedule::parse(spec.value("schedule", ""));
    if (!schedule || !CronSchedule::known_zone(tz)) {
      c_.events.record(name(), cj, "Warning", schedule ? "UnknownTimeZone" : "UnparseableSchedule",
                       schedule ? "invalid timeZone: \"" + tz + "\""
                                : "unparseable schedule: " + schedule.error().message());
      return finish_status(cj, next, active);
    }
    int64_t now = core::system_now();
    if (!spec.value("suspend", false)) {
      int64_t last =
          core::parse_rfc3339(status.value("lastScheduleTime", ""))
              .value_or(
                  core::parse_rfc3339(metadata(cj).value("creationTimestamp", "")).value_or(now));
      if (auto due = schedule->latest(last, now, tz)) K3A_CHECK(start(cj, *due, now, next, active));
    }
    if (auto after = schedule->next(now, tz))
      queue().add_after(key, std::chrono::seconds(*after - now));
    return finish_status(cj, next, active);
  }

 private:
  core::Result<void> start(const json& cj, int64_t due, int64_t now, json& next, json& active) {
    const json& spec = cj.value("spec", json::object());
    if (spec.contains("startingDeadlineSeconds") &&
        due + spec["startingDeadlineSeconds"].get<int64_t>() < now) {
      c_.events.record(name(), cj, "Warning", "MissSchedule",
                       "Missed scheduled time to start a job: " + core::format_rfc3339(due));
      return {};
    }
    std::string policy = spec.value("concurrencyPolicy", "Allow");
    if (policy == "Forbid" && !active.empty()) return {};  // tried again at the next change
    if (policy == "Replace") {
      for (const auto& ref : active) {
        K3A_CHECK(unless_missing(
            c_.api.remove(object_path("batch/v1", "jobs", namespace_of(cj), ref.value("name", "")),
                          "Background")));
        c_.events.record(name(), cj, "Normal", "SuccessfulDelete",
                         "Deleted job " + ref.value("name", ""));
      }
      active = json::array();
    }
    const json& tmpl = spec.value("jobTemplate", json::object());
    json md = tmpl.value("metadata", json::object());
    md["name"] = name_of(cj) + "-" + std::to_string(due / 60);
    md["namespace"] = namespace_of(cj);
    md["ownerReferences"] = json::array({controller_ref(cj)});
    md["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] =
        core::format_rfc3339(due);
    json job = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", md},
                {"spec", tmpl.value("spec", json::object())}};
    auto created = c_.api.create(object_path("batch/v1", "jobs", namespace_of(cj)), job);
    if (!created && created.error().code() != core::Errc::kAlreadyExists) {
      c_.events.record(name(), cj, "Warning", "FailedCreate",
                       "Error creating job: " + created.error().message());
      return std::unexpected(created.error());
    }
    if (created) {
      c_.events.record(name(), cj, "Normal", "SuccessfulCreate",
                       "Created job " + name_of(*created));
      active.push_back(reference(*created));
    }
    next["lastScheduleTime"] = core::format_rfc3339(due);
    return {};
  }

  // Keeps the newest `limit` finished jobs.
  core::Result<void> prune(const std::vector<ObjectPtr>& done, int64_t limit) {
    for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(0, limit)) < done.size(); ++i) {
      if (being_deleted(*done[i])) continue;
      K3A_CHECK(unless_missing(
          c_.api.remove(object_path("batch/v1", "jobs", namespace_of(*done[i]), name_of(*done[i])),
                        "Background")));
    }
    return {};
  }

  core::Result<void> finish_status(const json& cj, json next, const json& active) {
    if (active.empty()) {
      next.erase("active");
    } else {
      next["active"] = active;
    }
    return controllers::write_status(
        c_.api, object_path("batch/v1", "cronjobs", namespace_of(cj), name_of(cj)), cj, next);
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_cron_job_controller(ControllerContext& c) {
  return std::make_unique<CronJobController>(c);
}

}  // namespace k3s::controllers
