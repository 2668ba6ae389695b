// Helpers shared by the images tests: in-memory streams, a busybox root filesystem, and tar
// surgery for hostile archives. Test-only; not thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/archive/tar.h"
#include "core/fs/stream.h"
#include "images/blob_store.h"
#include "images/builder.h"

namespace images::testing {

using core::StringSink;
using core::StringSource;

// Fills dir with bin/busybox (a copy of /bin/busybox), bin/sh -> busybox, an empty tmp/
// (mode 1777) and etc/hostname. Returns false if /bin/busybox is missing.
bool make_busybox_rootfs(const std::string& dir);
// A BuildSpec for that rootfs: entrypoint ["/bin/sh"], PATH set, created fixed.
BuildSpec busybox_spec(const std::string& rootfs, Platform platform);

// One tar entry with its data, for rewriting archives.
struct TarItem {
  core::TarEntry entry;
  std::string data;
};
std::vector<TarItem> read_tar(const std::string& bytes);
std::string write_tar(const std::vector<TarItem>& items);
TarItem* find_item(std::vector<TarItem>& items, std::string_view path);

}  // namespace images::testing
