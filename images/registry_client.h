// RegistryClient: the OCI distribution (Docker registry v2) client — resolve, pull into a
// BlobStore, push from one — over core::http::Client, with registries.yaml mirrors, rewrites, TLS
// settings and credentials (registries.h).
//
// Authentication is Docker's: a 401 with `WWW-Authenticate: Bearer realm=…,service=…` gets a token
// from the realm (GET with service and scope `repository:<name>:pull` or `pull,push`, with the
// configured basic credentials; POST with an identity token), cached per (endpoint, scope)
// until it expires, and the request is sent again with `Authorization: Bearer`; a 401 with `Basic`
// is answered with the configured credentials. Every manifest's bytes are hashed here (and
// Docker-Content-Digest checked when sent); every blob is streamed into the store with its size and
// digest checked, so nothing unverified is ever published.
//
// Errors are one line naming the operation and reference, the endpoint and the cause, e.g. "pull
// docker.io/library/busybox:1: http://127.0.0.1:5000: manifest unknown (404)"; codes: kNotFound
// (404, missing platform), kUnauthorized (401), kForbidden (403), kIntegrity (digest or size
// mismatch), kUnavailable (unreachable, 5xx), kInvalid (bad documents or arguments). When every
// endpoint fails, the last endpoint's error is returned.
//
// Thread-safety: one RegistryClient may be used from several threads (token cache and HTTP clients
// are guarded by a mutex). It owns its HTTP clients; the BlobStore is the caller's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "images/blob_store.h"
#include "images/manifest.h"
#include "images/oci_archive.h"
#include "images/platform.h"
#include "images/reference.h"
#include "images/registries.h"

namespace images {

struct PullOptions {
  // Platforms to take from an index; empty takes every platform it lists (entries without a
  // platform or with "unknown" os, such as attestations, are skipped).
  std::vector<Platform> platforms;
  // The top (index or manifest) digest the pull must find. The manifest is fetched by this digest,
  // so a tag that moved since it was pinned does not matter; other bytes are kIntegrity.
  std::optional<std::string> pinned_digest;
  // Called with each chunk of blob bytes received (fits core::Progress::advance).
  std::function<void(uint64_t)> on_bytes;
};

struct RegistryClientOptions {
  int retries = 3;  // extra attempts on connection errors and 429/502/503/504
  std::chrono::milliseconds connect_timeout{10000};
};

class RegistryClient {
 public:
  explicit RegistryClient(RegistryConfig config = {}, RegistryClientOptions options = {});
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // Resolves a reference (tag or digest; no tag means "latest") to its top descriptor (index or
  // manifest: media type, digest of the bytes, size), trying the endpoints in order. kIntegrity
  // when a digest reference or Docker-Content-Digest does not match the bytes.
  core::Result<Descriptor> resolve(const Reference& ref);

  // Pulls the wanted platforms of ref (see PullOptions) with their manifests, configs and layers
  // into store, skipping blobs already there. Returns one ArchiveImage per platform: ref as given
  // (tag kept, "latest" added when neither tag nor digest is set), manifest = the platform
  // manifest's descriptor with its platform, index_digest = the index digest when the top is an
  // index. kNotFound naming a platform the image does not have; kUnsupported for nested indexes.
  core::Result<std::vector<ArchiveImage>> pull(const Reference& ref, BlobStore& store,
                                               const PullOptions& options);

  // Pushes to target (registry, repository, tag; a target without tag pushes by digest) the given
  // platform manifests, whose manifests, configs and layers must be in store: blobs first (skipping
  // those the registry has), then the manifest under the tag; several manifests are pushed by
  // digest and an OCI index over them (built into store) goes under the tag. Pushes go to the
  // registry's own endpoint, never to mirrors. kNotFound naming a blob missing from store; kInvalid
  // for an empty list or several manifests without distinct platforms.
  core::Result<void> push(const Reference& target, const std::vector<ArchiveImage>& platform_images,
                          BlobStore& store);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace images
