// The packaged manifests' text, embedded at build time from manifests/ (cmake/Embed.cmake):
// every .yaml below it, by its path relative to manifests/ ("metrics-server/x.yaml"), sorted.
#pragma once

#include <span>
#include <string_view>

namespace k3s::deploy::packaged {

struct File {
  std::string_view relative;
  std::string_view text;
};
extern const std::span<const File> kFiles;

}  // namespace k3s::deploy::packaged
