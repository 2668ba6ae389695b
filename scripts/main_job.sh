#!/usr/bin/env bash
# main_job.sh OUT: the main job over built binaries (build/bin, or $BIN). Builds local stand-ins
# for the packaged components' images from local files, creates and signs a bundle (k3s,
# containerd, runc, the CNI plugins, the images of manifests/images.txt), verifies it with our
# verifier and openssl, installs it into node-1 — a network namespace with no network at all
# (a dummy default route; scripts/node.sh) and a mount namespace of its own — starts
# `k3s server` with its embedded agent from it, and waits, showing progress, until the node is
# Ready and every kube-system pod is Running and ready from the preloaded images. Leaves the
# cluster running; OUT/kubectl reaches it, OUT/stop.sh stops and removes everything, and
# OUT/timings.json holds the wall times. NODE_PREFIX names the namespaces (default k3a-main).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
K3A=$BIN/k3s-airgap
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
PREFIX=${NODE_PREFIX:-k3a-main}
NS=$PREFIX-1
NODE=$OUT/node-1
source "$ROOT/scripts/node.sh"
step() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# What an earlier run left goes first.
[ ! -x "$OUT/stop.sh" ] || "$OUT/stop.sh" --keep
cd "$OUT"

step "stand-in images for the packaged components, built from local files"
K3A=$K3A STANDIN=$BIN/k3s-standin bash "$ROOT/scripts/standin-images.sh" images

step "signing key and bundle"
[ -e keys/bundle.key ] || "$K3A" key generate --out keys
artifacts=("k3s=$BIN/k3s")
for tool in containerd containerd-shim-runc-v2 runc; do artifacts+=("$tool=$(command -v "$tool")"); done
for plugin in bridge host-local portmap loopback; do artifacts+=("$plugin=/usr/lib/cni/$plugin"); done
{
  echo "apiVersion: k3s-airgap/v1"
  echo "kind: Bundle"
  echo "name: cluster"
  echo "sequence: ${SEQUENCE:-1}"
  echo "k3s: {version: v1.32.4+k3s1}"
  echo "arch: [amd64]"
  echo "artifacts:"
  for a in "${artifacts[@]}"; do echo "  - {name: ${a%%=*}, path: ${a#*=}}"; done
  echo "# images: absent, so manifests/images.txt; the stand-in archives provide every one of them"
  echo "imageArchives: [$(cd images && ls *.tar | sed 's|^|./images/|' | paste -sd, | sed 's/,/, /g')]"
} > bundle.yaml
"$K3A" bundle create -f bundle.yaml -o cluster.tar.zst --sign-key keys/bundle.key --cache-dir cache
"$K3A" bundle verify cluster.tar.zst --trust keys/bundle.pub
openssl dgst -sha256 -verify keys/bundle.pub -signature <(base64 -d cluster.tar.zst.sig) cluster.tar.zst

cat > stop.sh <<EOF
#!/usr/bin/env bash
# Stops the main job's nodes (every process in their namespaces), removes the namespaces and
# unmounts their directories; without --keep, removes $OUT too.
source "$ROOT/scripts/node.sh"
for ns in \$(ip netns list | awk '{print \$1}' | grep "^$PREFIX-"); do node_kill "\$ns"; ip netns del "\$ns"; done
node_unmount "$OUT"
rm -rf "$OUT"/node-*
[ "\${1:-}" = --keep ] || rm -rf "$OUT"
EOF
chmod +x stop.sh
printf '#!/bin/sh\nexec ip netns exec %s kubectl --kubeconfig %s "$@"\n' "$NS" \
  "$NODE/fs/etc/rancher/k3s/k3s.yaml" > kubectl
chmod +x kubectl

step "node-1: a network namespace with no network (dummy default route), a mount namespace"
node_netns "$NS"
node_offline_route "$NS" 10.77.0.1
mkdir -p "$NODE/fs/etc/rancher/k3s/airgap/trust"
cp keys/bundle.pub "$NODE/fs/etc/rancher/k3s/airgap/trust/cluster.pub"

step "install the bundle offline on node-1 and start k3s server (embedded agent)"
t0=$(now)
(node_exec "$NS" "$NODE" "$K3A" install "$OUT/cluster.tar.zst" --supervise -- server --node-name node-1)
t_started=$(since "$t0")

step "waiting for node-1 Ready and every kube-system pod Running (preloaded images)"
t_ready=
deadline=$((SECONDS + 240))
while :; do
  state=$(./kubectl get nodes,pods -n kube-system -o json 2>/dev/null | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
ready = lambda o: any(c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions", []))
nodes = [o for o in items if o["kind"] == "Node"]
pods = [o for o in items if o["kind"] == "Pod"]
up = [p for p in pods if p["status"].get("phase") == "Running" and ready(p)]
waiting = [p["metadata"]["name"].rsplit("-", 2)[0] + ":" + next((s["state"]["waiting"]["reason"] for s in p["status"].get("containerStatuses", []) if "waiting" in s["state"]), p["status"].get("phase", "?")) for p in pods if p not in up]
node = "Ready" if nodes and all(ready(n) for n in nodes) else "NotReady"
print(node, len(up), len(pods), " ".join(waiting))' 2>/dev/null || echo "NotReady 0 0 api")
  read -r node up total rest <<< "$state"
  [ "$node" != Ready ] || [ -n "$t_ready" ] || t_ready=$(since "$t0")
  line=$(printf 'node-1 %-8s kube-system pods running %s/%s %-60.60s' "$node" "$up" "$total" "${rest:-}")
  if [ -t 1 ]; then
    printf '\r[%5ss] %s' "$(since "$t0")" "$line"
  elif [ "$line" != "${shown:-}" ]; then
    printf '[%5ss] %s\n' "$(since "$t0")" "$line"
    shown=$line
  fi
  [ "$node" = Ready ] && [ "$total" -ge 4 ] && [ "$up" = "$total" ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo; tail -20 "$NODE/fs/var/log/k3s.log" >&2
    echo "main job: the cluster did not come up in 240 s" >&2; exit 1
  fi
  sleep 1
done
t_pods=$(since "$t0")
[ ! -t 1 ] || echo
printf '{"install_to_started_s": %s, "install_to_node_ready_s": %s, "install_to_pods_running_s": %s, "bundle_bytes": %s}\n' \
  "$t_started" "$t_ready" "$t_pods" "$(stat -c %s cluster.tar.zst)" > timings.json

step "the cluster"
./kubectl get nodes,pods -A -o wide

cat <<EOF

Install to node Ready:    ${t_ready} s; to every kube-system pod Running: ${t_pods} s
Bundle:      $OUT/cluster.tar.zst ($(du -h cluster.tar.zst | cut -f1); signature .sig, key keys/bundle.pub)
Node:        network namespace $NS, files under $NODE/fs (its /etc/rancher, /var/lib/rancher, ...)
kubectl:     $OUT/kubectl get pods -A    (kubeconfig $NODE/fs/etc/rancher/k3s/k3s.yaml, inside $NS)
k3s log:     $NODE/fs/var/log/k3s.log
Stop, clean: $OUT/stop.sh
EOF
