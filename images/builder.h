// Building single-layer images from local directories, and multi-platform indexes over them,
// into a BlobStore. Deterministic: the same BuildSpec over the same directory contents gives
// the same layer, config and manifest digests on every run and every host running the same
// build of this binary (what enters the layer is described in layer.h: source mtimes, owners
// and umask do not matter, permission bits do; every time stamp is BuildSpec::created).
// Stateless functions; thread-safe as the BlobStore is.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "images/blob_store.h"
#include "images/manifest.h"
#include "images/platform.h"

namespace images {

struct BuildSpec {
  std::string rootfs_dir;               // its contents become the image's filesystem
  std::vector<std::string> entrypoint;  // config.Entrypoint
  std::vector<std::string> cmd;         // config.Cmd
  std::vector<std::string> env;         // "KEY=value"; nothing is added (set PATH yourself)
  std::string workdir;                  // config.WorkingDir
  std::string user;                     // config.User
  Platform platform;                    // written as given into config and descriptor
  std::map<std::string, std::string> labels;
  int64_t created = 0;  // seconds since the epoch: layer mtimes and the config's "created"
};

// Writes layer, config and OCI manifest; returns the manifest's descriptor (media type OCI
// manifest, with the platform). kInvalid for an empty os/architecture, a negative `created` or
// an env entry without '='; the layer's errors otherwise (layer.h).
core::Result<Descriptor> build_image(const BuildSpec& spec, BlobStore& store);

// Writes an OCI index over single-platform manifests already in the store; returns its
// descriptor. kInvalid when a descriptor is not a manifest, has no platform, or repeats a
// platform (compared normalised); kNotFound naming a manifest missing from the store.
core::Result<Descriptor> build_index(const std::vector<Descriptor>& platform_manifests,
                                     BlobStore& store);

// RFC 3339 UTC time ("2023-11-14T22:13:20Z") as image configs write it.
std::string rfc3339_utc(int64_t seconds);

}  // namespace images
