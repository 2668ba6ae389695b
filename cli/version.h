// The toolkit's version, from the CMake project version.
#pragma once

namespace cli {
inline constexpr char kVersion[] = K3A_VERSION;
}
