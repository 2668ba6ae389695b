#include "k3s/controllers/informer.h"

namespace k3s::controllers {
namespace {

constexpr char kRoot[] = "/registry/";

ObjectPtr parse(const datastore::KeyValue& kv) {
  auto o = std::make_shared<nlohmann::json>(nlohmann::json::parse(kv.value, nullptr, false));
  if (!o->is_object()) return nullptr;
  (*o)["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
  return o;
}

}  // namespace

void Informer::on_change(std::string prefix, std::function<void(const Change&)> handler) {
  handlers_.emplace_back(std::move(prefix), std::move(handler));
}

core::Result<void> Informer::start() {
  auto listed = K3A_TRY(store_.list(datastore::Range::prefix(kRoot), {.count = false}));
  {
    std::unique_lock lock(view_mu_);
    for (const auto& kv : listed.kvs) {
      if (auto o = parse(kv)) objects_[kv.key] = std::move(o);
    }
    revision_ = listed.revision;
  }
  subscription_ = K3A_TRY(store_.watch(datastore::Range::prefix(kRoot), listed.revision,
                                       [this](std::vector<datastore::Event> events) {
                                         std::lock_guard lock(queue_mu_);
                                         pending_.push_back(std::move(events));
                                         queued_.notify_one();
                                       }));
  // Every handler hears of every object before start() returns, so no controller acts on a
  // partial view (the garbage collector would take owners not yet delivered for deleted ones).
  std::vector<std::pair<std::string, ObjectPtr>> initial;
  {
    std::shared_lock lock(view_mu_);
    initial.assign(objects_.begin(), objects_.end());
  }
  for (auto& [key, o] : initial) deliver(key, nullptr, o);
  thread_ = std::thread([this] { run(); });
  return {};
}

void Informer::stop() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
    queued_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  subscription_.reset();
  advanced_.notify_all();
}

void Informer::run() {
  for (;;) {
    std::vector<datastore::Event> batch;
    {
      std::unique_lock lock(queue_mu_);
      queued_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      batch = std::move(pending_.front());
      pending_.pop_front();
    }
    apply(std::move(batch));
  }
}

void Informer::apply(std::vector<datastore::Event> events) {
  struct Delivery {
    std::string key;
    ObjectPtr before, after;
  };
  std::vector<Delivery> changes;
  {
    std::unique_lock lock(view_mu_);
    for (auto& e : events) {
      auto it = objects_.find(e.kv.key);
      ObjectPtr before = it == objects_.end() ? nullptr : it->second;
      ObjectPtr after = e.type == datastore::Event::Type::kPut ? parse(e.kv) : nullptr;
      if (after) {
        objects_[e.kv.key] = after;
      } else if (it != objects_.end()) {
        objects_.erase(it);
      }
      revision_ = std::max(revision_, e.kv.mod_revision);
      if (before || after) changes.push_back({e.kv.key, std::move(before), std::move(after)});
    }
  }
  advanced_.notify_all();
  for (auto& c : changes) deliver(c.key, std::move(c.before), std::move(c.after));
}

void Informer::deliver(const std::string& key, ObjectPtr before, ObjectPtr after) {
  Change change{key, std::move(before), std::move(after)};
  for (const auto& [prefix, handler] : handlers_) {
    if (key.starts_with(prefix)) handler(change);
  }
}

ObjectPtr Informer::get(const std::string& key) const {
  std::shared_lock lock(view_mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list(const std::string& prefix) const {
  std::vector<ObjectPtr> out;
  std::shared_lock lock(view_mu_);
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->second);
  }
  return out;
}

int64_t Informer::revision() const {
  std::shared_lock lock(view_mu_);
  return revision_;
}

bool Informer::wait_for(int64_t revision, std::chrono::milliseconds timeout) const {
  std::shared_lock lock(view_mu_);
  return advanced_.wait_for(lock, timeout, [&] { return revision_ >= revision; });
}

}  // namespace k3s::controllers
