#!/usr/bin/env bash
# Bundles from a registry: images we built are pushed to a real docker-registry, a spec pulls
# them by their upstream names through registries.yaml mirrors, the lock pins their digests, a
# rebuild from the lock is reproducible even after a tag moved, and an unreachable registry is
# named without leaving a file behind.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"

start_registry "$WORK/registry"
make_rootfs "$WORK/a" a; make_rootfs "$WORK/b" b; make_rootfs "$WORK/c" c
expect_ok "$K3A" images build --rootfs "$WORK/a" --entrypoint /bin/sh --platform linux/amd64 \
  -t docker.io/rancher/mirrored-pause:3.6 -o "$WORK/pause.tar"
expect_ok "$K3A" images build --rootfs linux/amd64="$WORK/a" --rootfs linux/arm64="$WORK/b" \
  --entrypoint /bin/sh -t registry.local/app:1 -o "$WORK/app.tar"
expect_ok "$K3A" images push "$WORK/pause.tar" --to "$REGISTRY"
expect_ok "$K3A" images push "$WORK/app.tar" --to "$REGISTRY"
expect_ok skopeo inspect --tls-verify=false --raw "docker://$REGISTRY/app:1"
grep -q '"manifests"' "$WORK/last.out" || fail "app:1 should be an index: $(cat "$WORK/last.out")"

expect_ok "$K3A" key generate --out "$WORK/keys"
cat > "$WORK/bundle.yaml" <<YAML
apiVersion: k3s-airgap/v1
kind: Bundle
name: reg
sequence: 1
k3s: {version: v1.32.4+k3s1}
arch: [amd64, arm64]
artifacts:
  - {name: k3s-airgap, path: $K3A}
images:
  - docker.io/rancher/mirrored-pause:3.6
  - registry.local/app:1
registries:
  mirrors:
    docker.io: {endpoint: ["http://$REGISTRY"]}
    registry.local: {endpoint: ["http://$REGISTRY"]}
YAML
CREATE=("$K3A" bundle create -f "$WORK/bundle.yaml" --sign-key "$WORK/keys/bundle.key" --cache-dir "$WORK/cache")
# pause has no arm64 manifest.
expect_fail "linux/arm64" "${CREATE[@]}" -o "$WORK/site.tar.zst"
sed -i 's/arch: \[amd64, arm64\]/arch: [amd64]/' "$WORK/bundle.yaml"
expect_ok "${CREATE[@]}" -o "$WORK/site.tar.zst"
expect_ok "$K3A" bundle verify "$WORK/site.tar.zst" --trust "$WORK/keys/bundle.pub" -o json
python3 - "$WORK/last.out" "$WORK/bundle.lock.json" <<'PY'
import json, sys
report, lock = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert report["verified"] and report["images"] == 2, report
refs = {i["reference"]: i for i in lock["images"]}
assert set(refs) == {"docker.io/rancher/mirrored-pause:3.6", "registry.local/app:1"}, refs
assert list(refs["registry.local/app:1"]["platforms"]) == ["linux/amd64"], refs
PY
[ $? -eq 0 ] || fail "lock or report content"

# The tag moves upstream; the lock still rebuilds the same bundle.
expect_ok "$K3A" images build --rootfs "$WORK/c" --entrypoint /bin/sh --platform linux/amd64 \
  -t docker.io/rancher/mirrored-pause:3.6 -o "$WORK/pause2.tar"
expect_ok "$K3A" images push "$WORK/pause2.tar" --to "$REGISTRY"
rm -rf "$WORK/cache"
expect_ok "${CREATE[@]}" -o "$WORK/again.tar.zst" --from-lock --check-reproducible "$WORK/site.tar.zst"
# Without the lock the moved tag is taken, and diff says so.
expect_ok "${CREATE[@]}" -o "$WORK/moved.tar.zst" --lock "$WORK/moved.lock.json"
expect_ok "$K3A" bundle diff "$WORK/site.tar.zst" "$WORK/moved.tar.zst"
grep -q "image changed  docker.io/rancher/mirrored-pause:3.6" "$WORK/last.out" || fail "diff: $(cat "$WORK/last.out")"

# The registry goes away: the error names the endpoint and no bundle appears.
kill "$REGISTRY_PID"; wait "$REGISTRY_PID" 2>/dev/null || true
expect_fail "$REGISTRY" "${CREATE[@]}" -o "$WORK/none.tar.zst" --lock "$WORK/none.lock.json"
[ ! -e "$WORK/none.tar.zst" ] || fail "a failed create left a bundle behind"
echo "bundle_registry: ok"
