#!/usr/bin/env bash
# The installer's crash and resource behaviour: kill -9 at random points of 100 installs (the
# tree always holds exactly one complete version, and the next run cleans up), the fsync order
# traced with strace, and a full disk on a small tmpfs (refused by preflight; and, with the
# check skipped, ENOSPC mid-staging leaves the old version intact and no staging behind).
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/install_lib.sh"

make_bundles "$WORK"
TRUST=(--trust "$WORK/keys/bundle.pub")

# check_consistent ROOT: `current` names a complete, verified version; the k3s link reaches it;
# the state file (once written) agrees or is one flip behind.
check_consistent() {
  python3 - "$1" <<'PY' || fail "inconsistent tree after a kill (see above)"
import hashlib, json, os, sys
root = sys.argv[1]
air = root + "/var/lib/rancher/k3s/airgap"
cur = os.readlink(air + "/current")
assert cur.startswith("versions/"), cur
vdir = air + "/" + cur
m = json.load(open(vdir + "/bundle.json"))
for f in m["files"]:
    if f.get("arch", "") not in ("", "amd64"):
        continue
    data = open(os.path.join(vdir, f["path"]), "rb").read()
    assert len(data) == f["size"], f["path"]
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert oct(os.stat(os.path.join(vdir, f["path"])).st_mode & 0o7777) == oct(int(f["mode"], 8)), f["path"]
assert os.readlink(root + "/usr/local/bin/k3s") == "/var/lib/rancher/k3s/airgap/current/bin/k3s"
print(m["sequence"])
PY
}

# --- kill -9 at random points ---------------------------------------------------------------
R=$WORK/root
expect_ok "$K3A" install "$WORK/v1.tar.zst" "${TRUST[@]}" --root "$R"
start=$(date +%s%N)
expect_ok "$K3A" install "$WORK/v2.tar.zst" "${TRUST[@]}" --root "$R"
span_us=$(( ($(date +%s%N) - start) / 1000 ))
seen_old=0; seen_new=0
for i in $(seq 100); do
  target=$(( i % 2 + 1 ))
  "$K3A" install "$WORK/v$target.tar.zst" "${TRUST[@]}" --root "$R" --allow-downgrade \
    > /dev/null 2>&1 &
  pid=$!
  delay_us=$(( RANDOM * RANDOM % (span_us + 1) ))
  sleep "$(printf '0.%06d' "$delay_us")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  seq=$(check_consistent "$R")
  if [ "$seq" = "$target" ]; then seen_new=$((seen_new + 1)); else seen_old=$((seen_old + 1)); fi
done
echo "kill -9: $seen_old old, $seen_new new, 0 mixed (of 100; install takes ${span_us} us)"
expect_ok "$K3A" install "$WORK/v2.tar.zst" "${TRUST[@]}" --root "$R" --allow-downgrade
[ -z "$(ls -A "$R/var/lib/rancher/k3s/airgap/versions" | grep '^\.staging-')" ] || fail "staging left behind"
[ "$(check_consistent "$R")" = 2 ] || fail "final install did not land v2"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["current"]["sequence"] == 2, s' \
  "$R/var/lib/rancher/k3s/airgap/state.json" || fail "state.json does not follow current"

# --- fsync order ----------------------------------------------------------------------------
R2=$WORK/root2
expect_ok "$K3A" install "$WORK/v1.tar.zst" "${TRUST[@]}" --root "$R2"
expect_ok strace -f -y -e trace=openat,fsync,rename,renameat,renameat2,symlink,symlinkat \
  -o "$WORK/trace" "$K3A" install "$WORK/v2.tar.zst" "${TRUST[@]}" --root "$R2"
python3 - "$WORK/trace" "$R2/var/lib/rancher/k3s/airgap" <<'PY' || fail "fsync order"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
air = sys.argv[2]
synced = []   # (index, path) of fsync calls
created = []  # (index, path) of files created in staging
renames = []  # (index, old, new)
for i, l in enumerate(lines):
    m = re.search(r'fsync\(\d+<([^>]*)>\) = 0', l)
    if m: synced.append((i, m.group(1)))
    m = re.search(r'openat\([^,]*, "([^"]*\.staging-[^"]*)", [^)]*O_CREAT', l)
    if m: created.append((i, m.group(1)))
    m = re.search(r'rename(?:at2?)?\((?:[^,]*, )?"([^"]*)", (?:[^,]*, )?"([^"]*)"', l)
    if m: renames.append((i, m.group(1), m.group(2)))
def synced_between(path, lo, hi):
    return any(lo < i < hi and p == path for i, p in synced)
stage = [r for r in renames if ".staging-" in r[1]]
assert len(stage) == 1, stage
si, sdir, vdir = stage[0]
assert created, "no staged files traced"
for i, p in created:
    assert synced_between(p, i, si), "not fsynced before the rename: " + p
assert synced_between(sdir, 0, si), "staging directory not fsynced before its rename"
flip = [r for r in renames if r[2] == air + "/current"]
assert len(flip) == 1, flip
fi = flip[0][0]
assert synced_between(air + "/versions", si, fi), "versions/ not fsynced between rename and flip"
after = [i for i, p in synced if p == air and i > fi]
assert after, "airgap dir not fsynced after the flip"
state = [r for r in renames if r[2] == air + "/state.json"]
assert state and state[0][0] > fi, "state.json not written after the flip"
assert synced_between(state[0][1], 0, state[0][0]), "state.json not fsynced before its rename"
print("fsync order ok: %d staged files" % len(created))
PY

# --- full disk --------------------------------------------------------------------------------
T=$WORK/tmpfs
mkdir -p "$T"
mount -t tmpfs -o size=20m tmpfs "$T" || fail "cannot mount a tmpfs (tests run as root)"
CLEANUP=("umount -l '$T'" "${CLEANUP[@]}")
expect_ok "$K3A" install "$WORK/v1.tar.zst" "${TRUST[@]}" --root "$T"
before=$(cd "$T" && find . -printf '%p %s %i %m\n' | sort | md5sum)
expect_fail "preflight disk: not enough free disk" \
  "$K3A" install "$WORK/v2.tar.zst" "${TRUST[@]}" --root "$T"
expect_fail "No space left on device" \
  "$K3A" install "$WORK/v2.tar.zst" "${TRUST[@]}" --root "$T" --skip-preflight disk
after=$(cd "$T" && find . -printf '%p %s %i %m\n' | sort | md5sum)
[ "$before" = "$after" ] || fail "a failed install changed the tree"
[ "$(check_consistent "$T")" = 1 ] || fail "v1 not intact after ENOSPC"
echo "install_atomic: ok"
