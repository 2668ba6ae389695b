// The packaged manifests' text, embedded at build time from manifests/ (cmake/Embed.cmake).
#pragma once

#include <string_view>

namespace k3s::deploy::packaged {

extern const std::string_view kCcm;
extern const std::string_view kRolebindings;

}  // namespace k3s::deploy::packaged
