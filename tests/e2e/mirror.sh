#!/usr/bin/env bash
# `k3s-airgap mirror add` and `mirror serve` on 127.0.0.1: two signed bundles added (their
# shared blobs stored once, an unsigned or tampered bundle refused with nothing added), then the
# requests install.sh, the China mirror's script and upgrade tooling make, answered as upstream
# answers them (paths, redirects, bodies, hashes), Range and ETag, and the registry checked with
# skopeo (inspect, and a copy whose blobs are verified; a tag held for two architectures is an
# index) and ctr (pull into a private containerd);
# HTTPS; registries.yaml generated for it; a second mirror synced from the first as upstream.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/install_lib.sh"
B=$WORK/bundles
make_bundle "$B" 3 '#!/bin/sh
echo k3s v3'
make_bundle "$B" 4 '#!/bin/sh
echo k3s v4'
M=$WORK/mirror

# Refusals: no trusted key; a tampered copy.
expect_ok "$K3A" key generate --out "$WORK/other"
expect_fail 'signature' "$K3A" mirror add "$B/v3.tar.zst" --root "$M" --trust "$WORK/other/bundle.pub"
cp "$B/v3.tar.zst" "$WORK/bad.tar.zst"
printf 'x' | dd of="$WORK/bad.tar.zst" bs=1 seek=$(( $(stat -c %s "$WORK/bad.tar.zst") / 2 )) conv=notrunc 2>/dev/null
expect_fail 'k3s-airgap' "$K3A" mirror add "$WORK/bad.tar.zst" --root "$M" --trust "$B/keys/bundle.pub"
[ ! -e "$M/index.json" ] || fail "a refused bundle changed the index"

expect_ok "$K3A" mirror add "$B/v3.tar.zst" --root "$M" --trust "$B/keys/bundle.pub" -o json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['version']=='v1.32.3+k3s1' and r['images']>=1 and 'stable' in r['channels'], r" "$WORK/last.out" \
  || fail "add v3: $(cat "$WORK/last.out")"
expect_ok "$K3A" mirror add "$B/v4.tar.zst" --root "$M" --trust "$B/keys/bundle.pub" -o json
stored=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files_stored'])" "$WORK/last.out")
files=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files'])" "$WORK/last.out")
[ "$stored" -lt "$files" ] || fail "the second bundle shared nothing: $stored of $files stored"
expect_ok "$K3A" mirror add "$B/v3.tar.zst" --root "$M" --trust "$B/keys/bundle.pub" -o json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['channels']==[] and r['files_stored']==0, r" "$WORK/last.out" \
  || fail "an older bundle again: $(cat "$WORK/last.out")"

# A bundle for two architectures: the tag both its image archives carry becomes one index.
mkdir -p "$B/in5"
make_rootfs "$B/in5/amd64" multi-amd64
make_rootfs "$B/in5/arm64" multi-arm64
expect_ok "$K3A" images build --rootfs "linux/amd64=$B/in5/amd64" --rootfs "linux/arm64=$B/in5/arm64" \
  --entrypoint /bin/sh -t docker.io/rancher/multi:1 -o "$B/in5/multi.tar"
printf '#!/bin/sh\necho k3s v5\n' > "$B/in5/k3s"
chmod 755 "$B/in5/k3s"
cat > "$B/in5/bundle.yaml" <<'YAML'
apiVersion: k3s-airgap/v1
kind: Bundle
name: site
sequence: 5
k3s: {version: v1.31.9+k3s1}
arch: [amd64, arm64]
artifacts:
  - {name: k3s, path: ./k3s}
images: []
imageArchives: [./multi.tar]
YAML
expect_ok "$K3A" bundle create -f "$B/in5/bundle.yaml" -o "$B/v5.tar.zst" \
  --sign-key "$B/keys/bundle.key" --cache-dir "$B/cache"
expect_ok "$K3A" mirror add "$B/v5.tar.zst" --root "$M" --trust "$B/keys/bundle.pub"

start_mirror "$M" "$WORK/mirror.log"

# The channel server: JSON listing, and a redirect to the release tag (what install.sh reads).
curl -sf "$U/v1-release/channels" | python3 -c "
import json,sys; d=json.load(sys.stdin); c={x['id']:x['latest'] for x in d['data']}
assert c['stable']=='v1.32.4+k3s1' and c['v1.32']=='v1.32.4+k3s1', c" || fail "channels JSON"
[ "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$U/v1-release/channels/stable")" = \
  "302 $U/k3s-io/k3s/releases/tag/v1.32.4+k3s1" ] || fail "channel redirect"
