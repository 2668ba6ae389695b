// OCI image-layout archives: the tar that `ctr images import`, `docker load`, skopeo
// (oci-archive:) and k3s's agent/images directory accept, and the verifier that proves one
// before anything imports it.
//
// Written archives are deterministic (same images, blobs and mtime → same bytes, whatever the
// order of the images): entries oci-layout, index.json, manifest.json (Docker's format, for
// docker-load style readers), the directories blobs and blobs/sha256, then every blob once in
// digest order. index.json has one entry per reference, sorted, annotated with
// io.containerd.image.name (the full reference), org.opencontainers.image.ref.name (the tag) and,
// when the image was pinned by an index, kAnnotationIndexDigest. The entry points at the
// manifest; when several platform manifests share a reference, at an OCI index written into the
// archive over exactly those manifests (the pinned upstream index lists platforms that are not
// carried, so its blob is not written). Docker's manifest.json has no form for a tag over several
// platforms: such manifests are listed without RepoTags.
//
// read_oci_archive streams the tar once and works on non-seekable sources (a tar nested in a
// zstd stream). During the pass it checks every entry (safe path, regular file or directory, no
// duplicates, nothing but the layout's own names, JSON ≤ 20 MiB, blob names valid digests before
// any use) and every blob's size and sha256 against its name, keeping small JSON blobs in memory.
// After the pass it checks the DAG: index.json → manifests (and nested indexes) → config and
// layers, all present with the descriptor's size and a fitting media type, no foreign layers, as
// many layers as the config has diff_ids, manifest.json consistent with it, and no blob that
// nothing references. Stateless functions; thread-safe as the BlobStore is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/fs/stream.h"
#include "images/blob_store.h"
#include "images/manifest.h"
#include "images/reference.h"

namespace images {

// The digest of the multi-platform index an image was pinned by (its blob is not in the archive).
inline constexpr std::string_view kAnnotationIndexDigest = "io.k3s-airgap.image.index.digest";

// One platform manifest under one reference. Several ArchiveImages may share a reference (one
// per platform); they then need platforms and the same index_digest.
struct ArchiveImage {
  Reference ref;        // with a tag or a digest
  Descriptor manifest;  // a single-platform manifest (with its platform, when known)
  // The index the image was pinned by. Reading, an entry without the annotation that points at
  // an index in the archive reports that index's digest.
  std::optional<std::string> index_digest;
};

// Writes the archive. Every image's manifest, config and layers must be in the store.
// kInvalid for an empty list, a reference without tag or digest, the same reference and manifest
// listed twice, manifests sharing a reference without distinct platforms or with different
// index digests, a reference digest that is neither the manifest's nor the index's, or a
// descriptor that is not a manifest; kNotFound naming a missing blob; kIntegrity naming a blob
// whose stored bytes no longer match its digest or its descriptor's size; the sink's error
// otherwise. After a failure the sink holds a partial archive the caller must discard.
core::Result<void> write_oci_archive(const std::vector<ArchiveImage>& images, BlobStore& store,
                                     core::ByteSink& out, int64_t mtime);

struct ReadLimits {
  uint64_t max_blob_size = 16ull << 30;
  uint64_t max_total_size = 256ull << 30;
  size_t max_blobs = 100000;
  // JSON blobs (manifests, indexes, configs) kept in memory for the DAG check: each at most
  // memory_blob_size, together at most memory_total_size; others are re-read from extract_to.
  uint64_t memory_blob_size = 4u << 20;
  uint64_t memory_total_size = 256u << 20;
};

struct ArchiveContents {
  std::vector<ArchiveImage> images;  // in index.json order; one per platform manifest
  uint64_t blob_bytes = 0;
  size_t blob_count = 0;
};

// Verifies an archive, and with extract_to set also stores each verified blob there (a blob is
// published only after its digest matched; on a later failure, blobs already verified remain).
// A JSON blob not kept in memory (see ReadLimits) can only be checked with extract_to set (else
// kTooLarge naming it).
// Errors: kInvalid naming the entry or the document and the broken rule; kIntegrity naming the
// blob whose content, size or presence is wrong; kTooLarge naming the limit; kUnsupported for an
// unknown layout version; the source's error.
core::Result<ArchiveContents> read_oci_archive(core::ByteSource& in, BlobStore* extract_to,
                                               const ReadLimits& limits = {});

}  // namespace images
