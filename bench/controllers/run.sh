#!/usr/bin/env bash
# Benchmark of the control loops of `k3s server`, with k3s_fake_kubelet playing the nodes:
#  1. a 1,000-replica Deployment on 10 nodes: time until all 1,000 pods exist, until all are
#     bound by the scheduler, and until the Deployment reports 1,000 available replicas (the
#     fake kubelet marks pods Running as it polls, every 100 ms);
#  2. the server's CPU while idle: with no nodes, and with 100 nodes renewing their leases every
#     10 s as kubelets do (the fake kubelet also lists nodes, pods and leases every second).
# No upstream kube-controller-manager or scheduler can run here offline to compare against;
# the figures stand alone. Build first (scripts/build.sh). IDLE_SECONDS (default 30) sets the
# idle windows' length.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
IDLE=${IDLE_SECONDS:-30}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
cleanup() {
  [ -n "${KUBELET:-}" ] && kill "$KUBELET" 2>/dev/null
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {  # DATA_DIR
  PORT=$(free_port)
  "$BUILD/bin/k3s" server -d "$1" --disable-agent --bind-address 127.0.0.1 --https-listen-port "$PORT" \
    -o "$WORK/k3s.yaml" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 200); do curl -sk "https://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
stop_all() {
  kill "$KUBELET" "$SERVER" 2>/dev/null || true
  wait "$KUBELET" "$SERVER" 2>/dev/null || true
  KUBELET= SERVER=
}

# --- 1,000 replicas -----------------------------------------------------------------------------
start_server "$WORK/scale"
"$BUILD/tests/k3s_fake_kubelet" "$WORK/k3s.yaml" 100 10 > "$WORK/kubelet.log" 2>&1 &
KUBELET=$!
python3 - "$WORK/scale" "$PORT" > "$WORK/scale.txt" <<'PY'
import http.client, json, ssl, sys, time
data, port = sys.argv[1], int(sys.argv[2])
tls = data + "/server/tls/"
ctx = ssl.create_default_context(cafile=tls + "server-ca.crt")
ctx.load_cert_chain(tls + "client-admin.crt", tls + "client-admin.key")
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
def call(method, path, body=None):
    c.request(method, path, json.dumps(body) if body else None, {"Content-Type": "application/json"})
    r = c.getresponse(); text = r.read()
    if r.status >= 300: raise SystemExit("%s %s: %d %s" % (method, path, r.status, text[:200]))
    return json.loads(text)
for i in range(10):
    call("POST", "/api/v1/nodes", {"metadata": {"name": "fake-%d" % i}})
while True:  # every node Ready
    nodes = call("GET", "/api/v1/nodes")["items"]
    ready = [n for n in nodes for cnd in n.get("status", {}).get("conditions", []) if cnd["type"] == "Ready" and cnd["status"] == "True"]
    if len(ready) == 10: break
    time.sleep(0.05)
t0 = time.monotonic()
call("POST", "/apis/apps/v1/namespaces/default/deployments", {
    "metadata": {"name": "big"},
    "spec": {"replicas": 1000, "selector": {"matchLabels": {"app": "big"}},
             "template": {"metadata": {"labels": {"app": "big"}},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
created = bound = None
while True:
    pods = call("GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dbig")["items"]
    now = time.monotonic() - t0
    if created is None and len(pods) >= 1000: created = now
    if bound is None and len(pods) >= 1000 and all(p["spec"].get("nodeName") for p in pods): bound = now
    if bound is not None: break
    if now > 600: raise SystemExit("not bound after 600 s: %d pods" % len(pods))
    time.sleep(0.1)
while True:
    d = call("GET", "/apis/apps/v1/namespaces/default/deployments/big")
    if d.get("status", {}).get("availableReplicas", 0) == 1000: break
    time.sleep(0.1)
available = time.monotonic() - t0
print("replicas_created_s %.2f replicas_bound_s %.2f replicas_available_s %.2f" % (created, bound, available))
PY
stop_all

# --- idle CPU ----------------------------------------------------------------------------------
cpu_seconds() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
idle_cpu() {  # NODES
  start_server "$WORK/idle-$1"
  "$BUILD/tests/k3s_fake_kubelet" "$WORK/k3s.yaml" 1000 10 > "$WORK/kubelet.log" 2>&1 &
  KUBELET=$!
  python3 - "$WORK/idle-$1" "$PORT" "$1" <<'PY'
import http.client, json, ssl, sys, time
data, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tls = data + "/server/tls/"
ctx = ssl.create_default_context(cafile=tls + "server-ca.crt")
ctx.load_cert_chain(tls + "client-admin.crt", tls + "client-admin.key")
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
for i in range(n):
    c.request("POST", "/api/v1/nodes", json.dumps({"metadata": {"name": "fake-%d" % i}}), {"Content-Type": "application/json"})
    c.getresponse().read()
while n:
    c.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"); r = c.getresponse()
    if len(json.loads(r.read())["items"]) == n: break
    time.sleep(0.1)
PY
  sleep 2  # let the first round of writes settle
  local before; before=$(cpu_seconds "$SERVER")
  sleep "$IDLE"
  local after; after=$(cpu_seconds "$SERVER")
  local rss; rss=$(awk '/VmRSS/{print $2}' "/proc/$SERVER/status")
  stop_all
  python3 -c "print('idle_cpu_pct_%s_nodes %.2f idle_rss_kib_%s_nodes %s' % ('$1', ($after - $before) * 100 / $IDLE, '$1', '$rss'))"
}
idle_cpu 0 > "$WORK/idle0.txt"
idle_cpu 100 > "$WORK/idle100.txt"

cat "$WORK/scale.txt" "$WORK/idle0.txt" "$WORK/idle100.txt" | tr ' ' '\n' | paste - - | column -t
