#include "bundler/reproducible.h"

#include <fcntl.h>

#include <map>

#include "bundler/format/manifest.h"
#include "core/archive/tar.h"
#include "core/archive/zstd.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/fd.h"

namespace bundler {
namespace {

struct EntryFacts {
  uint64_t size;
  uint32_t mode;
  int64_t mtime;
  std::string sha256;
  bool operator==(const EntryFacts&) const = default;
};

core::Result<std::vector<std::pair<std::string, EntryFacts>>> list_entries(
    const std::string& path) {
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  auto zstd = K3A_TRY(core::ZstdSource::create(src));
  auto reader = K3A_TRY(core::TarReader::open(*zstd));
  std::vector<std::pair<std::string, EntryFacts>> out;
  while (auto entry = K3A_TRY(reader->next())) {
    core::Sha256 hash;
    while (true) {
      std::string_view block = K3A_TRY(reader->read_block());
      if (block.empty()) break;
      hash.update(block);
    }
    out.push_back({entry->path, {entry->size, entry->mode, entry->mtime, hash.finish_hex()}});
  }
  K3A_CHECK(reader->finish());
  return out;
}

}  // namespace

core::Result<std::vector<std::string>> compare_bundle_entries(const std::string& a,
                                                              const std::string& b) {
  auto ea = K3A_TRY(list_entries(a));
  auto eb = K3A_TRY(list_entries(b));
  std::vector<std::string> diffs;
  if (ea.size() != eb.size())
    diffs.push_back(fmt::format("{} entries against {}", ea.size(), eb.size()));
  for (size_t i = 0; i < std::min(ea.size(), eb.size()); ++i) {
    const auto& [pa, fa] = ea[i];
    const auto& [pb, fb] = eb[i];
    if (pa != pb) {
      diffs.push_back(fmt::format("entry {} is {} in one and {} in the other", i, core::quote(pa),
                                  core::quote(pb)));
    } else if (pa != kSignaturesPath && !(fa == fb)) {
      diffs.push_back(fmt::format("{} differs (size {}/{}, mode {}/{}, mtime {}/{}, sha256 {}/{})",
                                  core::quote(pa), fa.size, fb.size, mode_string(fa.mode),
                                  mode_string(fb.mode), fa.mtime, fb.mtime, fa.sha256.substr(0, 12),
                                  fb.sha256.substr(0, 12)));
    }
  }
  return diffs;
}

}  // namespace bundler
