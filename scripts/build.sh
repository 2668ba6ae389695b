#!/usr/bin/env bash
# Configures and builds into build/ (Ninja, ccache). Shipped binaries land in build/bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DK3A_WERROR=ON >/dev/null
ninja -C build "$@"