[ "$(curl -sL -o /dev/null -w '%{url_effective}' "$U/v1-release/channels/stable" | sed 's|.*/||')" = v1.32.4+k3s1 ] \
  || fail "install.sh's way of reading the channel"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1-release/channels/nope")" = 404 ] || fail "unknown channel"

# Release assets by GitHub's and the China mirror's paths, with the hash install.sh checks.
curl -sf "$U/k3s-io/k3s/releases/download/v1.32.3%2Bk3s1/k3s" -o "$WORK/k3s-v3"
grep -q 'echo k3s v3' "$WORK/k3s-v3" || fail "k3s of v3"
curl -sf "$U/k3s-io/k3s/releases/download/v1.32.4+k3s1/sha256sum-amd64.txt" -o "$WORK/sums"
want=$(awk '$2 == "k3s" {print $1}' "$WORK/sums")
[ "$(curl -sf "$U/k3s/v1.32.4-k3s1/k3s" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "cn path or hash"
[ "$(curl -sf "$U/k3s/channels/stable")" = v1.32.4+k3s1 ] || fail "cn channel body"
[ "$(curl -sf "$U/k3s/k3s-install.sh" | sed -n 1p)" = '#!/bin/sh' ] || fail "k3s-install.sh"
curl -sf "$U/install.sh" -o /dev/null || fail "install.sh"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/k3s-io/k3s/releases/download/v9.9.9+k3s1/k3s")" = 404 ] || fail "unknown release"

# Range and ETag on an image archive.
A=$U/k3s-io/k3s/releases/download/v1.32.4+k3s1/k3s-airgap-images-amd64.tar
[ "$(curl -sf -r 0-99 "$A" | wc -c)" = 100 ] || fail "Range"
etag=$(curl -sfI "$A" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" {print $2}')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$A")" = 304 ] || fail "ETag"

# The registry, read by skopeo. The two-architecture tag is an OCI index over both platforms'
# manifests, which are served by digest with their own type.
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PORT/rancher/multi:1" > "$WORK/multi.json" \
  || fail "skopeo inspect --raw rancher/multi:1"
python3 -c "
import json, sys; d = json.load(open(sys.argv[1]))
assert d['mediaType'] == 'application/vnd.oci.image.index.v1+json', d
assert [m['platform']['architecture'] for m in d['manifests']] == ['amd64', 'arm64'], d" "$WORK/multi.json" \
  || fail "rancher/multi:1 is not an index of amd64 and arm64: $(cat "$WORK/multi.json")"
for arch in amd64 arm64; do
  expect_ok skopeo inspect --tls-verify=false --override-arch "$arch" "docker://127.0.0.1:$PORT/rancher/multi:1"
  grep -q "\"Architecture\": \"$arch\"" "$WORK/last.out" || fail "rancher/multi:1 for $arch: $(cat "$WORK/last.out")"
