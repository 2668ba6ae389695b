# Shared by the benchmarks: timing helpers and the ~600 MB bundle input. Source it with WORK and
# BIN set.

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); calc "$t1 - $t0"; }

# make_input: $WORK/in/bin/* (real binaries; containerd also stands in for k3s), two image
# archives built by our own images command from local trees, $WORK/keys, and
# $WORK/bundle.yaml carrying all of it.
make_input() {
  mkdir -p "$WORK/in/bin" "$WORK/rootfs1" "$WORK/rootfs2"
  cp "$(command -v containerd)" "$WORK/in/bin/k3s"
  for b in containerd ctr containerd-shim-runc-v2 docker-registry skopeo umoci; do
    cp "$(command -v $b)" "$WORK/in/bin/$b"
  done
  cp "$(readlink -f "$(command -v runc)")" "$WORK/in/bin/runc"
  cp -r /usr/lib/gcc "$WORK/rootfs1/"
  cp -r /usr/lib/x86_64-linux-gnu "$WORK/rootfs2/" 2>/dev/null || true
  SOURCE_DATE_EPOCH=1700000000 "$BIN" images build --rootfs "$WORK/rootfs1" --entrypoint /bin/sh \
    -t bench.local/gcc:1 -o "$WORK/in/gcc.tar" >/dev/null
  SOURCE_DATE_EPOCH=1700000000 "$BIN" images build --rootfs "$WORK/rootfs2" --entrypoint /bin/sh \
    -t bench.local/libs:1 -o "$WORK/in/libs.tar" >/dev/null
  rm -rf "$WORK/rootfs1" "$WORK/rootfs2"
  "$BIN" key generate --out "$WORK/keys" >/dev/null
  {
    echo "apiVersion: k3s-airgap/v1"; echo "kind: Bundle"; echo "name: bench"; echo "sequence: 1"
    echo "k3s: {version: v1.32.4+k3s1}"; echo "arch: [amd64]"; echo "artifacts:"
    for f in "$WORK"/in/bin/*; do echo "  - {name: $(basename "$f"), path: $f}"; done
    echo "images: []"
    echo "imageArchives: [$WORK/in/gcc.tar, $WORK/in/libs.tar]"
  } > "$WORK/bundle.yaml"
}
