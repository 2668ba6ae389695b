#!/usr/bin/env bash
# install.sh's online mode through `k3s-airgap mirror serve` on 127.0.0.1, into temporary roots:
# INSTALL_K3S_MIRROR=cn with INSTALL_K3S_MIRROR_URL, INSTALL_K3S_CHANNEL, INSTALL_K3S_VERSION,
# INSTALL_K3S_CHANNEL_URL with INSTALL_K3S_ARTIFACT_URL (http and file://), each binary checked
# against its release's sha256sum-amd64.txt; a binary that already has the hash is not fetched
# again; a corrupted asset is refused and the installed binary stays; and
# `curl .../install.sh | INSTALL_K3S_MIRROR_URL=... sh -` bootstraps k3s-airgap from the mirror,
# checked against the same list, refusing a corrupted one.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/install_lib.sh"
B=$WORK/bundles
make_bundle "$B" 3 "$(standin_k3s 3)"
make_bundle "$B" 4 "$(standin_k3s 4)"
make_bundle "$B" 5 "$(standin_k3s 5)" v1.31.5+k3s1
M=$WORK/mirror
for v in 3 4 5; do expect_ok "$K3A" mirror add "$B/v$v.tar.zst" --root "$M" --trust "$B/keys/bundle.pub"; done
start_mirror "$M" "$WORK/mirror.log"
H=127.0.0.1:$PORT  # as users write it for the cn script: no scheme

# installed ROOT N: ROOT's k3s is bundle N's stand-in, executable.
installed() {
  [ -x "$1/usr/local/bin/k3s" ] && grep -q "stand-in v$2" "$1/usr/local/bin/k3s" \
    || fail "$1/usr/local/bin/k3s is not v$2: $(head -2 "$1/usr/local/bin/k3s" 2>&1)"
}
gets() { grep -c "\"GET $1\"" "$WORK/mirror.log" || true; }

# --- INSTALL_K3S_MIRROR=cn: the channel's body, then the dashed release path -------------------
expect_ok env INSTALL_K3S_MIRROR=cn INSTALL_K3S_MIRROR_URL="$H" "$K3A" install --root "$WORK/r1" -o json
installed "$WORK/r1" 4
for line in 'Finding release for channel stable' 'Using v1.32.4+k3s1 as release' \
  "Downloading hash http://$H/k3s/v1.32.4-k3s1/sha256sum-amd64.txt" \
  "Downloading binary http://$H/k3s/v1.32.4-k3s1/k3s" 'systemd: Creating service file'; do
  grep -q "$line" "$WORK/last.out" || fail "cn install: no '$line': $(cat "$WORK/last.out")"
done
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["downloaded"]=="v1.32.4+k3s1", r' \
  <(sed -n '/^{/,/^}/p' "$WORK/last.out") || fail "json: $(cat "$WORK/last.out")"
[ "$(gets /k3s/channels/stable)" = 1 ] || fail "channel body not asked for"
# Again: the binary already has the release's hash, so only the list is fetched.
before=$(gets /k3s/v1.32.4-k3s1/k3s)
expect_ok env INSTALL_K3S_MIRROR=cn INSTALL_K3S_MIRROR_URL="$H" "$K3A" install --root "$WORK/r1"
grep -q 'installed k3s matches hash' "$WORK/last.out" || fail "re-install: $(cat "$WORK/last.out")"
[ "$(gets /k3s/v1.32.4-k3s1/k3s)" = "$before" ] || fail "the binary was fetched again"

# --- INSTALL_K3S_CHANNEL and INSTALL_K3S_VERSION -------------------------------------------------
expect_ok env INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_CHANNEL=v1.31 "$K3A" install --root "$WORK/r2"
installed "$WORK/r2" 5
expect_ok env INSTALL_K3S_MIRROR=cn INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_VERSION=v1.32.3+k3s1 \
  "$K3A" install --root "$WORK/r3"
installed "$WORK/r3" 3
grep -q 'Finding release' "$WORK/last.out" && fail "INSTALL_K3S_VERSION still asked the channel"
expect_fail 'Download failed: http://127.0.0.1:[0-9]*/k3s/channels/nope: HTTP 404' \
  env INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_CHANNEL=nope "$K3A" install --root "$WORK/r-none"
expect_fail 'sha256sum-arm64.txt: HTTP 404' env INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_VERSION=v1.32.3+k3s1 \
  ARCH=arm64 "$K3A" install --root "$WORK/r-none" --skip-preflight arch
