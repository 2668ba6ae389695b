#!/usr/bin/env bash
# Benchmark of `k3s-airgap mirror serve` against nginx serving the same files on loopback, in
# the same run, with ApacheBench: a SIZE_MB (default 64) release asset (throughput) and a
# small checksum file (requests per second and mean latency), each with 1 and 32 concurrent
# clients. Prints both and the ratio (ours / nginx). Build first (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
SIZE_MB=${SIZE_MB:-64}
WORK=$(mktemp -d /var/tmp/k3a-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The same two files for both servers: in the mirror's store, and in a plain directory.
V=v1.32.9+k3s1
mkdir -p "$WORK/mirror/blobs/sha256" "$WORK/www/k3s-io/k3s/releases/download/$V"
head -c "${SIZE_MB}M" /dev/urandom > "$WORK/big"
printf '%s  k3s\n' "$(sha256sum "$WORK/big" | cut -d' ' -f1)" > "$WORK/small"
index='{"releases": {"'$V'": {'
sep=''
for f in big small; do
  h=$(sha256sum "$WORK/$f" | cut -d' ' -f1)
  cp "$WORK/$f" "$WORK/mirror/blobs/sha256/$h"
  cp "$WORK/$f" "$WORK/www/k3s-io/k3s/releases/download/$V/$f"
  index+="$sep\"$f\": {\"digest\": \"sha256:$h\", \"size\": $(stat -c %s "$WORK/$f")}"
  sep=', '
done
echo "$index}}, \"channels\": {}, \"repositories\": {}}" > "$WORK/mirror/index.json"

OURS=$(free_port)
"$BUILD/bin/k3s-airgap" mirror serve --root "$WORK/mirror" --addr "127.0.0.1:$OURS" > /dev/null 2>&1 &
PIDS+=($!)
PEER=$(free_port)
cat > "$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server { listen 127.0.0.1:$PEER; root $WORK/www; }
}
CONF
mkdir -p "$WORK/tmp"
chmod 755 "$WORK"
chmod -R a+rX "$WORK/www"  # nginx's workers run as www-data
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for port in $OURS $PEER; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/k3s-io/k3s/releases/download/$V/small" > /dev/null && break; sleep 0.05; done
  for f in big small; do
    cmp -s <(curl -sf "http://127.0.0.1:$port/k3s-io/k3s/releases/download/$V/$f") "$WORK/$f" \
      || { echo "127.0.0.1:$port does not serve $f" >&2; exit 1; }
  done
done

# ab FIELD PORT FILE CLIENTS REQUESTS: one number from ApacheBench's report.
ab_run() {
  ab -q -k -c "$4" -n "$5" "http://127.0.0.1:$2/k3s-io/k3s/releases/download/$V/$3" 2>/dev/null |
    awk -v f="$1" 'index($0, f) == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }' | head -1
}
report() {  # LABEL FIELD FILE CLIENTS REQUESTS UNIT
  local ours peer
  ours=$(ab_run "$2" "$OURS" "$3" "$4" "$5")
  peer=$(ab_run "$2" "$PEER" "$3" "$4" "$5")
  python3 -c "print('%-44s ours %12.3f  nginx %12.3f %s  (ratio %.2f)' % ('$1', $ours, $peer, '$6', $ours / $peer))"
}
report "${SIZE_MB} MiB asset, 1 client" "Transfer rate:" big 1 20 "KB/s"
report "${SIZE_MB} MiB asset, 32 clients" "Transfer rate:" big 32 128 "KB/s"
report "checksum file, 1 client" "Requests per second:" small 1 5000 "req/s"
report "checksum file, 32 clients" "Requests per second:" small 32 20000 "req/s"
report "checksum file, 1 client, mean latency" "Time per request:" small 1 5000 "ms"
