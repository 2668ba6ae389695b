#!/usr/bin/env bash
# The installer over real bundles, into temporary roots: `tar -xf B && ./install.sh` with the
# upstream interface, systemd-analyze on the unit, --supervise starting (and not restarting) a
# stand-in k3s, upgrade and --rollback, a concurrent installer held off by the lock, the bundle
# opened exactly once, and uninstall.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/install_lib.sh"

make_bundles "$WORK"
R=$WORK/root
mkdir -p "$R/etc/rancher/k3s/airgap/trust"
cp "$WORK/keys/bundle.pub" "$R/etc/rancher/k3s/airgap/trust/site.pub"

# --- tar -xf site.tar.zst && ./install.sh: upstream's interface, keys from the trust dir -----
mkdir "$WORK/x" && tar -I zstd -xf "$WORK/v1.tar.zst" -C "$WORK/x"
expect_ok env INSTALL_K3S_ROOT="$R" K3S_TOKEN=secret INSTALL_K3S_EXEC="server --disable=traefik" \
  sh "$WORK/x/install.sh" --node-name n1
grep -q '^\[INFO\]  systemd: Creating service file /etc/systemd/system/k3s.service' "$WORK/last.out" \
  || fail "install.sh output: $(cat "$WORK/last.out")"
[ "$(readlink "$R/usr/local/bin/k3s")" = /var/lib/rancher/k3s/airgap/current/bin/k3s ] || fail "k3s link"
[ "$(target_read "$R" /usr/local/bin/k3s | head -1)" = '#!/bin/sh' ] || fail "k3s content"
target_read "$R" /usr/local/bin/k3s | grep -q 'stand-in v1' || fail "k3s is not v1"
for l in kubectl crictl ctr; do [ "$(readlink "$R/usr/local/bin/$l")" = k3s ] || fail "$l link"; done
[ "$(stat -c %a "$R/etc/systemd/system/k3s.service.env")" = 600 ] || fail "env file mode"
grep -qx "K3S_TOKEN='secret'" "$R/etc/systemd/system/k3s.service.env" || fail "env file"
grep -q "^	'--disable=traefik' \\\\$" "$R/etc/systemd/system/k3s.service" || fail "ExecStart: EXEC"
grep -q "^	'--node-name' \\\\$" "$R/etc/systemd/system/k3s.service" || fail "ExecStart: args"
target_read "$R" /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar > "$WORK/img.tar"
tar -tf "$WORK/img.tar" > "$WORK/img.list"; grep -qx index.json "$WORK/img.list" || fail "image archive link"

# The unit passes systemd-analyze verify (with the host's unit library inside the root), and a
# unit whose binary is missing does not: the check can fail.
mkdir -p "$R/usr/lib/systemd" && cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
expect_ok systemd-analyze verify --man=no --root="$R" /etc/systemd/system/k3s.service
mv "$R/usr/local/bin/k3s" "$R/usr/local/bin/k3s.away"
if systemd-analyze verify --man=no --root="$R" /etc/systemd/system/k3s.service >/dev/null 2>&1; then
  fail "systemd-analyze accepted a unit without its binary"
fi
mv "$R/usr/local/bin/k3s.away" "$R/usr/local/bin/k3s"

# --- the bundle file is opened once: the bytes verified are the bytes staged ---------------
R2=$WORK/root2
expect_ok strace -f -e trace=open,openat -o "$WORK/opens" \
  "$K3A" install "$WORK/v1.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2"
n=$(grep -c "\"$WORK/v1.tar.zst\"" "$WORK/opens")
[ "$n" = 1 ] || fail "the bundle was opened $n times"

# --- --supervise: starts the stand-in, restarts only on change, follows upgrade/rollback -----
expect_ok "$K3A" install "$WORK/v1.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2" --supervise
pidfile=$R2/var/run/k3s.pid
pid1=$(cat "$pidfile")
CLEANUP=("kill -9 -$pid1 2>/dev/null" "${CLEANUP[@]}")
wait_for "stand-in k3s running" grep -q 'stand-in v1 server' "$R2/var/log/k3s.log"
expect_ok "$K3A" install "$WORK/v1.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2" --supervise
grep -q 'No change detected so skipping service start' "$WORK/last.out" || fail "restarted without change"
[ "$(cat "$pidfile")" = "$pid1" ] && kill -0 "$pid1" || fail "the running k3s was replaced"
expect_ok "$K3A" install "$WORK/v2.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2" --supervise -o json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["staged"] and r["changed"] and r["started"], r' \
  <(sed -n '/^{/,/^}/p' "$WORK/last.out") || fail "upgrade result: $(cat "$WORK/last.out")"
pid2=$(cat "$pidfile")
CLEANUP=("kill -9 -$pid2 2>/dev/null" "${CLEANUP[@]}")
[ "$pid2" != "$pid1" ] || fail "upgrade did not restart k3s"
wait_for "old k3s stopped" sh -c "! kill -0 $pid1 2>/dev/null"
wait_for "stand-in v2 running" grep -q 'stand-in v2 server' "$R2/var/log/k3s.log"
expect_ok "$K3A" install --rollback --root "$R2" --supervise
pid3=$(cat "$pidfile")
CLEANUP=("kill -9 -$pid3 2>/dev/null" "${CLEANUP[@]}")
[ "$(target_read "$R2" /usr/local/bin/k3s | grep -c 'stand-in v1')" = 1 ] || fail "rollback: k3s is not v1"
wait_for "stand-in v1 back" sh -c "tail -1 '$R2/var/log/k3s.log' | grep -q 'stand-in v1 server'"

# An upgrade whose k3s exits before it is ready is switched back automatically.
make_bundle "$WORK" 3 "$(printf '#!/bin/sh\necho "broken v3"\nexit 1\n')"
expect_fail "k3s exited before it was ready.*rolled back to sequence 1" \
  "$K3A" install "$WORK/v3.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2" --supervise
pid4=$(cat "$pidfile")
CLEANUP=("kill -9 -$pid4 2>/dev/null" "${CLEANUP[@]}")
target_read "$R2" /usr/local/bin/k3s | grep -q 'stand-in v1' || fail "not switched back to v1"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["current"]["sequence"] == 1, s' \
  "$R2/var/lib/rancher/k3s/airgap/state.json" || fail "state.json after the automatic rollback"
kill -0 "$pid4" || fail "v1 is not running again after the automatic rollback"
wait_for "stand-in v1 running again" sh -c "tail -1 '$R2/var/log/k3s.log' | grep -q 'stand-in v1 server'"
kill -TERM -"$pid4"

# --- a concurrent installer fails fast on the lock --------------------------------------------
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2], "w"); time.sleep(30)' \
  "$R2/var/lib/rancher/k3s/airgap/.lock" "$WORK/held" > /dev/null 2>&1 &
holder=$!
CLEANUP=("kill $holder 2>/dev/null" "${CLEANUP[@]}")
wait_for "lock held" test -e "$WORK/held"
expect_fail "another installer is running" \
  "$K3A" install "$WORK/v2.tar.zst" --trust "$WORK/keys/bundle.pub" --root "$R2"
kill "$holder"

# --- uninstall removes what install placed --------------------------------------------------
expect_ok "$K3A" uninstall --root "$R"
for p in /usr/local/bin/k3s /usr/local/bin/kubectl /usr/local/bin/k3s-killall.sh \
  /usr/local/bin/k3s-uninstall.sh /etc/systemd/system/k3s.service /var/lib/rancher/k3s; do
  [ ! -e "$R$p" ] && [ ! -L "$R$p" ] || fail "uninstall left $p"
done
echo "install_flow: ok"
