#!/bin/sh
# k3s-airgap's install.sh: upstream's interface (INSTALL_K3S_*, K3S_URL, K3S_TOKEN, arguments
# as k3s flags), with every step done by `k3s-airgap install`, which verifies before it writes.
#   tar -xf site.tar.zst && ./install.sh [server|agent] [FLAGS...]
set -e
set -o noglob

info() { echo '[INFO] ' "$@"; }
fatal() { echo '[ERROR] ' "$@" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
bundle=
[ -f "$here/bundle.json" ] && bundle=$here

k3a=
for candidate in "$here/bin/k3s-airgap" "$here/k3s-airgap" "${INSTALL_K3S_BIN_DIR:-/usr/local/bin}/k3s-airgap" \
    /opt/bin/k3s-airgap; do
    if [ -x "$candidate" ]; then k3a=$candidate; break; fi
done
[ -n "$k3a" ] || fatal "k3s-airgap not found next to $0 or in ${INSTALL_K3S_BIN_DIR:-/usr/local/bin}"

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO="sudo -E"
if [ -n "$bundle" ]; then
    info "Installing from bundle $bundle with $k3a"
    exec $SUDO "$k3a" install "$bundle" -- "$@"
fi
exec $SUDO "$k3a" install -- "$@"
