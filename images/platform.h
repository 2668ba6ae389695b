// Platforms ("linux/arm64/v8") with containerd's normalisation (platforms package): OS names are
// lowercased ("macos" → "darwin"); x86_64/x86-64 → amd64 (variant v1 dropped); aarch64 → arm64
// with variant "v8" when none or "8" is given; armhf → arm/v7, armel → arm/v6, arm without a
// variant → arm/v7; i386 → 386. Two platforms match when their normalised forms are equal.
// Plain values: safe to copy between threads.
#pragma once

#include <string>
#include <string_view>

#include "core/base/error.h"

namespace images {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64", "arm64", "arm"
  std::string variant;       // "", "v8", "v7"

  // Parses "os", "arch", "os/arch" or "os/arch/variant" and normalises. A single component is
  // an OS (the host architecture is added) if it is a known OS, else a known architecture (the
  // host OS is added). kInvalid names the specifier on empty parts, bad characters, more than
  // three parts, or an unknown single component.
  static core::Result<Platform> parse(std::string_view specifier);

  // "os/arch" or "os/arch/variant", as stored.
  std::string str() const;
  // The containerd-normalised form of this platform.
  Platform normalized() const;
  // True when both normalised forms are equal (so arm64 matches arm64/v8, arm matches arm/v7).
  bool matches(const Platform& wanted) const;

  friend bool operator==(const Platform&, const Platform&) = default;
};

// The platform this binary was compiled for, normalised (e.g. linux/amd64, linux/arm64/v8).
Platform host_platform();

}  // namespace images
