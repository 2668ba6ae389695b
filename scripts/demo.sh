#!/usr/bin/env bash
# The main job: install the Debian packages, build, make local stand-in images from busybox-static
# files, create a signed bundle (k3s, containerd, runc, images), verify it with our verifier and
# with openssl, install it into a tree without any network, start `k3s server` from it and show
# the cluster with kubectl. Everything lands in build/demo/ (removed and recreated on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
K3A=$PWD/build/bin/k3s-airgap
K3S=$PWD/build/bin/k3s
DEMO=$PWD/build/demo
# A k3s left running by an earlier demo goes first.
if [ -f "$DEMO/root/var/run/k3s.pid" ]; then kill "$(cat "$DEMO/root/var/run/k3s.pid")" 2>/dev/null || true; fi
rm -rf "$DEMO" && mkdir -p "$DEMO"
cd "$DEMO"

step() { printf '\n== %s\n' "$*"; }

step "signing key"
"$K3A" key generate --out keys

step "stand-in images from local files (busybox-static)"
for name in pause coredns; do
  mkdir -p "rootfs-$name/bin" "rootfs-$name/etc"
  cp /bin/busybox "rootfs-$name/bin/busybox"
  ln -sf busybox "rootfs-$name/bin/sh"
  echo "stand-in for $name" > "rootfs-$name/etc/stand-in"
done
"$K3A" images build --rootfs rootfs-pause --entrypoint /bin/sh --cmd=-c --cmd='sleep 2147483647' \
  -t docker.io/rancher/mirrored-pause:3.6 -o pause.tar
"$K3A" images build --rootfs rootfs-coredns --entrypoint /bin/sh \
  -t docker.io/rancher/mirrored-coredns-coredns:1.12.1 -o coredns.tar
"$K3A" images list pause.tar

step "bundle create"
cat > bundle.yaml <<YAML
apiVersion: k3s-airgap/v1
kind: Bundle
name: demo
sequence: 1
k3s: {version: v1.32.4+k3s1}
arch: [amd64]
artifacts:
  - {name: k3s, path: $K3S}
  - {name: containerd, path: $(command -v containerd)}
  - {name: runc, path: $(command -v runc)}
imageArchives: [./pause.tar, ./coredns.tar]
YAML
"$K3A" bundle create -f bundle.yaml -o demo.tar.zst --sign-key keys/bundle.key --cache-dir cache

step "bundle verify (ours, then openssl on the detached signature)"
"$K3A" bundle verify demo.tar.zst --trust keys/bundle.pub
openssl dgst -sha256 -verify keys/bundle.pub -signature <(base64 -d demo.tar.zst.sig) demo.tar.zst

step "rebuild from the lock and prove it reproducible"
"$K3A" bundle create -f bundle.yaml -o again.tar.zst --sign-key keys/bundle.key --cache-dir cache \
  --from-lock --check-reproducible demo.tar.zst

step "bundle inspect"
"$K3A" bundle inspect demo.tar.zst

step "install offline into $DEMO/root and start k3s server from it"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$K3A" install demo.tar.zst --trust keys/bundle.pub --root "$DEMO/root" --supervise \
  --skip-preflight route -- server --disable-agent --data-dir "$DEMO/root/var/lib/rancher/k3s" \
  --bind-address 127.0.0.1 --https-listen-port "$PORT" --write-kubeconfig "$DEMO/k3s.yaml"

step "the cluster"
kubectl --kubeconfig "$DEMO/k3s.yaml" version
kubectl --kubeconfig "$DEMO/k3s.yaml" get namespaces,services -A

cat <<EOF

Bundle:      $DEMO/demo.tar.zst (signature demo.tar.zst.sig, public key keys/bundle.pub)
Installed:   $DEMO/root (payload in var/lib/rancher/k3s/airgap/current)
Kubeconfig:  export KUBECONFIG=$DEMO/k3s.yaml
Log:         $DEMO/root/var/log/k3s.log
Stop:        kill \$(cat $DEMO/root/var/run/k3s.pid)
Clean up:    rm -rf $DEMO
EOF
