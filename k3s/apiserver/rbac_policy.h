// rbac_defaults.yaml, embedded at build time (cmake/Embed.cmake).
#pragma once

#include <string_view>

namespace k3s::apiserver::rbac_policy {

extern const std::string_view kDefaults;

}  // namespace k3s::apiserver::rbac_policy
