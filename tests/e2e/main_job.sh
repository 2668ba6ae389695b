#!/usr/bin/env bash
# The main job end to end (scripts/main_job.sh: stand-in images, a signed bundle, installed on a
# node without any network, k3s server with its embedded agent, every packaged kube-system pod
# Running) within its time budget, then on the same cluster: a second node installed from the
# same bundle with K3S_URL and K3S_TOKEN joins and runs a pod, which reaches the other node's
# pods and Services, and traefik answers on both nodes' load balancer addresses; a second bundle
# (higher sequence, a changed image) installs over both nodes and the cluster comes back on it;
# --rollback returns both to the first bundle, cluster healthy again. Nothing may try to reach a network outside
# the nodes' namespaces.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export NODE_PREFIX=k3a-e2e$$
OUT=$WORK/main
N1=$NODE_PREFIX-1 N2=$NODE_PREFIX-2
CLEANUP=("[ ! -x $OUT/stop.sh ] || $OUT/stop.sh --keep" "${CLEANUP[@]}")
k() { "$OUT/kubectl" "$@"; }

# --- the main job, timed: 5 minutes after the build, failing past half as much again ---------
start=$SECONDS
BIN=$BIN bash "$ROOT/scripts/main_job.sh" "$OUT" > "$WORK/main.log" 2>&1 \
  || { tail -40 "$WORK/main.log" >&2; fail "the main job failed"; }
took=$((SECONDS - start))
[ "$took" -le 450 ] || fail "the main job took ${took} s: over its 5-minute budget by more than half"
grep -q 'Verified OK' "$WORK/main.log" || fail "openssl did not verify the bundle"
python3 -c "import json,sys; t=json.load(open(sys.argv[1])); assert 0 < t['install_to_node_ready_s'] <= t['install_to_pods_running_s'], t" \
  "$OUT/timings.json" || fail "timings: $(cat "$OUT/timings.json")"

# all_running: every kube-system pod Running and ready, and each packaged component there.
all_running() {
  local d
  for d in coredns local-path-provisioner metrics-server traefik; do
    k -n kube-system rollout status "deploy/$d" --timeout=90s > /dev/null || return 1
  done
  k get pods -n kube-system -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
bad = [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Running"
       or not all(c.get("ready") for c in p["status"].get("containerStatuses", []))]
sys.exit(1 if bad or len(pods) < 4 else 0)'
}
all_running || fail "packaged pods: $(k get pods -A 2>&1)"
k -n kube-system logs deploy/coredns | grep 'stand-in for coredns: 3 HTTP' > /dev/null || fail "coredns is not the stand-in"
[ "$(k -n kube-system get cm coredns -o jsonpath='{.data.NodeHosts}')" = "10.77.0.1 node-1" ] \
  || fail "NodeHosts: $(k -n kube-system get cm coredns -o yaml)"

