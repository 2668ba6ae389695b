#!/bin/sh
# k3s-airgap's install.sh: upstream's interface (INSTALL_K3S_*, K3S_URL, K3S_TOKEN, arguments
# as k3s flags), with every step done by `k3s-airgap install`, which verifies before it writes.
#   tar -xf site.tar.zst && ./install.sh [server|agent] [FLAGS...]
#   curl -sfL http://MIRROR/install.sh | INSTALL_K3S_MIRROR_URL=MIRROR sh -
# Through a mirror (INSTALL_K3S_MIRROR=cn, INSTALL_K3S_MIRROR_URL, INSTALL_K3S_ARTIFACT_URL) the
# release's k3s-airgap is downloaded and checked against its sha256sum-<arch>.txt first.
set -e
set -o noglob

info() { echo '[INFO] ' "$@"; }
fatal() { echo '[ERROR] ' "$@" >&2; exit 1; }

# Beside the script only when it is a file (`curl ... | sh -` has none).
here=
[ -f "$0" ] && here=$(cd "$(dirname "$0")" && pwd)
bundle=
[ -n "$here" ] && [ -f "$here/bundle.json" ] && bundle=$here

mirror=${INSTALL_K3S_MIRROR_URL:-}
[ "${INSTALL_K3S_MIRROR:-}" = cn ] && mirror=${mirror:-rancher-mirror.rancher.cn}

download() {
    if command -v curl >/dev/null 2>&1; then
        curl -sfL -o "$1" "$2" || fatal "Download failed: $2"
    elif command -v wget >/dev/null 2>&1; then
        wget -qO "$1" "$2" || fatal "Download failed: $2"
    else
        fatal "Can not find curl or wget for downloading files"
    fi
}

# The release the installer will fetch, resolved here so both fetch the same one.
release_version() {
    [ -z "${INSTALL_K3S_VERSION:-}" ] || { echo "$INSTALL_K3S_VERSION"; return; }
    channel=${INSTALL_K3S_CHANNEL:-stable}
    if [ -n "$mirror" ]; then
        download "$tmp/channel" "${mirror%/}/k3s/channels/$channel"
        cat "$tmp/channel"
    else
        url=$(curl -w '%{url_effective}' -L -s -S -o /dev/null \
            "${INSTALL_K3S_CHANNEL_URL:-https://update.k3s.io/v1-release/channels}/$channel")
        echo "${url##*/}"
    fi
}

# Fetches the release's k3s-airgap into $tmp and checks it against the release's checksum list.
bootstrap() {
    case ${ARCH:-$(uname -m)} in
        amd64|x86_64) arch=amd64 ;;
        arm64|aarch64) arch=arm64 ;;
        s390x) arch=s390x ;;
        arm*) arch=arm ;;
        *) fatal "Unsupported architecture $(uname -m)" ;;
    esac
    version=$(release_version)
    [ -n "$version" ] || fatal "No release found for channel ${INSTALL_K3S_CHANNEL:-stable}"
    info "Using $version as release"
    if [ -n "${INSTALL_K3S_ARTIFACT_URL:-}" ]; then
        base=${INSTALL_K3S_ARTIFACT_URL%/}/$version
    else
        base=${mirror%/}/k3s/$(echo "$version" | tr + -)
    fi
    info "Downloading hash $base/sha256sum-$arch.txt"
    download "$tmp/sums" "$base/sha256sum-$arch.txt"
    expected=$(grep ' k3s-airgap$' "$tmp/sums" | awk '{print $1}')
    [ -n "$expected" ] || fatal "$base/sha256sum-$arch.txt has no line for k3s-airgap"
    info "Downloading binary $base/k3s-airgap"
    download "$tmp/k3s-airgap" "$base/k3s-airgap"
    actual=$(sha256sum "$tmp/k3s-airgap" | awk '{print $1}')
    [ "$actual" = "$expected" ] || fatal "Download sha256 does not match $expected, got $actual"
    chmod 755 "$tmp/k3s-airgap"
    export INSTALL_K3S_VERSION="$version"
}

k3a=
tmp=
if [ -z "$bundle" ] && { [ -n "$mirror" ] || [ -n "${INSTALL_K3S_ARTIFACT_URL:-}" ]; } &&
    [ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" != true ] && [ "${INSTALL_K3S_SKIP_DOWNLOAD:-}" != binary ]; then
    tmp=$(mktemp -d -t k3s-install.XXXXXXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    bootstrap
    k3a=$tmp/k3s-airgap
else
    for candidate in ${here:+"$here/bin/k3s-airgap" "$here/k3s-airgap"} \
        "${INSTALL_K3S_BIN_DIR:-/usr/local/bin}/k3s-airgap" /opt/bin/k3s-airgap; do
        if [ -x "$candidate" ]; then k3a=$candidate; break; fi
    done
fi
[ -n "$k3a" ] || fatal "k3s-airgap not found next to $0 or in ${INSTALL_K3S_BIN_DIR:-/usr/local/bin}"

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
if [ -n "$bundle" ]; then
    info "Installing from bundle $bundle with $k3a"
    exec $SUDO "$k3a" install "$bundle" -- "$@"
fi
# Not exec: the trap removes the downloaded k3s-airgap when the install ends.
$SUDO "$k3a" install -- "$@"
