#!/usr/bin/env bash
# standin-images.sh OUTDIR: local stand-ins for every image of manifests/images.txt, built by
# `k3s-airgap images build` from local files only (Debian's busybox-static, our k3s-standin, a
# self-signed certificate), one OCI archive each in OUTDIR. They carry the real images' names so
# the packaged manifests run unchanged offline; each answers its manifest's probes on the ports
# the real component uses (k3s-standin) and says it is a stand-in in its log and in
# /etc/stand-in. All share one root filesystem, so the bundle holds its layer once.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K3A=${K3A:-$ROOT/build/bin/k3s-airgap}
STANDIN=${STANDIN:-$ROOT/build/bin/k3s-standin}
out=$(mkdir -p "$1" && cd "$1" && pwd)
fs=$out/rootfs
rm -rf "$fs" && mkdir -p "$fs/bin" "$fs/etc/standin" "$fs/usr/bin" "$fs/usr/local/bin" "$fs/tmp"
cp /bin/busybox "$fs/bin/busybox"
for tool in sh sleep cat ls; do ln -sf busybox "$fs/bin/$tool"; done
cp "$STANDIN" "$fs/usr/local/bin/k3s-standin"
printf '#!/bin/sh\nexec /usr/local/bin/k3s-standin local-path-provisioner "$@"\n' > "$fs/usr/bin/local-path-provisioner"
chmod 755 "$fs/usr/bin/local-path-provisioner"
echo "a local stand-in built by scripts/standin-images.sh, not the real component" > "$fs/etc/stand-in"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj /CN=stand-in -keyout "$fs/etc/standin/tls.key" -out "$fs/etc/standin/tls.crt" 2>/dev/null
chmod 644 "$fs/etc/standin/tls.key"
touch -h -d @0 $(find "$fs")

path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
build() {  # build FILE REFERENCE ENTRYPOINT...
  local file=$1 ref=$2 words=() w; shift 2
  for w in "$@"; do words+=("--entrypoint=$w"); done
  "$K3A" images build --rootfs "$fs" --env "$path" "${words[@]}" -t "$ref" -o "$out/$file.tar" >/dev/null
}
standin=/usr/local/bin/k3s-standin
while read -r ref; do
  case $ref in
    ''|'#'*) continue ;;
    */mirrored-coredns-coredns:*) build coredns "$ref" "$standin" coredns --http 8080,8181,9153 ;;
    */mirrored-library-traefik:*) build traefik "$ref" "$standin" traefik --http 8080,8000,8443,9100 ;;
    */mirrored-metrics-server:*)
      build metrics-server "$ref" "$standin" metrics-server --https 10250 \
        --tls-cert /etc/standin/tls.crt --tls-key /etc/standin/tls.key ;;
    */local-path-provisioner:*) build local-path-provisioner "$ref" /usr/bin/local-path-provisioner ;;
    */mirrored-library-busybox:*) build busybox "$ref" /bin/sh ;;
    */mirrored-pause:*) build pause "$ref" /bin/sleep 2147483647 ;;
    *) echo "standin-images.sh: no stand-in for $ref" >&2; exit 1 ;;
  esac
done < "$ROOT/manifests/images.txt"
rm -rf "$fs"
