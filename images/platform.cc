#include "images/platform.h"

#include <algorithm>
#include <iterator>

#include "core/base/strings.h"

namespace images {
namespace {

using core::Errc;
using core::Result;

constexpr std::string_view kKnownOs[] = {"aix",  "android", "darwin",  "dragonfly", "freebsd",
                                         "hurd", "illumos", "ios",     "js",        "linux",
                                         "nacl", "netbsd",  "openbsd", "windows"};
constexpr std::string_view kKnownArch[] = {
    "386",     "amd64",   "amd64p32", "arm",    "armbe",   "arm64",    "arm64be", "ppc64",
    "ppc64le", "loong64", "mips",     "mipsle", "mips64",  "mips64le", "ppc",     "riscv",
    "riscv64", "s390",    "s390x",    "sparc",  "sparc64", "wasm"};

bool known(std::string_view s, const auto& table) {
  return std::find(std::begin(table), std::end(table), s) != std::end(table);
}

// containerd's specifier rule: ^[A-Za-z0-9_-]+$
bool is_specifier_part(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string normalize_os(std::string_view os) {
  std::string s = core::to_lower(os);
  return s == "macos" ? "darwin" : s;
}

// containerd's normalizeArch, with arm64's empty variant spelled "v8" so that the stored and
// the compared forms agree.
std::pair<std::string, std::string> normalize_arch(std::string_view arch_in,
                                                   std::string_view variant_in) {
  std::string arch = core::to_lower(arch_in);
  std::string variant = core::to_lower(variant_in);
  if (arch == "i386") return {"386", ""};
  if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    return {"amd64", variant == "v1" ? "" : variant};
  }
  if (arch == "aarch64" || arch == "arm64") {
    if (variant.empty() || variant == "8" || variant == "v8" || variant == "v8.0") variant = "v8";
    return {"arm64", variant};
  }
  if (arch == "armhf") return {"arm", "v7"};
  if (arch == "armel") return {"arm", "v6"};
  if (arch == "arm") {
    if (variant.empty() || variant == "7") return {"arm", "v7"};
    if (variant == "5" || variant == "6" || variant == "8") return {"arm", "v" + variant};
  }
  return {arch, variant};
}

}  // namespace

Result<Platform> Platform::parse(std::string_view specifier) {
  auto parts = core::split(specifier, '/');
  auto invalid = [&](std::string_view why) {
    return core::failf(Errc::kInvalid, "platform {}: {}", core::quote(specifier), why);
  };
  if (parts.size() > 3) return invalid("more than three parts (os/arch/variant)");
  for (auto part : parts) {
    if (!is_specifier_part(part)) return invalid("each part must match [A-Za-z0-9_-]+");
  }
  Platform host = host_platform();
  Platform p;
  if (parts.size() == 1) {
    std::string one = core::to_lower(parts[0]);
    if (known(normalize_os(one), kKnownOs)) {
      p = {normalize_os(one), host.architecture, host.variant};
    } else if (known(normalize_arch(one, "").first, kKnownArch)) {
      p = {host.os, std::string(parts[0]), ""};
    } else {
      return invalid("unknown operating system or architecture");
    }
  } else {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  }
  return p.normalized();
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Platform Platform::normalized() const {
  auto [arch, var] = normalize_arch(architecture, variant);
  return Platform{normalize_os(os), arch, var};
}

bool Platform::matches(const Platform& wanted) const { return normalized() == wanted.normalized(); }

Platform host_platform() {
#if defined(__x86_64__)
  Platform p{"linux", "amd64", ""};
#elif defined(__aarch64__)
  Platform p{"linux", "arm64", "v8"};
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
  Platform p{"linux", "arm", "v7"};
#elif defined(__arm__)
  Platform p{"linux", "arm", "v6"};
#elif defined(__s390x__)
  Platform p{"linux", "s390x", ""};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  Platform p{"linux", "ppc64le", ""};
#elif defined(__riscv) && __riscv_xlen == 64
  Platform p{"linux", "riscv64", ""};
#else
#error "unknown host architecture"
#endif
  return p.normalized();
}

}  // namespace images
