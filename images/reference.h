// Image references ("busybox:1.36", "ghcr.io/org/app@sha256:…") parsed and normalised exactly as
// Docker's distribution/reference does (ParseNormalizedNamed): the first path component names a
// registry only if it contains '.' or ':' or is "localhost" (or has an uppercase letter, which
// then fails later as an invalid name); otherwise the registry is docker.io, and a single-component
// docker.io name gets "library/". "index.docker.io" becomes "docker.io". Only sha256 digests are
// accepted. Plain values: no shared state, safe to copy between threads.
#pragma once

#include <string>
#include <string_view>

#include "core/base/error.h"

namespace images {

struct Reference {
  std::string registry;    // "docker.io", "registry.local:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // empty when not given; parse() never adds "latest"
  std::string digest;      // "sha256:<64 hex>" or empty

  // Parses and normalises. kInvalid names the input and the broken rule (uppercase repository,
  // bad tag, bad digest, a 64-hex-digit name, a name over 255 characters ...).
  static core::Result<Reference> parse(std::string_view text);

  // Fully qualified: "docker.io/library/busybox:1.36", "…/busybox@sha256:…", or
  // "…/busybox:1.36@sha256:…" when both are set.
  std::string str() const;
  // registry + "/" + repository.
  std::string name() const;
  // The short form Docker prints: "busybox:1.36", "rancher/klipper-lb:v0.4.13",
  // "ghcr.io/org/app@sha256:…".
  std::string familiar() const;
  // A copy with tag "latest" when neither a tag nor a digest is set.
  Reference with_default_tag() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// True for "sha256:" followed by exactly 64 lowercase hex digits, the only digest accepted
// anywhere in this component (it is checked before a digest is ever used as a path).
bool is_valid_digest(std::string_view digest);
// The encoded part of a valid digest ("sha256:abc…" → "abc…"); empty for an invalid digest.
std::string digest_hex(std::string_view digest);
// "sha256:" + hex.
std::string sha256_digest(std::string_view hex);
// kInvalid "<what>: invalid digest "<digest>"" unless is_valid_digest().
core::Result<void> check_digest(std::string_view digest, std::string_view what);

}  // namespace images