[ ! -e "$WORK/r-none/usr/local/bin/k3s" ] || fail "a failed install left a binary"
expect_fail 'no bundle given' "$K3A" install --root "$WORK/r-none"

# --- INSTALL_K3S_CHANNEL_URL (the channel server's redirect) + INSTALL_K3S_ARTIFACT_URL ---------
expect_ok env INSTALL_K3S_CHANNEL_URL="$U/v1-release/channels" \
  INSTALL_K3S_ARTIFACT_URL="$U/k3s-io/k3s/releases/download" "$K3A" install --root "$WORK/r4"
installed "$WORK/r4" 4
grep -q "Downloading binary $U/k3s-io/k3s/releases/download/v1.32.4+k3s1/k3s" "$WORK/last.out" \
  || fail "artifact URL: $(cat "$WORK/last.out")"
# A release copied to local files (a USB stick) with file://.
F=$WORK/files/v1.32.3+k3s1
mkdir -p "$F"
for a in k3s sha256sum-amd64.txt; do curl -sf -o "$F/$a" "$U/k3s/v1.32.3-k3s1/$a"; done
expect_ok env INSTALL_K3S_ARTIFACT_URL="file://$WORK/files" INSTALL_K3S_VERSION=v1.32.3+k3s1 \
  "$K3A" install --root "$WORK/r5"
installed "$WORK/r5" 3
mkdir "$WORK/files/v1.32.9+k3s1"
grep -v ' k3s$' "$F/sha256sum-amd64.txt" > "$WORK/files/v1.32.9+k3s1/sha256sum-amd64.txt"
expect_fail 'sha256sum-amd64.txt has no line for k3s' env INSTALL_K3S_ARTIFACT_URL="file://$WORK/files" \
  INSTALL_K3S_VERSION=v1.32.9+k3s1 "$K3A" install --root "$WORK/r-none"
printf 'X' | dd of="$F/k3s" bs=1 seek=12 conv=notrunc 2>/dev/null
expect_fail 'sha256 mismatch' env INSTALL_K3S_ARTIFACT_URL="file://$WORK/files" \
  INSTALL_K3S_VERSION=v1.32.3+k3s1 "$K3A" install --root "$WORK/r4"
installed "$WORK/r4" 4

# --- curl MIRROR/install.sh | INSTALL_K3S_MIRROR_URL=MIRROR sh - ---------------------------------
mkdir "$WORK/tmp"
expect_ok env TMPDIR="$WORK/tmp" INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_ROOT="$WORK/r6" \
  sh -c "curl -sfL $U/install.sh | sh -"
installed "$WORK/r6" 4
grep -q "Downloading binary $H/k3s/v1.32.4-k3s1/k3s-airgap" "$WORK/last.out" \
  || fail "bootstrap: $(cat "$WORK/last.out")"
[ -z "$(ls -A "$WORK/tmp")" ] || fail "the downloaded k3s-airgap was left in $(ls "$WORK/tmp")"

# --- corrupted assets on the mirror are refused; nothing changes --------------------------------
blob() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['releases'][sys.argv[2]][sys.argv[3]]['digest'][7:])" \
    "$M/index.json" "$1" "$2"
}
A=$M/blobs/sha256/$(blob v1.32.4+k3s1 k3s-airgap)
printf 'X' | dd of="$A" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_fail 'Download sha256 does not match' env TMPDIR="$WORK/tmp" INSTALL_K3S_MIRROR_URL="$H" \
  INSTALL_K3S_ROOT="$WORK/r7" sh -c "curl -sfL $U/install.sh | sh -"
[ ! -e "$WORK/r7" ] || fail "a refused bootstrap wrote $(find "$WORK/r7" | head -3)"
expect_ok env INSTALL_K3S_MIRROR_URL="$H" INSTALL_K3S_VERSION=v1.32.3+k3s1 "$K3A" install --root "$WORK/r1"
installed "$WORK/r1" 3
listing=$(ls -A "$WORK/r1/usr/local/bin")
K=$M/blobs/sha256/$(blob v1.32.4+k3s1 k3s)
printf 'X' | dd of="$K" bs=1 seek=12 conv=notrunc 2>/dev/null
expect_fail 'sha256 mismatch' env INSTALL_K3S_MIRROR=cn INSTALL_K3S_MIRROR_URL="$H" \
  "$K3A" install --root "$WORK/r1"
installed "$WORK/r1" 3
[ "$(ls -A "$WORK/r1/usr/local/bin")" = "$listing" ] || fail "a refused download left files: $(ls -A "$WORK/r1/usr/local/bin")"
echo "mirror_install: ok"
