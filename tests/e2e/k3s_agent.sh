#!/usr/bin/env bash
# `k3s agent` joining `k3s server` from its own network namespace (a veth pair to the host, no
# other route), as upstream's agents join: the CA hash of the K10 token checked, certificates
# from CSRs with the kubelet's identity (verified with openssl), the node password kept hashed
# in <node>.node-password.k3s, the Node registered Ready with its lease. Refused with upstream's
# messages: a wrong token, a wrong CA hash, the same node name with another password. The agent
# runs containerd with its generated configuration and preloads agent/images: a good archive is
# imported and pinned, a tampered one refused (once), one added later imported live, an unchanged
# restart reads nothing. Each agent sees its own /etc/rancher and /run/k3s (in its own mount
# namespace). The server's --disable-kube-proxy leaves the agent without Service rules, and
# its --flannel-backend none without a pod network of ours.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
D=$WORK/server
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml
NS=k3a-agent-$$
HOST_IP=10.213.$((RANDOM % 200 + 20)).1
AGENT_IP=${HOST_IP%.1}.2

ip netns add "$NS"
CLEANUP=("node_kill $NS; ip netns del $NS" "${CLEANUP[@]}")
ip link add "h-$NS" type veth peer name "n-$NS" 2>/dev/null || ip link add "h$$" type veth peer name "n$$"
HOST_IF=$(ip -o link show | grep -o "h-$NS\|h$$" | head -1)
NS_IF=$(ip -o link show | grep -o "n-$NS\|n$$" | head -1)
CLEANUP=("ip link del $HOST_IF 2>/dev/null" "${CLEANUP[@]}")
ip link set "$NS_IF" netns "$NS"
ip addr add "$HOST_IP/30" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip netns exec "$NS" ip addr add "$AGENT_IP/30" dev "$NS_IF"
ip netns exec "$NS" ip link set "$NS_IF" up
ip netns exec "$NS" ip link set lo up

start_k3s_server "$HOST_IP" "$D" --disable-kube-proxy
k() { kubectl --cache-dir "$WORK/kcache" "$@"; }
TOKEN=$(cat "$D/server/node-token")

# agent NAME DIR ARGS...: k3s agent in the namespace, with its own /etc/rancher/node, /run/k3s,
# kubelet and pod log directories (node_exec).
agent() {
  local name=$1 dir=$2; shift 2
  node_exec "$NS" "$dir" "$BIN/k3s" agent --server "https://$HOST_IP:$PORT" -d "$dir" \
    --node-name "$name" --node-ip "$AGENT_IP" "$@"
}

# Refusals, each with upstream's words.
WRONG_HASH="K10$(printf '0%.0s' $(seq 64))::${TOKEN#*::}"
expect_fail 'token CA hash does not match the Cluster CA certificate hash' \
  timeout 20 bash -c "$(declare -f agent node_exec); BIN=$BIN NS=$NS HOST_IP=$HOST_IP PORT=$PORT AGENT_IP=$AGENT_IP agent bad1 $WORK/bad1 --token '$WRONG_HASH'"
expect_fail '401' \
  timeout 20 bash -c "$(declare -f agent node_exec); BIN=$BIN NS=$NS HOST_IP=$HOST_IP PORT=$PORT AGENT_IP=$AGENT_IP agent bad2 $WORK/bad2 --token '${TOKEN%:*}:wrong-password'"

# Archives for the preload: a good one (and the pause stand-in), and one with a flipped byte in
# a layer.
make_rootfs "$WORK/rootfs" worker
mkdir -p "$WORK/a1/agent/images"
make_pause_image "$WORK/a1/agent/images/pause.tar"
expect_ok "$BIN/k3s-airgap" images build --rootfs "$WORK/rootfs" --entrypoint /bin/sh \
  --platform linux/amd64 -t registry.local/preloaded:1 -o "$WORK/a1/agent/images/app.tar"
