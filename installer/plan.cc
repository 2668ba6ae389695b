#include "installer/plan.h"

#include <unistd.h>

#include <algorithm>

#include "core/base/strings.h"
#include "core/fs/files.h"

extern char** environ;

namespace installer {
namespace {

using core::Errc;

std::string get(const std::map<std::string, std::string>& env, const std::string& key,
                const std::string& fallback = "") {
  auto it = env.find(key);
  return it == env.end() ? fallback : it->second;
}

bool is_true(const std::map<std::string, std::string>& env, const std::string& key) {
  return get(env, key) == "true";
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::string word;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

bool on_path(const std::map<std::string, std::string>& env, const std::string& root,
             const std::string& name) {
  std::string path = get(env, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
  for (auto dir : core::split(path, ':')) {
    if (!dir.empty() && executable(root + std::string(dir) + "/" + name)) return true;
  }
  return false;
}

// Upstream falls back to /opt/bin when /usr/local/bin is not writable (read-only systems) and
// /opt/bin exists. access(W_OK) answers that (EROFS included) without touching the directory.
std::string default_bin_dir(const std::string& root) {
  std::string dir = root + "/usr/local/bin";
  if (!core::path_exists(dir) || ::access(dir.c_str(), W_OK) == 0) return "/usr/local/bin";
  return core::path_exists(root + "/opt/bin") ? "/opt/bin" : "/usr/local/bin";
}

core::Result<void> check_name(const std::string& name) {
  static constexpr std::string_view kBad = "][!#$%&()*;<=>?\\_`{|}/ \t\n";
  std::string marks;
  bool bad = false;
  for (char c : name) {
    bool b = kBad.find(c) != std::string_view::npos;
    bad |= b;
    marks.push_back(b ? '^' : ' ');
  }
  if (!bad) return {};
  return core::failf(Errc::kInvalid,
                     "Invalid characters for system name:\n            {}\n            {}", name,
                     marks);
}

bool proxy_var(const std::string& key) {
  std::string k = core::to_lower(key);
  return k == "no_proxy" || k == "http_proxy" || k == "https_proxy";
}

// A URL as curl takes it: without a scheme it is http; trailing slashes dropped.
std::string curl_url(std::string url) {
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (url.ends_with('/')) url.pop_back();
  return url;
}

// The cn script's rules: INSTALL_K3S_MIRROR=cn selects the mirror (rancher-mirror.rancher.cn
// unless INSTALL_K3S_MIRROR_URL names another) and forces its channel URL. A mirror URL alone
// selects it too: it names a server with that layout, as `k3s-airgap mirror serve` is.
core::Result<void> plan_download_source(const std::map<std::string, std::string>& env, Plan& plan) {
  std::string mirror = get(env, "INSTALL_K3S_MIRROR");
  if (!mirror.empty() && mirror != "cn") {
    return core::failf(Errc::kInvalid, "INSTALL_K3S_MIRROR={} is not known (the one mirror is cn)",
                       mirror);
  }
  std::string mirror_url = get(env, "INSTALL_K3S_MIRROR_URL");
  if (mirror == "cn" && mirror_url.empty()) mirror_url = "rancher-mirror.rancher.cn";
  if (!mirror_url.empty()) {
    plan.mirror_url = curl_url(mirror_url);
    plan.channel_url = plan.mirror_url + "/k3s/channels";
  }
  if (auto a = get(env, "INSTALL_K3S_ARTIFACT_URL"); !a.empty()) plan.artifact_url = curl_url(a);
  // Builds of a commit or a pull request come from k3s's CI storage and GitHub Actions.
  for (const char* key : {"INSTALL_K3S_PR", "INSTALL_K3S_COMMIT"}) {
    if (!get(env, key).empty())
      return core::failf(Errc::kUnsupported,
                         "{} is not supported: development builds come from k3s's CI storage; "
                         "install a release (a bundle, or INSTALL_K3S_VERSION from a mirror)",
                         key);
  }
  std::string registries = get(env, "INSTALL_K3S_REGISTRIES");
  for (auto r : core::split(registries, ','))
    if (!core::trim(r).empty()) plan.registries.emplace_back(core::trim(r));
  for (const char* key :
       {"INSTALL_K3S_MIRROR", "INSTALL_K3S_MIRROR_URL", "INSTALL_K3S_ARTIFACT_URL",
        "INSTALL_K3S_CHANNEL_URL", "INSTALL_K3S_CHANNEL", "INSTALL_K3S_VERSION"}) {
    plan.download_requested |= !get(env, key).empty();
  }
  return {};
}

}  // namespace

std::string Plan::env_file() const {
  return init == InitSystem::kOpenrc ? "/etc/rancher/k3s/" + service_name + ".env"
                                     : systemd_dir + "/" + service_name + ".service.env";
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string render_env_file(const Plan& plan) {
  std::string out;
  for (const auto& [k, v] : plan.service_env) out += k + "=" + shell_quote(v) + "\n";
  return out;
}

core::Result<Plan> make_plan(const std::map<std::string, std::string>& env,
                             const std::vector<std::string>& words, const std::string& root) {
  Plan plan;
  plan.root = root;
  if (auto d = get(env, "K3S_DATA_DIR"); !d.empty()) plan.data_dir = d;

  std::string url = get(env, "K3S_URL");
  if (!url.empty() && !url.starts_with("https://")) {
    return core::failf(Errc::kInvalid, "Only https:// URLs are supported for K3S_URL (have {})",
                       url);
  }
  std::vector<std::string> all = split_words(get(env, "INSTALL_K3S_EXEC"));
  all.insert(all.end(), words.begin(), words.end());
  if (all.empty() || all.front().empty() || all.front().starts_with('-')) {
    if (url.empty()) {
      plan.command = "server";
    } else {
      if (get(env, "K3S_TOKEN").empty() && get(env, "K3S_TOKEN_FILE").empty()) {
        return core::fail(Errc::kInvalid,
                          "Defaulted k3s exec command to 'agent' because K3S_URL is defined, but "
                          "K3S_TOKEN or K3S_TOKEN_FILE is not defined.");
      }
      plan.command = "agent";
    }
    if (!all.empty() && all.front().empty()) all.erase(all.begin());
  } else {
    plan.command = all.front();
    all.erase(all.begin());
  }
  plan.args = std::move(all);

  if (auto name = get(env, "INSTALL_K3S_NAME"); !name.empty()) {
    plan.service_name = "k3s-" + name;
  } else {
    plan.service_name = plan.command == "server" ? "k3s" : "k3s-" + plan.command;
  }
  K3A_CHECK(check_name(plan.service_name));

  if (executable(root + "/sbin/openrc-run")) {
    plan.init = InitSystem::kOpenrc;
  } else if (!root.empty() || on_path(env, "", "systemctl")) {
    plan.init = InitSystem::kSystemd;  // a tree being prepared is a systemd system unless OpenRC
  } else {
    plan.init = InitSystem::kNone;
  }

  plan.bin_dir = get(env, "INSTALL_K3S_BIN_DIR");
  if (plan.bin_dir.empty()) plan.bin_dir = default_bin_dir(root);
  plan.bin_dir_read_only = is_true(env, "INSTALL_K3S_BIN_DIR_READ_ONLY");
  if (auto d = get(env, "INSTALL_K3S_SYSTEMD_DIR"); !d.empty()) plan.systemd_dir = d;
  if (auto t = get(env, "INSTALL_K3S_TYPE"); !t.empty()) plan.systemd_type = t;
  for (const std::string* dir : {&plan.bin_dir, &plan.systemd_dir, &plan.data_dir}) {
    if (!dir->starts_with('/')) {
      return core::failf(Errc::kInvalid, "{} must be an absolute path", core::quote(*dir));
    }
  }

  std::string link = get(env, "INSTALL_K3S_SYMLINK");
  plan.symlink = link == "skip"    ? SymlinkMode::kSkip
                 : link == "force" ? SymlinkMode::kForce
                                   : SymlinkMode::kDefault;
  std::string skip = get(env, "INSTALL_K3S_SKIP_DOWNLOAD");
  plan.skip_download.binary = skip == "true" || skip == "binary";
  plan.skip_download.selinux = skip == "true" || skip == "selinux";
  if (plan.bin_dir_read_only) {
    plan.skip_download = {true, true};
    plan.symlink = SymlinkMode::kSkip;
  }
  plan.skip_enable = is_true(env, "INSTALL_K3S_SKIP_ENABLE");
  plan.skip_start = is_true(env, "INSTALL_K3S_SKIP_START");
  plan.force_restart = is_true(env, "INSTALL_K3S_FORCE_RESTART");
  plan.selinux_warn = is_true(env, "INSTALL_K3S_SELINUX_WARN");
  plan.skip_selinux_rpm = is_true(env, "INSTALL_K3S_SKIP_SELINUX_RPM");
  plan.version = get(env, "INSTALL_K3S_VERSION");
  if (auto c = get(env, "INSTALL_K3S_CHANNEL"); !c.empty()) plan.channel = c;
  if (auto c = get(env, "INSTALL_K3S_CHANNEL_URL"); !c.empty()) plan.channel_url = c;
  K3A_CHECK(plan_download_source(env, plan));

  std::vector<std::pair<std::string, std::string>> proxies;
  for (const auto& [k, v] : env) {
    if (k.starts_with("K3S_") || k.starts_with("CONTAINERD_")) {
      plan.service_env.emplace_back(k, v);
    } else if (proxy_var(k)) {
      proxies.emplace_back(k, v);
    }
  }
  plan.service_env.insert(plan.service_env.end(), proxies.begin(), proxies.end());
  return plan;
}

}  // namespace installer
