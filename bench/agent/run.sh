#!/usr/bin/env bash
# Benchmark of `k3s agent` (as root): the time from starting an agent to its Node Ready (join,
# certificates from CSRs, containerd, preload of the pause image), the time from creating a
# Deployment of REPLICAS (default 10) to all its pods Running from a preloaded image, and the
# agent's resident memory (k3s and containerd apart) after IDLE seconds (default 10) with those
# pods running. Server and agent run in a network namespace of their own, each with its own
# mount namespace. No upstream kubelet runs here offline, so there is no peer in this run.
# Build first (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
BIN=$BUILD/bin
REPLICAS=${REPLICAS:-10}
IDLE=${IDLE:-10}
source tests/e2e/lib.sh
NS=k3a-bench-$$
NODE_IP=10.$((RANDOM % 200 + 20)).9.1
make_node_netns "$NS" "$NODE_IP"
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml
k() { ip netns exec "$NS" kubectl --cache-dir "$WORK/kcache" "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

node_exec "$NS" "$WORK/server-node" "$BIN/k3s" server -d "$WORK/server" --disable-agent \
  --disable coredns,local-storage,traefik,metrics-server \
  --https-listen-port "$PORT" -o "$KUBECONFIG" > "$WORK/server.log" 2>&1 &
CLEANUP=("kill $! 2>/dev/null" "${CLEANUP[@]}")
until k get --raw /readyz > /dev/null 2>&1; do sleep 0.05; done

mkdir -p "$WORK/agent/agent/images"
make_pause_image "$WORK/agent/agent/images/pause.tar"
make_rootfs "$WORK/rootfs" app
expect_ok "$K3A" images build --rootfs "$WORK/rootfs" --entrypoint /bin/sh \
  -t registry.local/app:1 -o "$WORK/agent/agent/images/app.tar"
TOKEN=$(cat "$WORK/server/server/node-token")

start=$(date +%s%N)
node_exec "$NS" "$WORK/agent-node" "$BIN/k3s" agent --server "https://$NODE_IP:$PORT" \
  --token "$TOKEN" -d "$WORK/agent" --node-name bench-1 > "$WORK/agent.log" 2>&1 &
AGENT=$!
CLEANUP=("kill $AGENT 2>/dev/null" "${CLEANUP[@]}")
until [ "$(k get node bench-1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
  kill -0 "$AGENT" 2>/dev/null || { cat "$WORK/agent.log" >&2; fail "agent exited"; }
  sleep 0.02
done
join_ms=$(ms "$start")

start=$(date +%s%N)
expect_ok k create deployment app --image=registry.local/app:1 --replicas="$REPLICAS" \
  -- /bin/sh -c 'exec sleep 100000'
until [ "$(k get pods -l app=app --field-selector=status.phase=Running -o name | wc -l)" = "$REPLICAS" ]; do
  sleep 0.05
done
pods_ms=$(ms "$start")

sleep "$IDLE"
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
containerd=$(pgrep -P "$AGENT" -x containerd)
echo "agent join to Node Ready: ${join_ms} ms (upstream documents no figure; its agent also starts a kubelet and kube-proxy)"
echo "Deployment of $REPLICAS replicas to all pods Running (preloaded image): ${pods_ms} ms"
echo "idle RSS after ${IDLE} s with $REPLICAS pods: k3s agent $(rss "$AGENT") MiB, containerd $(rss "$containerd") MiB"
