// Names inside an OCI image layout, shared by the archive writer and reader (internal to the
// images component). Constants and a pure function: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "images/reference.h"

namespace images {

inline constexpr std::string_view kLayoutFile = "oci-layout";
inline constexpr std::string_view kLayoutVersion = "1.0.0";
inline constexpr std::string_view kLayoutJson = R"({"imageLayoutVersion":"1.0.0"})";
inline constexpr std::string_view kIndexFile = "index.json";
inline constexpr std::string_view kDockerManifestFile = "manifest.json";
inline constexpr std::string_view kBlobsDir = "blobs";
inline constexpr std::string_view kBlobsSha256Dir = "blobs/sha256";

// "blobs/sha256/<hex>"; the digest must be valid (is_valid_digest).
inline std::string blob_path(std::string_view digest) {
  return std::string(kBlobsSha256Dir) + "/" + digest_hex(digest);
}

}  // namespace images
