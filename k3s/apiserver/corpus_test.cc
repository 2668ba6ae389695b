// The API corpus: every file under testdata/corpus is a sequence of requests against one fresh
// in-process server (SQLite datastore, the real HTTP front on loopback) and what each must
// answer; files under testdata/controllers run the same way with the controllers working. A
// step:
//   - name: what it shows
//     request: {method, path, as: admin|anonymous|<bearer token>, headers: {}, body: <object
//               or text>}
//     expect: {status, headers: {}, body: <subset>, events: [<subset>...], absent: [paths]}
//     capture: {var: dotted.path}        # used later as ${var} in paths, headers and bodies
//     wait: <seconds>                    # ask again until it matches (controllers' work)
// Body matching is by subset: objects match when every expected key matches, arrays element by
// element with equal length ({$contains: [...]}: each listed element matches one of the list's);
// "$any" matches any present value and "$re:<regex>" a string. A
// watch answers newline-separated events; `events` matches them in order (timeoutSeconds ends
// the stream).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/base/strings.h"
#include "core/crypto/keys.h"
#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "core/http/client.h"
#include "core/http/server.h"
#include "core/serde/json.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/controllers/fake_kubelet.h"
#include "k3s/controllers/manager.h"
#include "k3s/datastore/sqlite_backend.h"
#include "tests/support/test_support.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;
constexpr char kServerToken[] = "corpus-server-token";
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\n";

std::string substitute(std::string s, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    std::string token = "${" + k + "}";
    for (size_t at; (at = s.find(token)) != std::string::npos;) s.replace(at, token.size(), v);
  }
  return s;
}

json substitute(const json& j, const std::map<std::string, std::string>& vars) {
  if (j.is_string()) return substitute(j.get<std::string>(), vars);
  json out = j;
  if (j.is_object() || j.is_array()) {
    for (auto it = out.begin(); it != out.end(); ++it) *it = substitute(*it, vars);
  }
  return out;
}

const json* at_path(const json& j, const std::string& path) {
  const json* cur = &j;
  for (auto seg : core::split(path, '.')) {
    std::string k(seg);
    if (cur->is_array() && !k.empty() && std::all_of(k.begin(), k.end(), ::isdigit)) {
      size_t i = std::stoul(k);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else if (cur->is_object() && cur->contains(k)) {
      cur = &(*cur)[k];
    } else {
      return nullptr;
    }
  }
  return cur;
}

// "" when `actual` matches `expected`, else where and how it differs.
std::string differs(const json& expected, const json& actual, const std::string& where) {
  if (expected.is_string()) {
    std::string e = expected.get<std::string>();
    if (e == "$any") return "";
    if (e.starts_with("$re:")) {
      if (actual.is_string() &&
          std::regex_search(actual.get<std::string>(), std::regex(e.substr(4))))
        return "";
      return where + ": " + actual.dump() + " does not match /" + e.substr(4) + "/";
    }
  }
  if (expected.is_object() && expected.size() == 1 && expected.contains("$contains")) {
    if (!actual.is_array()) return where + ": expected a list, got " + actual.dump().substr(0, 200);
    for (const auto& want : expected["$contains"]) {
      bool found = std::any_of(actual.begin(), actual.end(), [&](const json& have) {
        return differs(want, have, where).empty();
      });
      if (!found) return where + ": no element matches " + want.dump();
    }
    return "";
  }
  if (expected.is_object()) {
    if (!actual.is_object()) return where + ": expected an object, got " + actual.dump();
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      if (!actual.contains(it.key())) return where + "." + it.key() + ": missing";
      if (auto m = differs(it.value(), actual[it.key()], where + "." + it.key()); !m.empty())
        return m;
    }
    return "";
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size())
      return where + ": expected " + std::to_string(expected.size()) + " items, got " +
             actual.dump().substr(0, 400);
    for (size_t i = 0; i < expected.size(); ++i) {
      if (auto m = differs(expected[i], actual[i], where + "." + std::to_string(i)); !m.empty())
        return m;
    }
    return "";
  }
  if (expected != actual) return where + ": expected " + expected.dump() + ", got " + actual.dump();
  return "";
}

class Corpus : public testing::TestWithParam<std::string> {
 protected:
  // Files under testdata/controllers run with the controllers; the API's own corpus without,
  // so that nothing but the steps writes.
  bool with_controllers() const {
    return GetParam().find("/testdata/controllers/") != std::string::npos;
  }

