#include "installer/download.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "core/base/progress.h"
#include "core/base/strings.h"
#include "core/crypto/hashing_stream.h"
#include "core/crypto/sha256.h"
#include "core/fs/atomic_file.h"
#include "core/fs/files.h"
#include "core/http/client.h"

namespace installer {
namespace {

using core::Errc;

constexpr std::string_view kFileScheme = "file://";
constexpr uint64_t kMaxText = 1 << 20;

// A small document (checksum list, channel body): over http(s), or read from a file:// URL.
core::Result<std::string> fetch_text(core::http::Client& http, const std::string& url) {
  if (url.starts_with(kFileScheme))
    return core::read_file(url.substr(kFileScheme.size()), kMaxText);
  auto r = K3A_TRY(http.send({.url = url}));
  if (r.status != 200)
    return core::failf(Errc::kNotFound, "Download failed: {}: HTTP {}", url, r.status);
  return r.body;
}

// Upstream accepts whatever follows the last slash; a version is at least one word without
// spaces or path separators.
core::Result<std::string> checked_version(std::string version, const std::string& from) {
  version = std::string(core::trim(version));
  bool ok = !version.empty() && version.size() < 128 &&
            std::none_of(version.begin(), version.end(), [](char c) {
              return c == '/' || c == '\\' || static_cast<unsigned char>(c) <= ' ';
            });
  if (!ok) return core::failf(Errc::kNotFound, "{} did not name a release", from);
  return version;
}

core::Result<std::string> resolve_version(const Plan& plan, core::http::Client& http,
                                          Reporter& reporter) {
  if (!plan.version.empty()) return plan.version;
  reporter.info("Finding release for channel " + plan.channel);
  std::string url = plan.channel_url + "/" + plan.channel;
  std::string version;
  if (!plan.mirror_url.empty()) {
    version = K3A_TRY(checked_version(K3A_TRY(fetch_text(http, url)), url));
  } else {
    // The channel server redirects to .../releases/tag/<version>; where the redirects end is
    // the answer, whatever that page says (curl -w '%{url_effective}' in install.sh).
    auto r = K3A_TRY(http.send({.url = url}));
    if (r.url == url) {
      return core::failf(Errc::kNotFound, "channel {}: {} answered HTTP {} without a redirect",
                         plan.channel, url, r.status);
    }
    version = K3A_TRY(checked_version(r.url.substr(r.url.rfind('/') + 1), url));
  }
  reporter.info(fmt::format("Using {} as release", version));
  return version;
}

std::string release_base(const Plan& plan, const std::string& version) {
  if (!plan.artifact_url.empty()) return plan.artifact_url + "/" + version;
  if (plan.mirror_url.empty()) return plan.github_url + "/download/" + version;
  std::string dashed = version;
  std::replace(dashed.begin(), dashed.end(), '+', '-');
  return plan.mirror_url + "/k3s/" + dashed;
}

// Streams url into file, hashing it; kIntegrity when the hash is not `expected`.
core::Result<void> fetch_binary(core::http::Client& http, const std::string& url,
                                const std::string& expected, core::AtomicFile& file) {
  core::Progress progress("k3s", 0);
  if (url.starts_with(kFileScheme)) {
    core::Fd in = K3A_TRY(core::Fd::open(url.substr(kFileScheme.size()), O_RDONLY));
    core::FdSource source(in);
    core::ProgressSource counted(source, progress);
    core::HashingSink hashed(&file);
    K3A_CHECK(core::copy_stream(counted, hashed));
    progress.finish();
    std::string actual = hashed.finish_hex();
    if (actual == expected) return {};
    return core::failf(Errc::kIntegrity, "{}: sha256 mismatch: expected {}, got {}", url, expected,
                       actual);
  }
  auto r = K3A_TRY(http.download(
      {.url = url}, file,
      {.expected_sha256 = expected, .on_bytes = [&](uint64_t n) { progress.advance(n); }}));
  progress.finish();
  if (r.status / 100 != 2)
    return core::failf(Errc::kNotFound, "Download failed: {}: HTTP {}", url, r.status);
  return {};
}

}  // namespace

std::string k3s_asset(const std::string& arch) {
  if (arch == "amd64") return "k3s";
  return arch == "arm" ? "k3s-armhf" : "k3s-" + arch;
}

std::string sums_hash(std::string_view sums, std::string_view asset) {
  for (auto line : core::split(sums, '\n')) {
    auto f = core::split(core::trim(line), ' ');
    if (f.size() >= 2 && core::is_sha256_hex(f.front()) &&
        (f.back() == asset || f.back() == "*" + std::string(asset))) {
      return std::string(f.front());
    }
  }
  return "";
}

core::Result<std::string> download_k3s(const Plan& plan, const std::string& arch,
                                       Reporter& reporter) {
  core::http::Client http;
  std::string version = K3A_TRY(resolve_version(plan, http, reporter));
  std::string base = release_base(plan, version);
  std::string sums_url = base + "/sha256sum-" + arch + ".txt";
  std::string asset = k3s_asset(arch);
  reporter.info("Downloading hash " + sums_url);
  std::string expected = sums_hash(K3A_TRY(fetch_text(http, sums_url)), asset);
  if (expected.empty())
    return core::failf(Errc::kNotFound, "{} has no line for {}", sums_url, asset);

  std::string bin = plan.host(plan.bin_dir + "/k3s");
  struct stat st {};
  if (::stat(bin.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      K3A_TRY(core::sha256_file(bin)) == expected) {
    reporter.info("Skipping binary downloaded, installed k3s matches hash");
    return version;
  }
  reporter.info("Downloading binary " + base + "/" + asset);
  K3A_CHECK(core::make_dirs(plan.host(plan.bin_dir)));
  // The temporary file sits beside BIN_DIR/k3s, so the rename that installs it is atomic.
  core::AtomicFile file = K3A_TRY(core::AtomicFile::create(bin, 0755));
  K3A_CHECK(fetch_binary(http, base + "/" + asset, expected, file));
  reporter.info("Verifying binary download");
  K3A_CHECK(file.commit());
  reporter.info(fmt::format("Installing k3s to {}/k3s", plan.bin_dir));
  return version;
}

}  // namespace installer