done
multi_digest() { curl -sfI "$U/v2/rancher/multi/manifests/1" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'; }
first=$(multi_digest)
expect_ok "$K3A" mirror add "$B/v5.tar.zst" --root "$M" --trust "$B/keys/bundle.pub"
[ -n "$first" ] && [ "$(multi_digest)" = "$first" ] || fail "adding the bundle again changed the index: $first, $(multi_digest)"
expect_ok skopeo inspect --tls-verify=false "docker://127.0.0.1:$PORT/rancher/mirrored-pause:3.6"
grep -q '"Architecture": "amd64"' "$WORK/last.out" || fail "skopeo inspect: $(cat "$WORK/last.out")"
expect_ok skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/rancher/mirrored-pause:3.6" \
  "dir:$WORK/copied"
for f in "$WORK"/copied/[0-9a-f]*; do
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || fail "blob $(basename "$f") changed on the way"
done
digest=$(curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$U/v2/rancher/mirrored-pause/manifests/3.6" \
  | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
[ "sha256:$(sha256sum "$WORK/copied/manifest.json" | cut -d' ' -f1)" = "$digest" ] || fail "manifest digest"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$U/v2/x/manifests/y")" = 405 ] || fail "writes refused"

# containerd pulls from it (a private daemon, plain HTTP).
start_containerd "$WORK/containerd"
expect_ok ctr -a "$WORK/containerd/containerd.sock" -n k8s.io images pull --plain-http \
  "127.0.0.1:$PORT/rancher/mirrored-pause:3.6"
ctr -a "$WORK/containerd/containerd.sock" -n k8s.io images ls -q | grep -x "127.0.0.1:$PORT/rancher/mirrored-pause:3.6" > /dev/null \
  || fail "ctr pull"

# HTTPS with a certificate of the site's own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mirror \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
TPORT=$(free_port)
"$K3A" mirror serve --root "$M" --addr "127.0.0.1:$TPORT" --tls-cert "$WORK/tls.crt" \
  --tls-key "$WORK/tls.key" > "$WORK/mirror-tls.log" 2>&1 &
CLEANUP=("kill $! 2>/dev/null" "${CLEANUP[@]}")
for _ in $(seq 100); do curl -sf --cacert "$WORK/tls.crt" "https://127.0.0.1:$TPORT/v2/" > /dev/null && break; sleep 0.05; done
[ "$(curl -sf --cacert "$WORK/tls.crt" "https://127.0.0.1:$TPORT/k3s/channels/stable")" = v1.32.4+k3s1 ] || fail "HTTPS"
[ "$(curl -s -o /dev/null -w '%{redirect_url}' --cacert "$WORK/tls.crt" "https://127.0.0.1:$TPORT/v1-release/channels/stable")" = \
  "https://127.0.0.1:$TPORT/k3s-io/k3s/releases/tag/v1.32.4+k3s1" ] || fail "HTTPS redirect"

# registries.yaml for the mirror, proved by resolving every image through it.
expect_ok "$K3A" registries generate --mirror "$U" -o "$WORK/registries.yaml"
grep -q '"docker.io":' "$WORK/registries.yaml" && grep -q "      - \"$U\"" "$WORK/registries.yaml" \
  || fail "registries.yaml: $(cat "$WORK/registries.yaml")"
grep -q '2 images resolved' "$WORK/last.out" || fail "generate: $(cat "$WORK/last.out")"
grep -q '"GET /v1-release/channels/stable" 302' "$WORK/mirror.log" || fail "access log: $(tail -3 "$WORK/mirror.log")"
# mirror sync from this mirror as the upstream: the stable channel's release, every asset
# checked against sha256sum-amd64.txt; again: nothing fetched; a corrupted asset refused.
M2=$WORK/mirror2
expect_ok "$K3A" mirror sync --root "$M2" --upstream "$U" --channel stable --channel v1.32 -o json
full=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['bytes'])" "$WORK/last.out")
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['versions']==['v1.32.4+k3s1']*2 and r['fetched']>=2, r" "$WORK/last.out" \
  || fail "sync: $(cat "$WORK/last.out")"
python3 -c "
import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
v='v1.32.4+k3s1'; assert a['releases'][v]['k3s']==b['releases'][v]['k3s'], (a, b)
assert b['channels']['stable']==v and 'rancher/mirrored-pause' in b['repositories'], b" "$M/index.json" "$M2/index.json" \
  || fail "synced index"
expect_ok "$K3A" mirror sync --root "$M2" --upstream "$U" --channel stable -o json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['fetched']==0 and r['bytes']==0, r" "$WORK/last.out" \
  || fail "second sync: $(cat "$WORK/last.out")"
# A download a broken sync left half done is resumed, not fetched again.
img=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['releases']['v1.32.4+k3s1']['k3s-airgap-images-amd64.tar']['digest'][7:])" "$M/index.json")
half=$(( $(stat -c %s "$M/blobs/sha256/$img") / 2 ))
mkdir -p "$WORK/mirror4/.partial"
head -c "$half" "$M/blobs/sha256/$img" > "$WORK/mirror4/.partial/$img"
expect_ok "$K3A" mirror sync --root "$WORK/mirror4" --upstream "$U" --channel stable -o json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['bytes']==$full-$half, (r, $full, $half)" "$WORK/last.out" \
  || fail "resume: $(cat "$WORK/last.out")"
[ -z "$(ls -A "$WORK/mirror4/.partial")" ] || fail "partial files left"
k3s_blob=$M/blobs/sha256/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['releases']['v1.32.4+k3s1']['k3s']['digest'][7:])" "$M/index.json")
printf 'X' | dd of="$k3s_blob" bs=1 seek=2 conv=notrunc 2>/dev/null
expect_fail 'sha256' "$K3A" mirror sync --root "$WORK/mirror3" --upstream "$U" --channel stable
[ ! -e "$WORK/mirror3/index.json" ] || fail "a failed sync wrote an index"
echo "mirror: ok"
