#include <chrono>
#include <cstdlib>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/base64.h"
#include "core/serde/json.h"
#include "k3s/apiserver/rest_call.h"
#include "k3s/apiserver/tables.h"
#include "k3s/apiserver/watch.h"

namespace k3s::apiserver::rest_detail {

void Call::list() {
  std::vector<Requirement> labels;
  if (q_.count("labelSelector")) {
    auto parsed = parse_label_selector(q_["labelSelector"]);
    if (!parsed)
      return send_error(w_, 400, "BadRequest",
                        "unable to parse requirement: " + q_["labelSelector"]);
    labels = *parsed;
  }
  std::string prefix =
      t_.namespaced && !r_.ns.empty() ? t_.key_prefix() + r_.ns + "/" : t_.key_prefix();
  datastore::Range range = datastore::Range::prefix(prefix);
  datastore::ListOptions opts{.count = false};
  if (q_.count("limit"))
    opts.limit = static_cast<int64_t>(core::parse_u64(q_["limit"]).value_or(0));
  if (q_.count("continue") && !q_["continue"].empty()) {
    auto decoded = core::base64_decode(q_["continue"]);
    auto token = decoded ? core::parse_json(*decoded) : core::Result<json>(json());
    if (!token || !token->is_object()) {
      return send_error(w_, 400, "BadRequest", "continue key is not valid");
    }
    opts.revision = token->value("rv", int64_t{0});
    range.start = token->value("start", std::string()) + '\0';
  }
  auto res = store_.list(range, opts);
  if (!res) {
    if (res.error().code() == core::Errc::kExpired) {
      return send_error(w_, 410, "Expired",
                        "The provided continue parameter is too old to display a consistent list "
                        "result. You can start a new list without the continue parameter.");
    }
    return fail_store(res.error());
  }
  std::vector<json> items;
  for (const auto& kv : res->kvs) {
    json o = present(t_, kv);
    if (!labels_match(o, labels)) continue;
    if (q_.count("fieldSelector") && !fields_match(o, q_["fieldSelector"])) continue;
    items.push_back(std::move(o));
  }
  std::string cont;
  if (res->more && !res->kvs.empty()) {
    cont = core::base64_encode(
        core::dump_json({{"rv", res->revision}, {"start", res->kvs.back().key}}));
  }
  std::string rv = std::to_string(res->revision);
  if (wants_table(req_))
    return send_json(w_, 200, make_table(t_, items, rv, cont, core::system_now()));
  json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  // As upstream: how many remain after this page, when no selector makes that unknowable.
  if (!cont.empty() && labels.empty() && !q_.count("fieldSelector")) {
    datastore::Range rest{res->kvs.back().key + '\0', range.end};
    auto left = store_.list(rest, {.revision = res->revision, .count_only = true});
    if (!left) return fail_store(left.error());
    meta["remainingItemCount"] = left->count;
  }
  send_json(w_, 200,
            {{"kind", t_.kind + "List"},
             {"apiVersion", t_.group_version()},
             {"metadata", meta},
             {"items", items}});
}

void Call::watch() {
  std::vector<Requirement> labels;
  if (q_.count("labelSelector"))
    labels = parse_label_selector(q_["labelSelector"]).value_or(labels);
  std::string fields = q_.count("fieldSelector") ? q_["fieldSelector"] : "";
  if (!r_.name.empty())
    fields += std::string(fields.empty() ? "" : ",") + "metadata.name=" + r_.name;
  std::string prefix =
      t_.namespaced && !r_.ns.empty() ? t_.key_prefix() + r_.ns + "/" : t_.key_prefix();
  datastore::Range range = datastore::Range::prefix(prefix);
  std::string rv = q_.count("resourceVersion") ? q_["resourceVersion"] : "";
  bool bookmarks = q_["allowWatchBookmarks"] == "true";
  bool initial_events = q_["sendInitialEvents"] == "true";
  if (initial_events && (!bookmarks || q_["resourceVersionMatch"] != "NotOlderThan")) {
    return send_error(w_, 422, "Invalid",
                      "sendInitialEvents requires allowWatchBookmarks=true and "
                      "resourceVersionMatch=NotOlderThan");
  }
  auto deadline = WatchStream::Clock::now() + std::chrono::seconds(1800 + std::rand() % 1800);
  if (q_.count("timeoutSeconds")) {
    auto t = core::parse_u64(q_["timeoutSeconds"]);
    if (!t)
      return send_error(w_, 400, "BadRequest", "invalid timeoutSeconds " + q_["timeoutSeconds"]);
    deadline = WatchStream::Clock::now() + std::chrono::seconds(*t);
  }
  bool table_mode = wants_table(req_);
  const ResourceType* type = &t_;
  auto encode = [type, labels, fields, table_mode](const char* kind, const json& o) {
    if (!labels_match(o, labels) || (!fields.empty() && !fields_match(o, fields)))
      return std::string();
    json obj = table_mode ? make_table(*type, {o}, o["metadata"]["resourceVersion"], "",
                                       core::system_now())
                          : o;
    return core::dump_json({{"type", kind}, {"object", obj}}) + "\n";
  };
  std::string initial;
  int64_t after = 0;
  if (rv.empty() || rv == "0" || initial_events) {
    auto now = store_.list(range, {});
    if (!now) return fail_store(now.error());
    for (const auto& kv : now->kvs) initial += encode("ADDED", present(t_, kv));
    after = now->revision;
  } else {
    auto n = core::parse_u64(rv);
    if (!n) return send_error(w_, 400, "BadRequest", "invalid resourceVersion " + rv);
    after = static_cast<int64_t>(*n);
  }
  w_.add_header("Content-Type", "application/json");
  w_.add_header("Cache-Control", "no-cache, private");
  auto store = &store_;
  auto watches = watches_;
  auto types = r_.types;  // `type` lives in this catalog snapshot: kept while the watch runs
  std::string api_version = t_.group_version(), kind = t_.kind;
  w_.stream([=](std::shared_ptr<core::http::ResponseStream> out) {
    auto stream = std::make_shared<WatchStream>(out, api_version, kind, after, bookmarks, deadline);
    stream->send(initial, after);
    if (initial_events) stream->bookmark(true);
    auto sink = [stream, types, type, encode](std::vector<datastore::Event> events) {
      std::string batch;
      for (const auto& e : events) {
        const char* kind = e.type == datastore::Event::Type::kDelete ? "DELETED"
                           : e.created                               ? "ADDED"
                                                                     : "MODIFIED";
        batch += encode(kind, present(*type, e.kv));
      }
      stream->send(std::move(batch), events.empty() ? 0 : events.back().kv.mod_revision);
    };
    auto sub = store->watch(range, after, sink);
    if (!sub) {
      int64_t current = store->current_revision().value_or(0);
      json status = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", json::object()},
                     {"status", "Failure"},
                     {"message", fmt::format("too old resource version: {} ({})", after, current)},
                     {"reason", "Expired"},
                     {"code", 410}};
      out->write(core::dump_json({{"type", "ERROR"}, {"object", status}}) + "\n");
      return out->close();
    }
    uint64_t id = watches->add(stream, std::move(*sub));
    out->on_close([watches, id] { watches->remove(id); });
    if (out->closed()) watches->remove(id);
  });
}

void Call::get() {
  auto kv = store_.get(key(r_.name));
  if (!kv) return fail_store(kv.error());
  if (!*kv) return not_found(r_.name);
  json o = view(present(t_, **kv));
  if (wants_table(req_) && r_.sub.empty()) {
    return send_json(w_, 200,
                     make_table(t_, {o}, o["metadata"]["resourceVersion"], "", core::system_now()));
  }
  send_json(w_, 200, o);
}

}  // namespace k3s::apiserver::rest_detail
