// install.sh's online mode (its download_and_verify step) for installs without a bundle: the
// release INSTALL_K3S_VERSION or the channel names, resolved as upstream's script does (the
// channel server's redirect, or a mirror's channel body), then the k3s binary fetched from
// GitHub's release tree, INSTALL_K3S_ARTIFACT_URL (http, https or file://) or a mirror, and
// checked against the release's sha256sum-<arch>.txt before it replaces BIN_DIR/k3s in one
// rename. A failure at any step leaves BIN_DIR/k3s as it was. Not thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/base/error.h"
#include "installer/install.h"
#include "installer/plan.h"

namespace installer {

// Returns the version installed (or found already installed with the release's hash). Errors:
// kNotFound (channel, release or asset missing; no hash line for the binary), kUnavailable or
// kTimeout (the server), kIntegrity (the download does not match its hash), and I/O errors.
core::Result<std::string> download_k3s(const Plan& plan, const std::string& arch,
                                       Reporter& reporter);

// The release asset name of k3s for an architecture (k3s, k3s-arm64, k3s-armhf, k3s-s390x).
std::string k3s_asset(const std::string& arch);
// The hash a sha256sum-<arch>.txt gives for asset ("" when it has no line for it).
std::string sums_hash(std::string_view sums, std::string_view asset);

}  // namespace installer
