#!/usr/bin/env bash
# A bundle carrying images, read by independent tools: zstd + tar unpack it, openssl checks the
# detached signature, skopeo and umoci read the image archive, containerd imports it; a bundle
# whose image archive carries a corrupt blob is refused.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"

make_rootfs "$WORK/rootfs-a" a
make_rootfs "$WORK/rootfs-b" b
expect_ok "$K3A" images build --rootfs "$WORK/rootfs-a" --entrypoint /bin/sh --platform linux/amd64 \
  -t docker.io/rancher/mirrored-pause:3.6 -o "$WORK/pause.tar"
expect_ok "$K3A" images build --rootfs linux/amd64="$WORK/rootfs-b" --rootfs linux/arm64="$WORK/rootfs-a" \
  --entrypoint /bin/sh -t registry.local/app:1 -o "$WORK/app.tar"
expect_ok "$K3A" key generate --out "$WORK/keys"
cat > "$WORK/bundle.yaml" <<YAML
apiVersion: k3s-airgap/v1
kind: Bundle
name: e2e
sequence: 1
k3s: {version: v1.32.4+k3s1}
arch: [amd64, arm64]
artifacts:
  - {name: k3s-airgap, path: $K3A}
images: []
imageArchives: [./pause.tar, ./app.tar]
YAML
# pause has no arm64 manifest: refused, naming it.
expect_fail "mirrored-pause:3.6 has no linux/arm64 manifest" \
  "$K3A" bundle create -f "$WORK/bundle.yaml" -o "$WORK/site.tar.zst" --sign-key "$WORK/keys/bundle.key" --cache-dir "$WORK/cache"
[ ! -e "$WORK/site.tar.zst" ] || fail "a failed create left a bundle behind"
sed -i 's/arch: \[amd64, arm64\]/arch: [amd64]/' "$WORK/bundle.yaml"
expect_ok "$K3A" bundle create -f "$WORK/bundle.yaml" -o "$WORK/site.tar.zst" --sign-key "$WORK/keys/bundle.key" --cache-dir "$WORK/cache"
expect_ok "$K3A" bundle verify "$WORK/site.tar.zst" --trust "$WORK/keys/bundle.pub"
grep -q "2 images" "$WORK/last.out" || fail "verify summary: $(cat "$WORK/last.out")"

expect_ok bash -c "openssl dgst -sha256 -verify '$WORK/keys/bundle.pub' -signature <(base64 -d '$WORK/site.tar.zst.sig') '$WORK/site.tar.zst'"
mkdir "$WORK/x"
expect_ok tar -I zstd -xf "$WORK/site.tar.zst" -C "$WORK/x"
archive="$WORK/x/images/k3s-airgap-images-amd64.tar"
[ -f "$archive" ] || fail "no images/k3s-airgap-images-amd64.tar in the bundle"
grep -qx "docker.io/rancher/mirrored-pause:3.6" "$WORK/x/images/k3s-images.txt" || fail "k3s-images.txt"
(cd "$WORK/x" && grep k3s-airgap-images-amd64.tar sha256sum-amd64.txt | sed 's|  |  images/|' | sha256sum -c -) > /dev/null \
  || fail "sha256sum-amd64.txt does not match the archive"

expect_ok skopeo inspect "oci-archive:$archive:3.6"  # skopeo looks images up by ref.name (the tag)
grep -q '"Architecture": "amd64"' "$WORK/last.out" || fail "skopeo: $(cat "$WORK/last.out")"
mkdir "$WORK/layout" && tar -xf "$archive" -C "$WORK/layout"
expect_ok umoci ls --layout "$WORK/layout"

start_containerd "$WORK/ctrd"
CTR=(ctr -a "$WORK/ctrd/containerd.sock" -n k8s.io)
expect_ok "${CTR[@]}" images import --snapshotter native "$archive"
expect_ok "${CTR[@]}" images ls -q
grep -qx "docker.io/rancher/mirrored-pause:3.6" "$WORK/last.out" || fail "ctr images ls: $(cat "$WORK/last.out")"
grep -qx "registry.local/app:1" "$WORK/last.out" || fail "ctr images ls: $(cat "$WORK/last.out")"
pinned=$("$K3A" bundle inspect "$WORK/site.tar.zst" -o json | python3 -c '
import json, sys
for i in json.load(sys.stdin)["image_list"]:
    if i["reference"] == "docker.io/rancher/mirrored-pause:3.6": print(i["platforms"]["linux/amd64"])')
"${CTR[@]}" images ls | grep "mirrored-pause:3.6" | grep "$pinned" > /dev/null || fail "containerd's digest differs from the pinned $pinned"

# A corrupt blob in an image archive is named.
python3 - "$WORK/layout" <<'PY'
import os, sys
root = sys.argv[1] + "/blobs/sha256"
biggest = max(os.listdir(root), key=lambda n: os.path.getsize(os.path.join(root, n)))
p = os.path.join(root, biggest)
data = bytearray(open(p, "rb").read()); data[len(data) // 2] ^= 1
open(p, "wb").write(bytes(data))
print(biggest)
PY
(cd "$WORK/layout" && tar --format=pax --sort=name --owner=0 --group=0 -cf "$WORK/bad.tar" oci-layout index.json manifest.json blobs)
expect_fail "content has digest" "$K3A" images list "$WORK/bad.tar"
echo "bundle_images: ok"
