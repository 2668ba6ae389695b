// Entry-by-entry comparison of two bundles, for `bundle create --check-reproducible`: every
// entry (bundle.json included) must have the same path, size, mode, mtime and sha256 in both;
// bundle.json.sig is exempt because ECDSA signatures are randomised. Single-threaded.
#pragma once

#include <string>
#include <vector>

#include "core/base/error.h"

namespace bundler {

// One line per difference (empty when the bundles match); errors when a file cannot be read
// as a bundle.
core::Result<std::vector<std::string>> compare_bundle_entries(const std::string& a,
                                                              const std::string& b);

}  // namespace bundler
