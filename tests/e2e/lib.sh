# Shared helpers for the end-to-end scripts: a scratch directory removed on exit, assertions that
# name what failed, and a private containerd. Source it; BIN must point at build/bin.
set -euo pipefail
WORK=$(mktemp -d /tmp/k3a-e2e.XXXXXX)
CLEANUP=("node_unmount $WORK; rm -rf $WORK")
cleanup() { for c in "${CLEANUP[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT
K3A="$BIN/k3s-airgap"
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/node.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_ok() { "$@" > "$WORK/last.out" 2>&1 || { cat "$WORK/last.out" >&2; fail "command failed: $*"; }; }
# expect_fail PATTERN CMD...: the command must fail and print PATTERN.
expect_fail() {
  local pattern=$1; shift
  if "$@" > "$WORK/last.out" 2>&1; then cat "$WORK/last.out" >&2; fail "should have failed: $*"; fi
  grep -q -- "$pattern" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "no '$pattern' from: $*"; }
}

# A busybox root filesystem from Debian's busybox-static.
make_rootfs() {
  mkdir -p "$1/bin" "$1/etc"
  cp /bin/busybox "$1/bin/busybox"
  ln -sf busybox "$1/bin/sh"
  echo "$2" > "$1/etc/hostname"
}

# start_containerd DIR: a containerd of our own (private root, state and socket, no CRI).
start_containerd() {
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/config.toml" <<CFG
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
CFG
  containerd -c "$dir/config.toml" > "$dir/log" 2>&1 &
  local pid=$!
  CLEANUP=("kill $pid; wait $pid" "${CLEANUP[@]}")
  for _ in $(seq 200); do
    ctr -a "$dir/containerd.sock" version > /dev/null 2>&1 && return 0
    kill -0 $pid 2>/dev/null || { cat "$dir/log" >&2; fail "containerd exited"; }
    sleep 0.05
  done
  cat "$dir/log" >&2
  fail "containerd did not answer"
}

# wait_for WHAT CMD...: polls CMD until it succeeds (10 s at most).
wait_for() {
  local what=$1 i; shift
  for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  fail "timed out waiting for $what"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry DIR: Debian's docker-registry (distribution 2.8) on 127.0.0.1; sets REGISTRY.
start_registry() {
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<CFG
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
CFG
  docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
  local pid=$!
  CLEANUP=("kill $pid; wait $pid" "${CLEANUP[@]}")
  REGISTRY=127.0.0.1:$port
  REGISTRY_PID=$pid
  for _ in $(seq 200); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$REGISTRY/v2/')" 2>/dev/null && return 0
    kill -0 $pid 2>/dev/null || { cat "$dir/log" >&2; fail "docker-registry exited"; }
    sleep 0.05
  done
  fail "docker-registry did not answer"
}

# start_k3s_server ADDRESS DATA_DIR [FLAGS...]: `k3s server` (without its embedded agent) on
# ADDRESS:$PORT writing $KUBECONFIG, logging to $WORK/server.log; sets SERVER, stops it on exit,
# returns once /readyz answers.
start_k3s_server() {
  local address=$1 data=$2; shift 2
  "$BIN/k3s" server -d "$data" --disable-agent --bind-address "$address" --https-listen-port "$PORT" \
    -o "$KUBECONFIG" "$@" >> "$WORK/server.log" 2>&1 &
  SERVER=$!
  CLEANUP=("kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null" "${CLEANUP[@]}")
  for _ in $(seq 200); do
    curl -sk "https://$address:$PORT/readyz" > /dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "k3s server exited"; }
    sleep 0.05
  done
  fail "k3s server did not become ready"
}

# make_node_netns NS ADDRESS: a node's network namespace without a network (scripts/node.sh:
# node_offline_route), so its pods' bridge and iptables rules stay in it; removed on exit
# together with every process in it and their children.
make_node_netns() {
  local ns=$1 address=$2
  node_netns "$ns"
  CLEANUP=("node_kill $ns; ip netns del $ns" "${CLEANUP[@]}")
  node_offline_route "$ns" "$address"
}

# make_pause_image FILE: the stand-in for the pause image (busybox sleeping as PID 1), as
# docker.io/rancher/mirrored-pause:3.6.
make_pause_image() {
  make_rootfs "$WORK/pause-rootfs" pause
  expect_ok "$BIN/k3s-airgap" images build --rootfs "$WORK/pause-rootfs" --entrypoint /bin/sh \
    --cmd=-c --cmd='trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done' \
    -t docker.io/rancher/mirrored-pause:3.6 -o "$1"
}