  void SetUp() override {
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-corpus"));
    store_ = *datastore::open_sqlite({.path = dir_->sub("state.db")});
    api_ = std::make_unique<ApiServer>(
        ApiOptions{.version = "v1.32.4+k3s1",
                   .server_ca_pem = kCaPem,
                   .server_token_password = kServerToken,
                   .agent_token_password = "corpus-agent-token",
                   .bookmark_interval = std::chrono::milliseconds(200),
                   .service_key_pem = core::PrivateKey::generate()->to_pem()},
        *store_);
    ASSERT_TRUE(api_->rest().seed("10.43.0.1", 6443));
    if (with_controllers()) {
      controllers_ = std::make_unique<controllers::ControllerManager>(
          *api_, *store_,
          controllers::ControllerOptions{.server_ca_pem = kCaPem, .node_monitor_grace_seconds = 3});
      ASSERT_TRUE(controllers_->start());
      // Steps start once the controllers have published what every namespace gets.
      for (int i = 0; i < 200 && !settled(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      ASSERT_TRUE(settled()) << "the seeded namespaces never got their kube-root-ca.crt";
      local_ = std::make_unique<controllers::LocalApi>(*api_);
      kubelet_ = std::make_unique<controllers::FakeKubelet>(
          [this](const std::string& method, const std::string& path, const json* body,
                 const std::string& type) { return local_->call(method, path, body, type); });
    }
    server_ = *core::http::Server::start(
        {.threads = 2}, [this](const core::http::ServerRequest& r, core::http::ResponseWriter& w) {
          api_->handle(r, w);
        });
    client_ =
        std::make_unique<core::http::Client>(core::http::ClientOptions{.retries = 0, .proxy = ""});
  }
  void TearDown() override {
    client_.reset();  // its pooled connections close first, so stop() has none to drain
    server_->stop();
    kubelet_.reset();
    controllers_.reset();
    api_.reset();
  }

  bool settled() {
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      for (std::string key : {std::string("/registry/configmaps/") + ns + "/kube-root-ca.crt",
                              std::string("/registry/serviceaccounts/") + ns + "/default"}) {
        auto kv = store_->get(key);
        if (!kv || !*kv) return false;
      }
    }
    return true;
  }

  std::unique_ptr<core::TempDir> dir_;
  std::unique_ptr<datastore::Backend> store_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<controllers::ControllerManager> controllers_;
  std::unique_ptr<controllers::LocalApi> local_;
  std::unique_ptr<controllers::FakeKubelet> kubelet_;
  std::unique_ptr<core::http::Server> server_;
  std::unique_ptr<core::http::Client> client_;
};

// Where `resp` differs from the step's expectations; empty when it matches.
std::vector<std::string> mismatches(const json& ex, const core::http::Response& resp) {
  std::vector<std::string> out;
  if (int want = ex.value("status", 200); resp.status != want)
    out.push_back(
        fmt::format("status {} (want {}): {}", resp.status, want, resp.body.substr(0, 600)));
  if (ex.contains("headers")) {
    for (auto it = ex["headers"].begin(); it != ex["headers"].end(); ++it) {
      std::string have = resp.header(it.key()).value_or("<none>");
      if (have != it.value().get<std::string>())
        out.push_back(
            fmt::format("header {}: {} (want {})", it.key(), have, it.value().get<std::string>()));
    }
  }
  json body = json::parse(resp.body, nullptr, false);
  if (ex.contains("body")) {
    if (body.is_discarded()) {
      out.push_back("not JSON: " + resp.body.substr(0, 300));
    } else if (auto m = differs(ex["body"], body, "body"); !m.empty()) {
      out.push_back(m);
    }
  }
  if (ex.contains("absent")) {
    for (const auto& p : ex["absent"]) {
      if (at_path(body, p.get<std::string>())) out.push_back(p.dump() + " should be absent");
    }
  }
  if (ex.contains("events")) {
    json events = json::array();
    for (auto line : core::split(resp.body, '\n')) {
      if (!core::trim(line).empty()) events.push_back(json::parse(line, nullptr, false));
    }
    if (auto m = differs(ex["events"], events, "events"); !m.empty()) out.push_back(m);
  }
  return out;
}

TEST_P(Corpus, Answers) {
  auto text = core::read_file(GetParam());
  ASSERT_TRUE(text);
  auto steps = core::parse_yaml(*text);
  ASSERT_TRUE(steps) << steps.error().message();
  ASSERT_TRUE(steps->is_array() && !steps->empty()) << "a corpus file is a list of steps";
  std::map<std::string, std::string> vars;
  for (const json& raw : *steps) {
    json step = substitute(raw, vars);
    std::string name = step.value("name", "?");
    SCOPED_TRACE(name);
    const json& rq = step["request"];
    core::http::Request req{.method = rq.value("method", "GET"),
                            .url = server_->url() + rq.value("path", "/")};
    std::string as = rq.value("as", "admin");
    if (as == "admin") as = kServerToken;
    if (as != "anonymous") req.headers.emplace_back("Authorization", "Bearer " + as);
    if (rq.contains("headers")) {
      for (auto it = rq["headers"].begin(); it != rq["headers"].end(); ++it)
        req.headers.emplace_back(it.key(), it.value().get<std::string>());
    }
    if (rq.contains("body")) {
      req.body = rq["body"].is_string() ? rq["body"].get<std::string>() : rq["body"].dump();
      if (!core::http::find_header(req.headers, "Content-Type"))
        req.headers.emplace_back("Content-Type", "application/json");
    }
    // A step with `wait: <seconds>` is asked again until it matches: the controllers work
    // asynchronously.
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(int(step.value("wait", 0.0) * 1000));
    core::Result<core::http::Response> resp;
    std::vector<std::string> wrong;
    for (;;) {
      resp = client_->send(req);
      ASSERT_TRUE(resp) << resp.error().message();
      wrong = mismatches(step["expect"], *resp);
      if (wrong.empty() || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const auto& w : wrong) ADD_FAILURE() << w;
    if (step.contains("capture")) {
      json body = json::parse(resp->body, nullptr, false);
      for (auto it = step["capture"].begin(); it != step["capture"].end(); ++it) {
        const json* v = at_path(body, it.value().get<std::string>());
        ASSERT_NE(v, nullptr) << "capture " << it.value();
        vars[it.key()] = v->is_string() ? v->get<std::string>() : v->dump();
      }
    }
  }
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  return testing_support::data_file_test_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(
    Api, Corpus, testing::ValuesIn(testing_support::data_files("k3s/apiserver/testdata/corpus")),
    test_name);
INSTANTIATE_TEST_SUITE_P(
    Controllers, Corpus,
    testing::ValuesIn(testing_support::data_files("k3s/apiserver/testdata/controllers")),
    test_name);

}  // namespace
}  // namespace k3s::apiserver
