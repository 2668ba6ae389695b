#!/usr/bin/env bash
# Benchmark: `bundle create` and `bundle verify` on about 500 MB of binaries and image layers,
# against the peer pipeline measured in the same run on the same files:
#   create: tar -cf - FILES | zstd -T0 -3, plus sha256sum of the inputs
#   verify: sha256sum of the extracted files
# Prints each figure (median of RUNS) and the ratio ours/peer. Build first (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$PWD/build/bin/k3s-airgap}
RUNS=${RUNS:-3}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

source bench/lib.sh
make_input
INPUT_BYTES=$(du -cb "$WORK"/in/bin/* "$WORK"/in/*.tar | tail -1 | cut -f1)
cat "$WORK"/in/bin/* "$WORK"/in/*.tar > /dev/null  # warm the page cache for both sides

ours_create=(); peer_create=(); ours_verify=(); peer_verify=()
for i in $(seq "$RUNS"); do
  rm -f "$WORK/site.tar.zst" "$WORK/peer.tar.zst"
  ours_create+=("$(timed "$BIN" bundle create -f "$WORK/bundle.yaml" -o "$WORK/site.tar.zst" \
      --sign-key "$WORK/keys/bundle.key" --cache-dir "$WORK/cache")")
  peer_create+=("$(timed bash -c "tar -cf - -C '$WORK/in' . | zstd -q -T0 -3 -o '$WORK/peer.tar.zst' && sha256sum '$WORK'/in/bin/* '$WORK'/in/*.tar")")
  ours_verify+=("$(timed "$BIN" bundle verify "$WORK/site.tar.zst" --trust "$WORK/keys/bundle.pub")")
  rm -rf "$WORK/x"; mkdir -p "$WORK/x"; tar -I zstd -xf "$WORK/site.tar.zst" -C "$WORK/x"
  peer_verify+=("$(timed bash -c "cd '$WORK/x' && find . -type f -print0 | xargs -0 sha256sum")")
done
"$BIN" bundle verify "$WORK/site.tar.zst" --trust "$WORK/keys/bundle.pub" >/dev/null  # must pass

oc=$(printf '%s\n' "${ours_create[@]}" | median); pc=$(printf '%s\n' "${peer_create[@]}" | median)
ov=$(printf '%s\n' "${ours_verify[@]}" | median); pv=$(printf '%s\n' "${peer_verify[@]}" | median)
mb=$((INPUT_BYTES / 1048576))
printf 'input: %s MiB (%s binaries, 2 image archives); bundle %s MiB, peer tar.zst %s MiB\n' \
  "$mb" "$(ls "$WORK/in/bin" | wc -l)" "$(( $(stat -c %s "$WORK/site.tar.zst") / 1048576 ))" \
  "$(( $(stat -c %s "$WORK/peer.tar.zst") / 1048576 ))"
printf 'create: ours %.2fs  peer (tar|zstd -T0 -3 + sha256sum) %.2fs  ratio %.2fx (target <= 1.25)\n' "$oc" "$pc" "$(calc "$oc / $pc")"
printf 'verify: ours %.2fs  peer (sha256sum of extracted files) %.2fs  ratio %.2fx (target <= 1.10)\n' "$ov" "$pv" "$(calc "$ov / $pv")"
