#!/usr/bin/env bash
# The main job from a fresh machine: install the Debian packages, build, then scripts/main_job.sh
# into build/demo — stand-in images from local files, a signed bundle, installed offline into a
# network namespace with no network, k3s server with its embedded agent, every kube-system pod
# Running from the preloaded images. The cluster keeps running: build/demo/kubectl reaches it,
# build/demo/stop.sh stops and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
exec bash scripts/main_job.sh build/demo
