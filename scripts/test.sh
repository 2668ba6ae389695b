#!/usr/bin/env bash
# What CI runs: install the Debian packages, build from scratch (ccache helps on reruns), run
# every ctest label. Extra arguments go to ctest (e.g. -L unit, -R Bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j2 "$@"
