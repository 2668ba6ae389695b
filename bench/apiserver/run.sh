#!/usr/bin/env bash
# Benchmark of `k3s server`: cold start to READY=1 and to the first /readyz, idle RSS, RSS
# under load, and creates/gets/lists/watch events per second with 16 concurrent clients over
# HTTPS with the admin certificate; then durable writes per second of the datastore against
# `etcdctl check perf --load=xl` of Debian's etcd 3.4 on the same disk, in the same run; strategic
# merge patch throughput against merge patch, and RBAC cost with 1,000 bindings
# (k3s_patch_rbac_bench).
# Build first (scripts/build.sh). SECONDS_PER_PHASE (default 5) sets the load phases' length.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
PHASE=${SECONDS_PER_PHASE:-5}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; [ -n "${ETCD:-}" ] && kill "$ETCD" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

# --- cold start and idle memory ------------------------------------------------------------------
python3 - "$BUILD/bin/k3s" "$WORK" "$PORT" > "$WORK/start.txt" <<'PY'
import os, socket, ssl, subprocess, sys, time, urllib.request
k3s, work, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def start(data):
    name = "k3a-bench-%d" % os.getpid()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("\0" + name); s.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET="@" + name)
    t0 = time.monotonic()
    p = subprocess.Popen([k3s, "server", "-d", data, "--disable-agent", "--bind-address", "127.0.0.1",
                          "--https-listen-port", str(port), "-o", work + "/k3s.yaml"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s.recv(64); ready = time.monotonic() - t0
    ctx = ssl.create_default_context(cafile=data + "/server/tls/server-ca.crt")
    while True:
        try:
            urllib.request.urlopen("https://127.0.0.1:%d/readyz" % port, context=ctx, timeout=2).read()
            break
        except Exception:
            time.sleep(0.002)
    first = time.monotonic() - t0
    s.close()
    return p, ready, first
p, r1, f1 = start(work + "/cold")                     # first start: keys and certificates too
p.terminate(); p.wait()
p, r2, f2 = start(work + "/cold")                     # restart on existing data
time.sleep(1)
rss = int([l for l in open("/proc/%d/status" % p.pid) if l.startswith("VmRSS")][0].split()[1])
p.terminate(); p.wait()
print("start_first_ready_ms %.1f start_first_readyz_ms %.1f restart_ready_ms %.1f restart_readyz_ms %.1f idle_rss_kib %d"
      % (r1 * 1000, f1 * 1000, r2 * 1000, f2 * 1000, rss))
PY

# --- load: 16 clients -------------------------------------------------------------------------------
"$BUILD/bin/k3s" server -d "$WORK/load" --disable-agent --bind-address 127.0.0.1 --https-listen-port "$PORT" \
  -o "$WORK/k3s.yaml" > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -sk "https://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && break; sleep 0.05; done
python3 - "$WORK/load" "$PORT" "$SERVER" "$PHASE" > "$WORK/load.txt" <<'PY'
import http.client, json, ssl, sys, threading, time
data, port, pid, phase = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
tls = data + "/server/tls/"
def conn():
    ctx = ssl.create_default_context(cafile=tls + "server-ca.crt")
    ctx.load_cert_chain(tls + "client-admin.crt", tls + "client-admin.key")
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
peak = [0]
def rss():
    v = int([l for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS")][0].split()[1])
    peak[0] = max(peak[0], v)
events = [0]
def watcher(stop):
    c = conn(); c.request("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0")
    r = c.getresponse()
    while not stop.is_set():
        line = r.fp.readline()
        if not line: break
        if line.startswith(b"{"): events[0] += 1  # raw chunked stream: skip chunk-size lines
def run(kind, n=16):
    stop = time.monotonic() + phase
    counts = [0] * n
    def worker(i):
        c = conn(); j = 0
        while time.monotonic() < stop:
            j += 1
            if kind == "create":
                body = json.dumps({"metadata": {"name": "c-%d-%d" % (i, j)}, "data": {"k": "v" * 200}})
                c.request("POST", "/api/v1/namespaces/default/configmaps", body, {"Content-Type": "application/json"})
            elif kind == "get":
                c.request("GET", "/api/v1/namespaces/default/configmaps/c-%d-1" % i)
            else:
                c.request("GET", "/api/v1/namespaces/default/configmaps?limit=100")
            r = c.getresponse(); r.read()
            if r.status < 300: counts[i] += 1
            if j % 50 == 0: rss()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    [t.start() for t in ts]; [t.join() for t in ts]
    return sum(counts) / phase  # created/fetched per second over the phase
stop = threading.Event()
w = threading.Thread(target=watcher, args=(stop,), daemon=True); w.start()
time.sleep(0.3)
t0 = time.monotonic()
creates = run("create")
created = int(creates * phase)
while events[0] < created and time.monotonic() - t0 < phase * 4:
    time.sleep(0.05)  # the watcher drains what was sent during the phase
watch_rate = events[0] / (time.monotonic() - t0)
gets = run("get")
lists = run("list")
rss()
print("creates_per_s %.0f gets_per_s %.0f lists100_per_s %.0f watch_events_per_s %.0f peak_rss_kib %d"
      % (creates, gets, lists, watch_rate, peak[0]))
PY
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=

# --- durable writes: our datastore against etcd 3.4 on the same disk ------------------------------
ours=$("$BUILD/bin/k3s_datastore_bench" "$WORK/bench.db" 10 16 256)
CPORT=$(free_port); PPORT=$(free_port)
etcd --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$CPORT" \
  --advertise-client-urls "http://127.0.0.1:$CPORT" --listen-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "default=http://127.0.0.1:$PPORT" > "$WORK/etcd.log" 2>&1 &
ETCD=$!
for _ in $(seq 200); do ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CPORT" endpoint health > /dev/null 2>&1 && break; sleep 0.05; done
ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CPORT" check perf --load=xl 2>&1 | tr '\r' '\n' > "$WORK/perf.txt" || true
kill "$ETCD"; wait "$ETCD" 2>/dev/null || true; ETCD=
# "PASS: Throughput is N writes/s" or "FAIL: Throughput too low: N writes/s"
etcd_wps=$(grep -o 'Throughput[^0-9]*[0-9]* writes/s' "$WORK/perf.txt" | grep -o '[0-9][0-9]*' | head -1 || true)

"$BUILD/bin/k3s_patch_rbac_bench" "$WORK" "$PHASE" > "$WORK/patch.txt"

cat "$WORK/start.txt" "$WORK/load.txt" "$WORK/patch.txt"
echo "datastore: $ours"
ours_wps=$(echo "$ours" | grep -o 'writes_per_second [0-9]*' | cut -d' ' -f2)
printf 'durable writes/s: ours %s  etcd 3.4 (etcdctl check perf --load=xl) %s  ratio %s (target >= 1.0)\n' \
  "$ours_wps" "${etcd_wps:-?}" "$(awk "BEGIN { if (\"${etcd_wps:-0}\" > 0) printf \"%.2fx\", $ours_wps / ${etcd_wps:-1}; else print \"?\" }")"
