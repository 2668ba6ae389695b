#!/usr/bin/env bash
# `k3s server` as users start it: flags, K3S_* variables and config.yaml; certificates, tokens
# and kubeconfig as upstream lays them out; the HTTPS front checked with curl, openssl and the
# real kubectl: anonymous access only to health/version/cacerts/ping, client certificates from
# our CA and the server token accepted, a foreign certificate, a wrong token and TLS < 1.2
# refused; READY=1 through NOTIFY_SOCKET; restart keeps the identity; clear errors for bad input;
# `k3s token` bootstrap tokens and their authentication; `k3s certificate check|rotate` and the
# renewal of a leaf near expiry at start.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
K3S="$BIN/k3s"
D=$WORK/data
PORT=$(free_port)

start_server() {  # args...: starts k3s server in the background, waits for READY=1
  local name="k3a-e2e-$$-$RANDOM"
  rm -f "$WORK/notify" "$WORK/listening"
  python3 - "$name" "$WORK/notify" "$WORK/listening" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("\0" + sys.argv[1])
open(sys.argv[3], "w").close()
s.settimeout(20)
open(sys.argv[2], "wb").write(s.recv(100))
PY
  local listener=$!
  for _ in $(seq 200); do [ -e "$WORK/listening" ] && break; sleep 0.05; done
  NOTIFY_SOCKET="@$name" "$K3S" server --disable-agent "$@" > "$WORK/server.log" 2>&1 &
  SERVER=$!
  CLEANUP=("kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null" "${CLEANUP[@]}")
  wait "$listener" || { cat "$WORK/server.log" >&2; fail "no READY=1 from k3s server"; }
  [ "$(cat "$WORK/notify")" = "READY=1" ] || fail "notify message: $(cat "$WORK/notify")"
}

# --- bad input is refused with one clear line ----------------------------------------------------
expect_fail "The following argument was not expected: --bogus" "$K3S" server --bogus
expect_fail "invalid CIDR 10.42.0.0/99" "$K3S" server -d "$D" --cluster-cidr 10.42.0.0/99
expect_fail "flannel-backend=wireguard-native is not supported" "$K3S" server -d "$D" --flannel-backend wireguard-native
expect_fail "invalid flannel backend: bogus" "$K3S" server -d "$D" --flannel-backend bogus
expect_fail "postgres backend is not supported yet" \
  "$K3S" server -d "$D" --datastore-endpoint postgres://u:p@127.0.0.1/k3s
expect_ok "$K3S" --version
grep -q "^k3s version v1.32" "$WORK/last.out" || fail "version: $(cat "$WORK/last.out")"

# --- first start: config.yaml sets the port, K3S_TOKEN the token -----------------------------------
mkdir -p "$WORK/etc"
cat > "$WORK/etc/config.yaml" <<YAML
https-listen-port: $PORT
bind-address: 127.0.0.1
tls-san: [k3s.example]
write-kubeconfig-mode: "0644"
YAML
K3S_TOKEN=sekret start_server -c "$WORK/etc/config.yaml" -d "$D" -o "$WORK/k3s.yaml"
grep -q 'level=info msg="Starting k3s v1.32' "$WORK/server.log" || fail "log format: $(head -2 "$WORK/server.log")"
URL=https://127.0.0.1:$PORT
TLS=$D/server/tls

# Tokens and files where upstream puts them.
hash=$(sha256sum "$TLS/server-ca.crt" | cut -d' ' -f1)
[ "$(cat "$D/server/token")" = "K10$hash::server:sekret" ] || fail "token: $(cat "$D/server/token")"
[ "$(readlink "$D/server/node-token")" = token ] || fail "node-token link"
[ "$(stat -c %a "$D/server/token")" = 600 ] || fail "token mode"
[ "$(stat -c %a "$TLS/client-admin.key")" = 600 ] || fail "key mode"
[ "$(stat -c %a "$WORK/k3s.yaml")" = 644 ] || fail "kubeconfig mode (--write-kubeconfig-mode)"
openssl x509 -noout -ext subjectAltName -in "$TLS/serving-kube-apiserver.crt" > "$WORK/san"
for n in DNS:kubernetes.default.svc.cluster.local DNS:k3s.example "IP Address:10.43.0.1" "IP Address:127.0.0.1"; do
  grep -q "$n" "$WORK/san" || fail "serving certificate lacks $n: $(cat "$WORK/san")"
done
openssl verify -CAfile "$TLS/client-ca.crt" "$TLS/client-admin.crt" > /dev/null || fail "admin cert chain"
openssl x509 -noout -subject -in "$TLS/client-admin.crt" | grep -q "O = system:masters, CN = system:admin" \
  || fail "admin subject"

