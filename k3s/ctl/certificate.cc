#include "k3s/ctl/certificate.h"

#include <dirent.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/x509.h"
#include "core/fs/files.h"

namespace k3s::ctl {
namespace {

using core::Errc;

constexpr int64_t kDay = 86400;
constexpr int64_t kWarnBefore = 90 * kDay;  // the renewal window of `k3s server`

// The leaf files (without .crt/.key) behind each service name upstream's rotate accepts.
const std::map<std::string, std::vector<std::string>>& service_files() {
  static const std::map<std::string, std::vector<std::string>> files = {
      {"admin", {"client-admin"}},
      {"api-server", {"serving-kube-apiserver", "client-kube-apiserver"}},
      {"controller-manager", {"client-controller"}},
      {"scheduler", {"client-scheduler"}},
      {"k3s-controller", {"client-k3s-controller"}},
      {"k3s-server", {"client-supervisor"}},
      {"cloud-controller", {"client-k3s-cloud-controller"}},
      {"etcd", {"etcd/client", "etcd/server-client", "etcd/peer-server-client"}},
      {"auth-proxy", {"client-auth-proxy"}},
      {"kubelet", {"client-kubelet", "serving-kubelet"}},
      {"kube-proxy", {"client-kube-proxy"}},
  };
  return files;
}

// "*.crt" files of the tls directory and its etcd/ subdirectory, relative and sorted.
std::vector<std::string> certificate_files(const std::string& tls) {
  std::vector<std::string> out;
  for (std::string sub : {"", "etcd/"}) {
    DIR* d = ::opendir((tls + "/" + sub).c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.ends_with(".crt")) out.push_back(sub + name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string usages(const core::Certificate& c) {
  std::vector<std::string> u;
  if (c.is_ca()) u.push_back("CertSign");
  if (c.server_auth()) u.push_back("ServerAuth");
  if (c.client_auth()) u.push_back("ClientAuth");
  return fmt::format("{}", fmt::join(u, ","));
}

// Rounded to the nearest unit, so a certificate issued for 365 days shows "1 year".
std::string residual(int64_t seconds) {
  auto in = [seconds](int64_t unit, const char* name) {
    int64_t n = (seconds + unit / 2) / unit;
    return fmt::format("{} {}{}", n, name, n == 1 ? "" : "s");
  };
  if (seconds <= 0) return "expired";
  if (seconds >= 360 * kDay) return in(365 * kDay, "year");
  if (seconds >= 30 * kDay) return in(30 * kDay, "month");
  if (seconds >= kDay) return in(kDay, "day");
  if (seconds >= 3600) return in(3600, "hour");
  return in(60, "minute");
}

std::string table_time(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%b %d, %Y %H:%M UTC", &tm);
  return buf;
}

core::Result<std::string> tls_dir(const CertificateOptions& options) {
  std::string tls = options.data_dir + "/server/tls";
  if (certificate_files(tls).empty())
    return core::failf(Errc::kNotFound, "no certificates found in {}", tls);
  return tls;
}

}  // namespace

core::Result<void> certificate_check(const CertificateOptions& options, std::FILE* out) {
  if (options.output != "text" && options.output != "table" && options.output != "json")
    return core::failf(Errc::kInvalid, "unknown output format \"{}\" (text, table, json)",
                       options.output);
  std::string tls = K3A_TRY(tls_dir(options));
  std::vector<std::vector<std::string>> rows = {
      {"FILENAME", "SUBJECT", "USAGES", "EXPIRES", "RESIDUAL TIME", "STATUS"},
      {"--------", "-------", "------", "-------", "-------------", "------"}};
  nlohmann::json items = nlohmann::json::array();
  for (const auto& file : certificate_files(tls)) {
    auto pem = core::read_file(tls + "/" + file);
    auto certs = pem ? core::Certificate::all_from_pem(*pem)
                     : core::Result<std::vector<core::Certificate>>(std::unexpected(pem.error()));
    if (!certs) {
      core::log::error("{}/{}: {}", tls, file, certs.error().message());
      continue;
    }
    for (const auto& c : *certs) {
      int64_t left = c.not_after() - options.now;
      std::string status = left <= 0 ? "EXPIRED" : left < kWarnBefore ? "WARNING" : "OK";
      rows.push_back(
          {file, c.common_name(), usages(c), table_time(c.not_after()), residual(left), status});
      items.push_back({{"filename", file},
                       {"subject", c.common_name()},
                       {"usages", usages(c)},
                       {"expires", core::format_rfc3339(c.not_after())},
                       {"residualSeconds", left},
                       {"status", status}});
      if (options.output != "text") continue;
      std::string at = core::format_rfc3339(c.not_after());
      if (status == "OK") {
        core::log::info("{}: certificate {} is ok, expires at {}", file, c.common_name(), at);
      } else if (status == "WARNING") {
        core::log::warn("{}: certificate {} will expire within 90 days at {}", file,
                        c.common_name(), at);
      } else {
        core::log::error("{}: certificate {} expired at {}", file, c.common_name(), at);
      }
    }
  }
  if (options.output == "table") fmt::print(out, "{}", core::format_columns(rows));
  if (options.output == "json") fmt::print(out, "{}\n", items.dump(2));
  return {};
}

core::Result<void> certificate_rotate(const CertificateOptions& options) {
  std::vector<std::string> services = options.services;
  if (services.empty()) {
    for (const auto& [name, files] : service_files()) services.push_back(name);
  }
  for (const auto& s : services) {
    if (!service_files().count(s)) {
      std::vector<std::string> valid;
      for (const auto& [name, files] : service_files()) valid.push_back(name);
      return core::failf(Errc::kInvalid, "{} is not a recognized service (valid: {})", s,
                         fmt::join(valid, ", "));
    }
  }
  std::string tls = K3A_TRY(tls_dir(options));
  // Back up every file first, so a failure part-way leaves the old set recoverable.
  std::string backup = fmt::format("{}/server/tls-{}", options.data_dir, options.now);
  for (const auto& file : certificate_files(tls)) {
    for (std::string ext : {".crt", ".key"}) {
      std::string base = file.substr(0, file.size() - 4) + ext;
      if (!core::path_exists(tls + "/" + base)) continue;
      K3A_CHECK(core::make_dirs(core::dir_name(backup + "/" + base), 0700));
      K3A_CHECK(core::write_file_atomic(backup + "/" + base,
                                        K3A_TRY(core::read_file(tls + "/" + base)), 0600));
    }
  }
  core::log::info("Server detected, rotating server certificates");
  for (const auto& s : services) {
    core::log::info("Rotating certificates for {} service", s);
    for (const auto& base : service_files().at(s)) {
      for (std::string ext : {".crt", ".key"}) {
        std::string path = tls + "/" + base + ext;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
          return core::fail_errno(errno, "remove " + path);
      }
    }
  }
  K3A_CHECK(core::fsync_dir(tls));
  core::log::info(
      "Successfully backed up certificates to {}, please restart k3s server or agent to rotate "
      "certificates",
      backup);
  return {};
}

}  // namespace k3s::ctl
