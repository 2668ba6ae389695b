# Helpers for the installer's end-to-end scripts (source after lib.sh).

# make_bundle DIR N K3S_SCRIPT [VERSION]: DIR/vN.tar.zst (sequence N, k3s VERSION, by default
# v1.32.N+k3s1) carrying K3S_SCRIPT as its k3s, an image and a manifest, signed with DIR/keys
# (made on first use) by our own bundle create.
make_bundle() {
  local d=$1 v=$2 script=$3 version=${4:-v1.32.$2+k3s1}
  [ -e "$d/keys/bundle.key" ] || expect_ok "$K3A" key generate --out "$d/keys"
  mkdir -p "$d/in$v/manifests"
  printf '%s' "$script" > "$d/in$v/k3s"
  chmod 755 "$d/in$v/k3s"
  make_rootfs "$d/in$v/rootfs" "v$v"
  expect_ok "$K3A" images build --rootfs "$d/in$v/rootfs" --entrypoint /bin/sh \
    -t docker.io/rancher/mirrored-pause:3.6 -o "$d/in$v/pause.tar"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v%s}\n' "$v" > "$d/in$v/manifests/cm.yaml"
  cat > "$d/in$v/bundle.yaml" <<YAML
apiVersion: k3s-airgap/v1
kind: Bundle
name: site
sequence: $v
k3s: {version: $version}
arch: [amd64]
artifacts:
  - {name: k3s, path: ./k3s}
images: []
imageArchives: [./pause.tar]
manifests: ./manifests
YAML
  expect_ok "$K3A" bundle create -f "$d/in$v/bundle.yaml" -o "$d/v$v.tar.zst" \
    --sign-key "$d/keys/bundle.key" --cache-dir "$d/cache"
}

# A k3s stand-in: says which version it is, reports ready (sd_notify) when asked to, and runs.
standin_k3s() {
  printf '#!/bin/sh\necho "stand-in v%s $*"\n[ -z "$NOTIFY_SOCKET" ] || systemd-notify --ready --no-block\nexec sleep 600\n' "$1"
}

# make_bundles DIR: v1.tar.zst and v2.tar.zst with working stand-ins.
make_bundles() {
  make_bundle "$1" 1 "$(standin_k3s 1)"
  make_bundle "$1" 2 "$(standin_k3s 2)"
}

# target_read ROOT PATH: a file's content as the target system sees it (absolute symlinks
# resolve inside ROOT).
target_read() {
  local root=$1 p=$2 l
  while l=$(readlink "$root$p") && [ "${l#/}" != "$l" ]; do p=$l; done
  cat "$root$p"
}

# start_mirror ROOT LOG: `k3s-airgap mirror serve` on a free loopback port, stopped at exit;
# sets PORT and U (its URL) once it answers.
start_mirror() {
  PORT=$(free_port)
  "$K3A" mirror serve --root "$1" --addr "127.0.0.1:$PORT" > "$2" 2>&1 &
  CLEANUP=("kill $! 2>/dev/null; wait $! 2>/dev/null" "${CLEANUP[@]}")
  U=http://127.0.0.1:$PORT
  wait_for "the mirror on $U" curl -sf "$U/v2/"
}