python3 - "$WORK/a1/agent/images/app.tar" "$WORK/a1/agent/images/bad.tar" <<'PY'
import sys, tarfile, io
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
    members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
    biggest = max((m for m, d in members if d), key=lambda m: m.size)
    for m, d in members:
        if m is biggest:
            d = bytearray(d); d[len(d) // 2] ^= 1; d = bytes(d)
        out.addfile(m, io.BytesIO(d) if d is not None else None)
PY

# A good join.
agent worker-1 "$WORK/a1" --token "$TOKEN" > "$WORK/agent1.log" 2>&1 &
AGENT=$!
CLEANUP=("kill $AGENT 2>/dev/null; wait $AGENT 2>/dev/null" "${CLEANUP[@]}")
deadline=$((SECONDS + 30))
until k get node worker-1 > /dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { cat "$WORK/agent1.log" >&2; fail "worker-1 never registered"; }
  kill -0 "$AGENT" 2>/dev/null || { cat "$WORK/agent1.log" >&2; fail "agent exited"; }
  sleep 0.2
done
expect_ok k wait --for=condition=Ready node/worker-1 --timeout=20s
expect_ok k get node worker-1 -o 'jsonpath={.status.addresses[0].address} {.metadata.labels.kubernetes\.io/hostname}'
[ "$(cat "$WORK/last.out")" = "$AGENT_IP worker-1" ] || fail "node: $(cat "$WORK/last.out")"
expect_ok k -n kube-node-lease get lease worker-1
# The server's --disable-kube-proxy reaches the agent: pod masquerading, no Service rules.
wait_for "the agent's FLANNEL-POSTRTG chain" sh -c "ip netns exec $NS iptables-save -t nat | grep -q '^:FLANNEL-POSTRTG'"
ip netns exec "$NS" iptables-save > "$WORK/agent-rules"
! grep -q 'KUBE-' "$WORK/agent-rules" || fail "Service rules despite --disable-kube-proxy: $(grep KUBE- "$WORK/agent-rules")"
expect_ok k get node worker-1 -o 'jsonpath={.status.nodeInfo.containerRuntimeVersion}'
grep -Eq '^containerd://[0-9]' "$WORK/last.out" || fail "runtime: $(cat "$WORK/last.out")"
grep -q 'sandbox_image = "docker.io/rancher/mirrored-pause:3.6"' "$WORK/a1/agent/etc/containerd/config.toml" \
  || fail "containerd config"
expect_ok k -n kube-system get secret worker-1.node-password.k3s -o 'jsonpath={.type}'
[ "$(cat "$WORK/last.out")" = k3s.cattle.io/node-password ] || fail "password secret: $(cat "$WORK/last.out")"
[ "$(stat -c %a "$WORK/a1/fs/etc/rancher/node/password")" = 600 ] || fail "password file mode"
A=$WORK/a1/agent
expect_ok openssl verify -CAfile "$A/client-ca.crt" "$A/client-kubelet.crt"
openssl x509 -in "$A/client-kubelet.crt" -noout -subject | grep -q 'O *= *system:nodes, CN *= *system:node:worker-1' \
  || fail "kubelet identity: $(openssl x509 -in "$A/client-kubelet.crt" -noout -subject)"
expect_ok openssl verify -CAfile "$A/server-ca.crt" "$A/serving-kubelet.crt"
openssl x509 -in "$A/serving-kubelet.crt" -noout -ext subjectAltName | grep -q "IP Address:$AGENT_IP" \
  || fail "serving SANs: $(openssl x509 -in "$A/serving-kubelet.crt" -noout -ext subjectAltName)"
cmp <(openssl pkey -in "$A/client-kubelet.key" -pubout) <(openssl x509 -in "$A/client-kubelet.crt" -noout -pubkey) \
  || fail "the certificate is not for the agent's own key"

# The preload: the good archive's image pinned in containerd, the tampered one refused.
grep -q 'Imported images from .*/app.tar: registry.local/preloaded:1' "$WORK/agent1.log" \
  || fail "preload: $(cat "$WORK/agent1.log")"
grep -q 'Failed to import .*/bad.tar: .*sha256' "$WORK/agent1.log" || fail "tampered archive: $(cat "$WORK/agent1.log")"
in_agent() { nsenter -t "$AGENT" -m -n "$@"; }
expect_ok in_agent ctr -a /run/k3s/containerd/containerd.sock -n k8s.io images ls
grep -q 'registry.local/preloaded:1 .*io.cri-containerd.pinned=pinned' "$WORK/last.out" \
  || fail "containerd images: $(cat "$WORK/last.out")"
[ "$(grep -vc 'mirrored-pause' "$WORK/last.out")" = 2 ] || fail "more than the good images: $(cat "$WORK/last.out")"

# A pod on the agent, from the preloaded image; its logs and exec through the server.
expect_ok k run on-worker --image=registry.local/preloaded:1 --image-pull-policy=IfNotPresent \
  --command -- /bin/sh -c 'echo "from $(cat /etc/hostname)"; exec sleep 100000'
expect_ok k wait --for=condition=Ready pod/on-worker --timeout=60s
[ "$(k get pod on-worker -o jsonpath='{.spec.nodeName} {.status.hostIP}')" = "worker-1 $AGENT_IP" ] \
  || fail "pod placement: $(k get pod on-worker -o wide)"
[ "$(k logs on-worker)" = "from on-worker" ] || fail "logs from the agent: $(k logs on-worker)"
[ "$(k exec on-worker -- /bin/sh -c 'echo $((6*7))')" = 42 ] || fail "exec on the agent"
expect_ok k delete pod on-worker --grace-period=1 --timeout=30s

# The same name with another password is refused.
expect_fail 'Node password rejected, duplicate hostname' \
  timeout 20 bash -c "$(declare -f agent node_exec); BIN=$BIN NS=$NS HOST_IP=$HOST_IP PORT=$PORT AGENT_IP=$AGENT_IP agent worker-1 $WORK/impostor --token '$TOKEN'"

# An archive dropped in while the agent runs is imported live.
make_rootfs "$WORK/rootfs2" later
expect_ok "$BIN/k3s-airgap" images build --rootfs "$WORK/rootfs2" --entrypoint /bin/sh \
  --platform linux/amd64 -t registry.local/later:1 -o "$WORK/later.tar"
mv "$WORK/later.tar" "$WORK/a1/agent/images/later.tar"
deadline=$((SECONDS + 20))
until grep -q 'Imported images from .*/later.tar: registry.local/later:1' "$WORK/agent1.log"; do
  [ $SECONDS -lt $deadline ] || { cat "$WORK/agent1.log" >&2; fail "the new archive was not imported"; }
  sleep 0.2
done
[ "$(grep -c 'Failed to import .*/bad.tar' "$WORK/agent1.log")" = 1 ] || fail "the bad archive was read again"

# A restart with unchanged archives reads none of them. The server comes back with
# --flannel-backend none: the agent leaves the pod network to a CNI of the user's.
kill "$AGENT"; wait "$AGENT" || fail "agent did not stop cleanly"
rm "$WORK/a1/agent/images/bad.tar"
kill "$SERVER"; wait "$SERVER" || true
start_k3s_server "$HOST_IP" "$D" --disable-kube-proxy --flannel-backend none
agent worker-1 "$WORK/a1" --token "$TOKEN" > "$WORK/agent2.log" 2>&1 &
AGENT=$!
CLEANUP=("kill $AGENT 2>/dev/null; wait $AGENT 2>/dev/null" "${CLEANUP[@]}")
deadline=$((SECONDS + 30))
until grep -q 'Preloaded images' "$WORK/agent2.log"; do
  [ $SECONDS -lt $deadline ] || { cat "$WORK/agent2.log" >&2; fail "no preload after restart"; }
  sleep 0.2
done
grep -q '0 archives imported, 3 unchanged, 0 failed' "$WORK/agent2.log" || fail "restart: $(cat "$WORK/agent2.log")"
grep -q 'Flannel backend none: pods wait for a CNI configuration' "$WORK/agent2.log" || fail "backend none: $(cat "$WORK/agent2.log")"
[ ! -e "$WORK/a1/agent/etc/cni/net.d/10-bridge.conflist" ] || fail "the bridge configuration is still there"

# The agent stops on SIGTERM; deleting its Node removes the password Secret.
kill "$AGENT"; wait "$AGENT" || fail "agent did not stop cleanly"
expect_ok k delete node worker-1
for _ in $(seq 100); do k -n kube-system get secret worker-1.node-password.k3s > /dev/null 2>&1 || break; sleep 0.1; done
expect_fail 'not found' k -n kube-system get secret worker-1.node-password.k3s
echo "k3s_agent: ok"
