#!/usr/bin/env bash
# What CI runs: install the Debian packages, build from scratch (ccache helps on reruns), install
# the npm client libraries, run every ctest label. Extra arguments go to ctest (e.g. -L unit, -R Bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
# The client libraries the API is tested with, pinned in tests/clients/package.json.
mkdir -p build/clients
cp tests/clients/package.json build/clients/
npm install --prefix build/clients --no-package-lock --no-audit --no-fund --loglevel=error
cd build
ctest --output-on-failure --timeout 900 -j2 "$@"
