#!/usr/bin/env bash
# Benchmark of the agent's image preload (verify, write, unpack into snapshots) against
# `ctr -n k8s.io images import` of the same archive (which unpacks too, as upstream's agent
# does; --no-unpack shown for reference), each into a fresh private containerd (run as root):
# a multi-image archive of about
# SIZE_MB (default 300) of incompressible layers built by k3s-airgap from local files; then the
# restart case, where the archive is unchanged (upstream re-imports everything at every start).
# Build first (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
SIZE_MB=${SIZE_MB:-300}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_containerd() {  # DIR
  mkdir -p "$1"
  cat > "$1/config.toml" <<CFG
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$1/containerd.sock"
CFG
  containerd -c "$1/config.toml" > "$1/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do ctr -a "$1/containerd.sock" version > /dev/null 2>&1 && return; sleep 0.05; done
  echo "containerd did not start" >&2; exit 1
}

# Three images of SIZE_MB/3 each, random bytes (layers do not compress or deduplicate).
mkdir -p "$WORK/agent/images"
per=$((SIZE_MB / 3))
args=()
for i in 1 2 3; do
  mkdir -p "$WORK/rootfs-$i/data"
  head -c "${per}M" /dev/urandom > "$WORK/rootfs-$i/data/blob"
  "$BUILD/bin/k3s-airgap" images build --rootfs "$WORK/rootfs-$i" --platform linux/amd64 \
    --entrypoint /bin/sh -t "registry.local/bench-$i:1" -o "$WORK/img-$i.tar" > /dev/null
done
python3 - "$WORK/agent/images/bench.tar" "$WORK"/img-*.tar <<'PY'
# One archive holding all three images: merge the OCI layouts' blobs and index entries.
import json, sys, tarfile, io
out, inputs = sys.argv[1], sys.argv[2:]
blobs, manifests, docker = {}, [], []
for path in inputs:
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.name.startswith("blobs/sha256/") and m.isfile():
                blobs[m.name] = t.extractfile(m).read()
        manifests += json.load(t.extractfile("index.json"))["manifests"]
        docker += json.load(t.extractfile("manifest.json"))
def add(t, name, data):
    info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
    t.addfile(info, io.BytesIO(data))
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add(t, "index.json", json.dumps({"schemaVersion": 2, "manifests": manifests}).encode())
    add(t, "manifest.json", json.dumps(docker).encode())
    for d in ("blobs", "blobs/sha256"):
        info = tarfile.TarInfo(d); info.type = tarfile.DIRTYPE; info.mode = 0o755; t.addfile(info)
    for name in sorted(blobs): add(t, name, blobs[name])
PY
archive_mb=$(( $(stat -c %s "$WORK/agent/images/bench.tar") / 1048576 ))

start_containerd "$WORK/ours"
mkdir -p "$WORK/agent/containerd"
first=$("$BUILD/bin/k3s_preload_bench" "$WORK/ours/containerd.sock" "$WORK/agent")
again=$("$BUILD/bin/k3s_preload_bench" "$WORK/ours/containerd.sock" "$WORK/agent")
peer() {  # NAME CTR-FLAGS...: sets PEER_MS for `ctr images import` into a fresh containerd
  local name=$1; shift
  start_containerd "$WORK/$name"
  local t0 t1
  t0=$(date +%s.%N)
  ctr -a "$WORK/$name/containerd.sock" -n k8s.io images import "$@" "$WORK/agent/images/bench.tar" > /dev/null
  t1=$(date +%s.%N)
  PEER_MS=$(python3 -c "print('%.1f' % (($t1 - $t0) * 1000))")
}
peer peer-no-unpack --no-unpack
same_ms=$PEER_MS
peer peer-unpack
unpack_ms=$PEER_MS
ours_ms=$(echo "$first" | awk '{print $2}')
again_ms=$(echo "$again" | awk '{print $2}')
python3 - <<PY
ours, same, unpack, again, mb = $ours_ms, $same_ms, $unpack_ms, $again_ms, $archive_mb
print("archive: %d MiB, 3 images" % mb)
print("import and unpack, verified before containerd sees it: ours %.0f ms; ctr images import %.0f ms (ratio %.2fx); ctr images import --no-unpack %.0f ms" % (ours, unpack, unpack / ours, same))
print("restart with the archive unchanged: ours %.1f ms; upstream re-imports at every start (%.0f ms here)" % (again, unpack))
PY