# Anonymous: only health, version, cacerts, ping.
for p in /healthz /livez /readyz /ping; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TLS/server-ca.crt" "$URL$p")
  [ "$code" = 200 ] || fail "anonymous $p: $code"
done
curl -s --cacert "$TLS/server-ca.crt" "$URL/cacerts" | cmp - "$TLS/server-ca.crt" || fail "/cacerts"
curl -s --cacert "$TLS/server-ca.crt" "$URL/version" > "$WORK/version"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["major"]=="1" and v["minor"]=="32", v' \
  "$WORK/version" || fail "/version: $(cat "$WORK/version")"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$TLS/server-ca.crt" "$URL/api/v1/secrets")
[ "$code" = 401 ] || fail "anonymous /api/v1/secrets: $code"
grep -q '"reason":"Unauthorized"' "$WORK/body" || fail "401 body: $(cat "$WORK/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --cacert "$TLS/server-ca.crt" "$URL/api/v1/namespaces")
[ "$code" = 401 ] || fail "anonymous POST: $code"

# Credentials: our admin certificate and the server token pass; a wrong token and a certificate
# from another CA do not.
ADMIN=(--cert "$TLS/client-admin.crt" --key "$TLS/client-admin.key" --cacert "$TLS/server-ca.crt")
code=$(curl -s -o /dev/null -w '%{http_code}' "${ADMIN[@]}" "$URL/api/v1/secrets")
[ "$code" != 401 ] || fail "admin certificate refused"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer sekret" --cacert "$TLS/server-ca.crt" "$URL/api/v1/secrets")
[ "$code" != 401 ] || fail "server token refused"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" --cacert "$TLS/server-ca.crt" "$URL/api/v1/secrets")
[ "$code" = 401 ] || fail "wrong token: $code"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/O=system:masters/CN=intruder" -keyout "$WORK/evil.key" -out "$WORK/evil.crt" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --cert "$WORK/evil.crt" --key "$WORK/evil.key" \
  --cacert "$TLS/server-ca.crt" "$URL/api/v1/secrets" || true)
[ "$code" = 401 ] || [ "$code" = 000 ] || fail "foreign certificate: $code"

# TLS policy: 1.0 and 1.1 and non-AEAD suites refused; 1.2 and 1.3 accepted.
for v in -tls1 -tls1_1; do
  # SECLEVEL=0 so that the refusal is the server's, not this client's own policy.
  if openssl s_client $v -cipher "DEFAULT:@SECLEVEL=0" -connect "127.0.0.1:$PORT" < /dev/null > /dev/null 2>&1; then
    fail "TLS $v accepted"
  fi
done
if openssl s_client -tls1_2 -cipher AES128-SHA -connect "127.0.0.1:$PORT" < /dev/null > /dev/null 2>&1; then
  fail "AES128-SHA accepted"
fi
for v in "--tlsv1.2 --tls-max 1.2" "--tlsv1.3"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' $v --cacert "$TLS/server-ca.crt" "$URL/healthz")
  [ "$code" = 200 ] || fail "TLS $v refused"
done

# The real kubectl: the server version it reports is ours.
expect_ok kubectl --kubeconfig "$WORK/k3s.yaml" version -o json
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["serverVersion"]["gitVersion"].startswith("v1.32."), v' \
  "$WORK/last.out" || fail "kubectl version: $(cat "$WORK/last.out")"

# --- SIGTERM stops cleanly; a restart keeps certificates and token ------------------------------------
kill -TERM "$SERVER"; wait "$SERVER" || fail "k3s server exited non-zero on SIGTERM"
grep -q "Received SIGTERM, shutting down" "$WORK/server.log" || fail "no shutdown line"
ca_before=$(sha256sum "$TLS/server-ca.crt"); leaf_before=$(sha256sum "$TLS/serving-kube-apiserver.crt")
expect_fail "does not match the token this server was created with" \
  "$K3S" server -c "$WORK/etc/config.yaml" -d "$D" -o "$WORK/k3s.yaml" --token other
start_server -c "$WORK/etc/config.yaml" -d "$D" -o "$WORK/k3s.yaml"
[ "$(sha256sum "$TLS/server-ca.crt")" = "$ca_before" ] || fail "CA changed on restart"
[ "$(sha256sum "$TLS/serving-kube-apiserver.crt")" = "$leaf_before" ] || fail "serving cert reissued without cause"
! grep -q "issued" "$WORK/server.log" || fail "certificates reissued on restart"
[ "$(cat "$D/server/token")" = "K10$hash::server:sekret" ] || fail "token changed on restart"