# --- a second node from the same bundle, joined through K3S_URL and K3S_TOKEN ---------------
node_netns "$N2"
node_link "$N1" 10.78.0.1 "$N2" 10.78.0.2
ip netns exec "$N2" ip route add default via 10.78.0.1
node_egress_guard "$N2"
mkdir -p "$WORK/node-2/fs/etc/rancher/k3s/airgap/trust"
cp "$OUT/keys/bundle.pub" "$WORK/node-2/fs/etc/rancher/k3s/airgap/trust/cluster.pub"
TOKEN=$(cat "$OUT/node-1/fs/var/lib/rancher/k3s/server/node-token")
# on NODE [ENV...] -- ARGS: k3s-airgap install ARGS inside node-1 or node-2.
on() {
  local node=$1 ns dir; shift
  case $node in
    node-1) ns=$N1 dir=$OUT/node-1 ;;
    node-2) ns=$N2 dir=$WORK/node-2 ;;
  esac
  (node_exec "$ns" "$dir" env "$@")
}
agent_env=(K3S_URL=https://10.77.0.1:6443 "K3S_TOKEN=$TOKEN")
# ready NODE...: each node registered and Ready within a minute.
ready() {
  local n deadline=$((SECONDS + 60))
  for n in "$@"; do
    until k get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -x True > /dev/null; do
      [ $SECONDS -lt $deadline ] || { tail -20 "$WORK"/node-2/fs/var/log/k3s-agent.log >&2; fail "$n is not Ready"; }
      sleep 0.5
    done
  done
}
expect_ok on node-2 "${agent_env[@]}" "$K3A" install "$OUT/cluster.tar.zst" --supervise -- --node-name node-2
grep -q 'Started k3s-agent in the background' "$WORK/last.out" || fail "agent install: $(cat "$WORK/last.out")"
ready node-2
cat > "$WORK/hello.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-2}
      containers:
      - name: hello
        image: docker.io/rancher/mirrored-library-busybox:1.37.0
        imagePullPolicy: Never
        command: [sh, -c, 'echo hello from $(cat /etc/hostname); exec sleep 3600']
YAML
expect_ok k apply -f "$WORK/hello.yaml"
expect_ok k rollout status deploy/hello --timeout=60s
[ "$(k get pods -l app=hello -o jsonpath='{.items[0].spec.nodeName}')" = node-2 ] || fail "hello is not on node-2"
# hello_says: what /etc/stand-in holds in the hello pod (the busybox image's content).
hello_says() { k exec deploy/hello -- cat /etc/stand-in; }
hello_says | grep 'not the real component' > /dev/null || fail "exec on node-2: $(hello_says 2>&1)"
k logs deploy/hello | grep '^hello from hello-' > /dev/null || fail "logs from node-2: $(k logs deploy/hello 2>&1)"

# --- Services and pods across the nodes ------------------------------------------------------
# ServiceLB gives traefik both nodes' addresses; node-2's address reaches the traefik pod on
# node-1 (node-2's Service rules, then its route to node-1's pod network); the pod on node-2
# reaches traefik by ClusterIP and by pod IP.
lb_ips() { k -n kube-system get svc traefik -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
wait_for "traefik's load balancer addresses" sh -c "[ \"\$($OUT/kubectl -n kube-system get svc traefik -o jsonpath='{.status.loadBalancer.ingress[*].ip}')\" = '10.77.0.1 10.78.0.2' ]"
[ "$(k -n kube-system get pods -l app.kubernetes.io/name=traefik -o jsonpath='{.items[0].spec.nodeName}')" = node-1 ] \
  || fail "traefik is not on node-1"
wait_for "node-2's rules for traefik" nsenter --net=/run/netns/"$N2" curl -sf --max-time 1 http://10.78.0.2/ping
[ "$(nsenter --net=/run/netns/"$N2" curl -s --max-time 3 http://10.78.0.2/ping)" = ok ] \
  || fail "traefik through node-2's load balancer address (addresses: $(lb_ips))"
# from_hello ADDRESS PORT: traefik's /ping asked from the pod on node-2.
from_hello() { k exec deploy/hello -- busybox sh -c "printf 'GET /ping HTTP/1.0\r\n\r\n' | busybox nc -w 3 $1 $2" 2>&1 | tail -1; }
TRAEFIK_IP=$(k -n kube-system get svc traefik -o jsonpath='{.spec.clusterIP}')
TRAEFIK_POD=$(k -n kube-system get pods -l app.kubernetes.io/name=traefik -o jsonpath='{.items[0].status.podIP}')
[ "$(from_hello "$TRAEFIK_IP" 80)" = ok ] || fail "pod on node-2 to traefik's ClusterIP: $(from_hello "$TRAEFIK_IP" 80)"
[ "$(from_hello "$TRAEFIK_POD" 8000)" = ok ] || fail "pod on node-2 to the traefik pod on node-1: $(from_hello "$TRAEFIK_POD" 8000)"

# --- upgrade: a second bundle, sequence 2, with a changed busybox image, over both nodes -----
make_rootfs "$WORK/busybox-v2" busybox
echo "stand-in, changed in sequence 2" > "$WORK/busybox-v2/etc/stand-in"
for tool in cat sleep; do ln -s busybox "$WORK/busybox-v2/bin/$tool"; done
expect_ok "$K3A" images build --rootfs "$WORK/busybox-v2" --entrypoint /bin/sh --env PATH=/bin \
  -t docker.io/rancher/mirrored-library-busybox:1.37.0 -o "$OUT/busybox-v2.tar"
sed -e 's/^sequence: 1$/sequence: 2/' -e 's|\./images/busybox\.tar|./busybox-v2.tar|' "$OUT/bundle.yaml" > "$OUT/bundle-2.yaml"
grep -q busybox-v2 "$OUT/bundle-2.yaml" || fail "bundle-2.yaml: $(cat "$OUT/bundle-2.yaml")"
expect_ok "$K3A" bundle create -f "$OUT/bundle-2.yaml" -o "$OUT/cluster-2.tar.zst" \
  --sign-key "$OUT/keys/bundle.key" --cache-dir "$OUT/cache"
restart=(INSTALL_K3S_FORCE_RESTART=true)
expect_ok on node-1 "${restart[@]}" "$K3A" install "$OUT/cluster-2.tar.zst" --supervise -o json -- server --node-name node-1
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["staged"] and r["started"] and r["installed"]["sequence"]==2, r' \
  <(sed -n '/^{/,/^}/p' "$WORK/last.out") || fail "upgrade node-1: $(cat "$WORK/last.out")"
expect_ok on node-2 "${agent_env[@]}" "${restart[@]}" "$K3A" install "$OUT/cluster-2.tar.zst" --supervise -- --node-name node-2
ready node-1 node-2
all_running || fail "after the upgrade: $(k get pods -A 2>&1)"
expect_ok k rollout restart deploy/hello
expect_ok k rollout status deploy/hello --timeout=60s
hello_says | grep 'changed in sequence 2' > /dev/null || fail "the upgraded image is not running: $(hello_says 2>&1)"

# --- rollback to the first bundle on both nodes ---------------------------------------------
expect_ok on node-2 "${agent_env[@]}" "${restart[@]}" "$K3A" install --rollback --supervise -- --node-name node-2
expect_ok on node-1 "${restart[@]}" "$K3A" install --rollback --supervise -- server --node-name node-1
grep -q 'Rolled back to cluster sequence 1' "$WORK/last.out" || fail "rollback: $(cat "$WORK/last.out")"
[[ $(readlink "$OUT/node-1/fs/var/lib/rancher/k3s/airgap/current") == versions/1-* ]] \
  || fail "current: $(readlink "$OUT/node-1/fs/var/lib/rancher/k3s/airgap/current")"
ready node-1 node-2
all_running || fail "after the rollback: $(k get pods -A 2>&1)"
expect_ok k rollout restart deploy/hello
expect_ok k rollout status deploy/hello --timeout=60s
hello_says | grep 'not the real component' > /dev/null || fail "the first image is not back: $(hello_says 2>&1)"

# --- nothing tried to leave the nodes ----------------------------------------------------------
for ns in "$N1" "$N2"; do
  [ "$(node_egress_packets "$ns")" = 0 ] \
    || fail "$ns sent $(node_egress_packets "$ns") packets out, to: $(node_egress_destinations "$ns" | paste -sd' ')"
done
echo "main_job: ok (main job ${took} s; $(cat "$OUT/timings.json"))"
