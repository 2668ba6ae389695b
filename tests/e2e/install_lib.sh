# Helpers for the installer's end-to-end scripts (source after lib.sh).

# make_bundles DIR: keys/, and two signed bundles v1.tar.zst (sequence 1) and v2.tar.zst
# (sequence 2, another k3s stand-in and image) made by our own bundle create.
make_bundles() {
  local d=$1 v
  expect_ok "$K3A" key generate --out "$d/keys"
  for v in 1 2; do
    mkdir -p "$d/in$v"
    printf '#!/bin/sh\necho "stand-in v%s $*"\nexec sleep 600\n' "$v" > "$d/in$v/k3s"
    chmod 755 "$d/in$v/k3s"
    make_rootfs "$d/in$v/rootfs" "v$v"
    expect_ok "$K3A" images build --rootfs "$d/in$v/rootfs" --entrypoint /bin/sh \
      -t docker.io/rancher/mirrored-pause:3.6 -o "$d/in$v/pause.tar"
    mkdir -p "$d/in$v/manifests"
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v%s}\n' "$v" > "$d/in$v/manifests/cm.yaml"
    cat > "$d/in$v/bundle.yaml" <<YAML
apiVersion: k3s-airgap/v1
kind: Bundle
name: site
sequence: $v
k3s: {version: v1.32.$v+k3s1}
arch: [amd64]
artifacts:
  - {name: k3s, path: ./k3s}
imageArchives: [./pause.tar]
manifests: ./manifests
YAML
    expect_ok "$K3A" bundle create -f "$d/in$v/bundle.yaml" -o "$d/v$v.tar.zst" \
      --sign-key "$d/keys/bundle.key" --cache-dir "$d/cache"
  done
}

# target_read ROOT PATH: a file's content as the target system sees it (absolute symlinks
# resolve inside ROOT).
target_read() {
  local root=$1 p=$2 l
  while l=$(readlink "$root$p") && [ "${l#/}" != "$l" ]; do p=$l; done
  cat "$root$p"
}

# wait_for WHAT CMD...: polls CMD until it succeeds (10 s at most).
wait_for() {
  local what=$1 i; shift
  for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "timed out waiting for $what"
}