# --- bootstrap tokens: k3s token through the API; the API authenticates them -----------------------
export KUBECONFIG="$WORK/k3s.yaml"
bearer() {  # token path: prints the HTTP status of a GET with the bearer token
  curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $1" --cacert "$TLS/server-ca.crt" "$URL$2"
}
expect_ok "$K3S" token generate
grep -Eq '^[a-z0-9]{6}\.[a-z0-9]{16}$' "$WORK/last.out" || fail "token generate: $(cat "$WORK/last.out")"
expect_ok "$K3S" token create --description "edge boxes" --ttl 2h
created=$(cat "$WORK/last.out")
[[ "$created" == "K10$hash::"* ]] || fail "token create prints the secure form: $created"
bt=${created#*::}
expect_ok "$K3S" token create abcdef.0123456789abcdef --ttl 0 --groups system:bootstrappers:k3s:lab
expect_fail 'a token with id ..abcdef.. already exists' "$K3S" token create abcdef.0123456789abcdef
expect_fail 'must match system:bootstrappers' "$K3S" token create --groups admins
expect_fail 'is not a duration' "$K3S" token create --ttl soon
expect_fail 'does not match the pattern' "$K3S" token create ABCDEF.0123456789abcdef
expect_ok "$K3S" token list
grep -Eq '^TOKEN +TTL +EXPIRES +USAGES +DESCRIPTION +EXTRA GROUPS$' "$WORK/last.out" || fail "list header: $(cat "$WORK/last.out")"
grep -Eq "^${bt%%.*} +(2h|1h) +20[0-9-]+T[0-9:]+Z +signing,authentication +edge boxes +system:bootstrappers:k3s:default-node-token$" \
  "$WORK/last.out" || fail "token list: $(cat "$WORK/last.out")"
grep -Eq '^abcdef +<forever> +<never> +signing,authentication +<none> +system:bootstrappers:k3s:lab$' \
  "$WORK/last.out" || fail "token list (no expiry): $(cat "$WORK/last.out")"
expect_ok "$K3S" token list -o json
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert sorted(x["token"][:6] for x in t)==sorted([sys.argv[2],"abcdef"]), t' \
  "$WORK/last.out" "${bt%%.*}" || fail "token list -o json: $(cat "$WORK/last.out")"
[ "$(kubectl get secret -n kube-system bootstrap-token-abcdef -o jsonpath='{.type}')" = bootstrap.kubernetes.io/token ] \
  || fail "bootstrap token Secret type"
# Bootstrap tokens authenticate as system:bootstrap:<id> (no RBAC grants yet: 403, not 401), in
# both forms; a wrong secret, an expired token and one without the authentication usage do not.
[ "$(bearer "$bt" /api/v1/namespaces)" = 403 ] || fail "bootstrap token refused: $(cat "$WORK/body")"
grep -q "system:bootstrap:${bt%%.*}" "$WORK/body" || fail "bootstrap identity: $(cat "$WORK/body")"
[ "$(bearer "$created" /api/v1/namespaces)" = 403 ] || fail "secure-form bootstrap token refused"
[ "$(bearer abcdef.0123456789abcdee /api/v1/namespaces)" = 401 ] || fail "wrong bootstrap secret accepted"
kubectl apply -f - > /dev/null <<YAML || fail "apply bootstrap token Secrets"
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-expird, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData: {token-id: expird, token-secret: 0123456789abcdef, expiration: "2020-01-01T00:00:00Z", usage-bootstrap-authentication: "true"}
---
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-signed, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData: {token-id: signed, token-secret: 0123456789abcdef, usage-bootstrap-signing: "true"}
YAML
[ "$(bearer expird.0123456789abcdef /api/v1/namespaces)" = 401 ] || fail "expired bootstrap token accepted"
[ "$(bearer signed.0123456789abcdef /api/v1/namespaces)" = 401 ] || fail "signing-only bootstrap token accepted"
expect_ok "$K3S" token delete abcdef "$bt"
grep -q 'bootstrap token "abcdef" deleted' "$WORK/last.out" || fail "token delete: $(cat "$WORK/last.out")"
[ "$(bearer "$bt" /api/v1/namespaces)" = 401 ] || fail "deleted bootstrap token still accepted"
expect_fail 'failed to delete bootstrap token ..abcdef..: secrets ..bootstrap-token-abcdef.. not found' "$K3S" token delete abcdef
printf 'apiVersion: v1\nkind: Config\n' > "$WORK/empty.yaml"
expect_fail 'empty.yaml: no context' "$K3S" token list --kubeconfig "$WORK/empty.yaml"

# --- k3s kubectl: the kubectl beside k3s, else on PATH; argv[0] kubectl never runs itself ---------
expect_ok "$K3S" kubectl get ns kube-system -o name
[ "$(cat "$WORK/last.out")" = namespace/kube-system ] || fail "k3s kubectl: $(cat "$WORK/last.out")"
mkdir -p "$WORK/link" "$WORK/side"
ln -s "$K3S" "$WORK/link/kubectl"
expect_ok env PATH="$WORK/link:$PATH" "$WORK/link/kubectl" get ns default -o name
[ "$(cat "$WORK/last.out")" = namespace/default ] || fail "argv[0] kubectl: $(cat "$WORK/last.out")"
cp "$K3S" "$WORK/side/k3s"
printf '#!/bin/sh\necho "beside $KUBECONFIG $*"\n' > "$WORK/side/kubectl"; chmod +x "$WORK/side/kubectl"
expect_ok "$WORK/side/k3s" kubectl get pods
[ "$(cat "$WORK/last.out")" = "beside $KUBECONFIG get pods" ] || fail "kubectl beside k3s: $(cat "$WORK/last.out")"
kill -TERM "$SERVER"; wait "$SERVER"

# --- k3s certificate check and rotate (offline), renewal at start -----------------------------------
expect_ok "$K3S" certificate check -d "$D" -o table
grep -Eq '^client-admin.crt +system:admin +ClientAuth +[A-Z][a-z]{2} [0-9]{2}, 20[0-9]{2} [0-9:]{5} UTC +1 year +OK$' \
  "$WORK/last.out" || fail "certificate check table: $(cat "$WORK/last.out")"
grep -Eq '^server-ca.crt +k3s-server-ca@[0-9]+ +CertSign .* 10 years +OK$' "$WORK/last.out" \
  || fail "certificate check (CA): $(cat "$WORK/last.out")"
expect_ok "$K3S" certificate check -d "$D"
grep -q 'msg="serving-kube-apiserver.crt: certificate kube-apiserver is ok, expires at 20' "$WORK/last.out" \
  || fail "certificate check text: $(cat "$WORK/last.out")"
# A leaf 30 days from expiry (issued here by openssl from our CA) warns, and the next start renews it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=system:masters/CN=system:admin" \
  -keyout "$TLS/client-admin.key" -out "$WORK/admin.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$WORK/ext"
openssl x509 -req -in "$WORK/admin.csr" -CA "$TLS/client-ca.crt" -CAkey "$TLS/client-ca.key" -CAcreateserial \
  -days 30 -extfile "$WORK/ext" -out "$TLS/client-admin.crt" 2>/dev/null || fail "openssl could not sign with client-ca"
expect_ok "$K3S" certificate check -d "$D" -o json
python3 -c 'import json,sys; c=[x for x in json.load(open(sys.argv[1])) if x["subject"]=="system:admin"]; assert c and c[0]["status"]=="WARNING", c' \
  "$WORK/last.out" || fail "30-day certificate not flagged: $(cat "$WORK/last.out")"
expect_fail "is not a recognized service" "$K3S" certificate rotate -d "$D" -s bogus
expect_fail "no certificates found in $WORK/nothing/server/tls" "$K3S" certificate check -d "$WORK/nothing"
admin_key=$(sha256sum < "$TLS/client-admin.key"); serving=$(sha256sum < "$TLS/serving-kube-apiserver.crt")
expect_ok "$K3S" certificate rotate -d "$D" --service admin
backup=$(ls -d "$D"/server/tls-* | head -1)
[ "$(sha256sum < "$backup/client-admin.key")" = "$admin_key" ] || fail "rotate did not back up the admin key"
[ ! -e "$TLS/client-admin.crt" ] && [ ! -e "$TLS/client-admin.key" ] || fail "rotate left the admin certificate"
start_server -c "$WORK/etc/config.yaml" -d "$D" -o "$WORK/k3s.yaml"
grep -q "Certificate client-admin issued" "$WORK/server.log" || fail "admin certificate not reissued"
[ "$(sha256sum < "$TLS/client-admin.key")" != "$admin_key" ] || fail "rotated certificate kept its key"
[ "$(sha256sum < "$TLS/serving-kube-apiserver.crt")" = "$serving" ] || fail "rotate touched another service"
expect_ok kubectl get ns default   # the kubeconfig carries the new admin certificate
kill -TERM "$SERVER"; wait "$SERVER"
expect_ok "$K3S" certificate check -d "$D" -o json
python3 -c 'import json,sys; assert all(x["status"]=="OK" for x in json.load(open(sys.argv[1])))' "$WORK/last.out" \
  || fail "certificates not all OK after renewal: $(cat "$WORK/last.out")"
echo "k3s_server: ok"
