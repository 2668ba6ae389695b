#!/usr/bin/env bash
# Benchmark: `k3s-airgap install` of a bundle of about 500 MB (binaries and image layers)
# against the peer measured in the same run on the same file and filesystem:
#   tar -I zstd -xf BUNDLE -C DIR, then sha256sum -c of its files (list prepared untimed)
# Ours verifies the signatures and every digest (image blobs included) while staging, fsyncs
# and switches atomically. Prints the medians of RUNS and the ratio ours/peer. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$PWD/build/bin/k3s-airgap}
RUNS=${RUNS:-3}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

source bench/lib.sh
make_input
"$BIN" bundle create -f "$WORK/bundle.yaml" -o "$WORK/site.tar.zst" \
  --sign-key "$WORK/keys/bundle.key" --cache-dir "$WORK/cache" >/dev/null
"$BIN" bundle inspect "$WORK/site.tar.zst" -o json | python3 -c '
import json, sys
for f in json.load(sys.stdin)["file_list"]: print(f["sha256"] + "  " + f["path"])' > "$WORK/sums"
rm -rf "$WORK/in" "$WORK/cache"
cat "$WORK/site.tar.zst" > /dev/null  # warm the page cache for both sides

ours=(); peer=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/root" "$WORK/x"; sync
  ours+=("$(timed "$BIN" install "$WORK/site.tar.zst" --trust "$WORK/keys/bundle.pub" \
      --root "$WORK/root" --skip-preflight disk)")
  mkdir "$WORK/x"; sync
  peer+=("$(timed bash -c "tar -I zstd -xf '$WORK/site.tar.zst' -C '$WORK/x' && cd '$WORK/x' && sha256sum -c --quiet '$WORK/sums'")")
done
test -L "$WORK/root/usr/local/bin/k3s"  # the install really happened

o=$(printf '%s\n' "${ours[@]}" | median); p=$(printf '%s\n' "${peer[@]}" | median)
printf 'bundle: %s MiB compressed, %s MiB of files\n' \
  "$(( $(stat -c %s "$WORK/site.tar.zst") / 1048576 ))" "$(( $(du -sb "$WORK/x" | cut -f1) / 1048576 ))"
printf 'install: ours %.2fs  peer (tar -I zstd -xf + sha256sum -c) %.2fs  ratio %.2fx (target <= 1.20)\n' \
  "$o" "$p" "$(calc "$o / $p")"
