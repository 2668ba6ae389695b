// Builders of valid and deliberately broken bundles for the bundler's tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bundler/format/manifest.h"
#include "bundler/format/verifier.h"
#include "core/archive/tar.h"
#include "core/crypto/keys.h"
#include "core/fs/temp_dir.h"

namespace bundler::testing {

// A bundle.json for the given files (role artifact, mode 0755, under bin/).
BundleManifest manifest_for(const std::map<std::string, std::string>& files,
                            const std::string& created = "2026-01-01T00:00:00Z");

// A valid bundle at dir/name, signed by key; returns its path.
std::string write_valid_bundle(const core::TempDir& dir, const core::PrivateKey& key,
                               const std::map<std::string, std::string>& files,
                               const std::string& name = "site.tar.zst");

struct RawEntry {
  core::TarEntry entry;
  std::string data;
};

// A bundle whose tar holds exactly these entries (after bundle.json and its signature when
// those are non-empty), compressed like a real one.
std::string write_raw_bundle(const core::TempDir& dir, const std::string& name,
                             const std::string& manifest_json, const std::string& signatures_json,
                             const std::vector<RawEntry>& entries);

std::string sign_json(const core::PrivateKey& key, const std::string& manifest_json);

// Runs verify_bundle over a file.
core::Result<VerifyReport> verify_file(const std::string& path, const VerifyOptions& options);

}  // namespace bundler::testing
