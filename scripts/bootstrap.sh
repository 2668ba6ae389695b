#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent: packages already present are left alone, so a second run costs a few seconds.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config file
  libboost1.74-dev libssl-dev libarchive-dev libzstd-dev liblzma-dev libbz2-dev zlib1g-dev
  liblz4-dev libacl1-dev libattr1-dev
  nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libcli11-dev libspdlog-dev libfmt-dev
  libprotobuf-dev protobuf-compiler libnghttp2-dev
  libgtest-dev libgmock-dev
)
test_pkgs=(
  docker-registry skopeo umoci containerd runc busybox-static openssl zstd apache2-utils faketime
  strace systemd rpm sqlite3 etcd-server etcd-client lz4 bzip2 containernetworking-plugins iptables
  iproute2
  nginx-light
)

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all packages present"
  exit 0
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The registry and etcd packages start system services; tests and benchmarks start their own on
# free ports.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry etcd nginx >/dev/null 2>&1 || true; fi
echo "bootstrap: done"
