#!/usr/bin/env bash
# The real /usr/bin/kubectl against `k3s server`: discovery, tables, create/apply/get/label/
# patch/delete, selectors, chunked lists, upstream's error messages, the seed objects; strategic
# merge through apply, patch, edit, set image, rollout restart and cordon; and
# durability: kill -9 the server 20 times during a write loop, every acknowledged write is there
# afterwards and SQLite's integrity_check passes.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
K3S="$BIN/k3s"
D=$WORK/data
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml

start_server() {
  "$K3S" server -d "$D" --disable-agent --bind-address 127.0.0.1 --https-listen-port "$PORT" -o "$KUBECONFIG" \
    >> "$WORK/server.log" 2>&1 &
  SERVER=$!
  CLEANUP=("kill -9 $SERVER 2>/dev/null; wait $SERVER 2>/dev/null" "${CLEANUP[@]}")
  for _ in $(seq 200); do
    curl -sk "https://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "k3s server exited"; }
    sleep 0.05
  done
  fail "k3s server did not become ready"
}
k() { kubectl --cache-dir "$WORK/kcache" "$@"; }

start_server

# Seed objects and tables.
expect_ok k get ns
for ns in default kube-system kube-public kube-node-lease; do
  grep -Eq "^$ns +Active +[0-9]+s$" "$WORK/last.out" || fail "namespace $ns: $(cat "$WORK/last.out")"
done
head -1 "$WORK/last.out" | grep -Eq '^NAME +STATUS +AGE$' || fail "namespace columns"
expect_ok k get svc kubernetes -o jsonpath='{.spec.clusterIP}'
[ "$(cat "$WORK/last.out")" = 10.43.0.1 ] || fail "kubernetes service IP: $(cat "$WORK/last.out")"
expect_ok k get ns default -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name}'
[ "$(cat "$WORK/last.out")" = default ] || fail "namespace label"

# Discovery.
expect_ok k api-resources
grep -Eq '^deployments +deploy +apps/v1 +true +Deployment$' "$WORK/last.out" || fail "api-resources: deployments"
grep -Eq '^customresourcedefinitions +crd,crds +apiextensions.k8s.io/v1 +false' "$WORK/last.out" \
  || fail "api-resources: crds"

# Create, read back, defaults.
cat > "$WORK/objs.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: web, labels: {app: web}}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: s1}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: busybox}]}
YAML
expect_ok k create -f "$WORK/objs.yaml"
grep -q "deployment.apps/web created" "$WORK/last.out" || fail "create: $(cat "$WORK/last.out")"
expect_fail 'Error from server (AlreadyExists): error when creating' k create -f "$WORK/objs.yaml"
grep -q 'configmaps "web" already exists' "$WORK/last.out" || fail "already-exists message: $(cat "$WORK/last.out")"
expect_ok k get secret s1 -o jsonpath='{.data.password}'
[ "$(cat "$WORK/last.out")" = "$(printf hunter2 | base64)" ] || fail "stringData not folded"
expect_ok k get deploy web -o json
python3 - "$WORK/last.out" <<'PY' || fail "deployment metadata: $(cat "$WORK/last.out")"
import json, re, sys
o = json.load(open(sys.argv[1]))
m = o["metadata"]
assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", m["uid"]), m
assert m["generation"] == 1 and int(m["resourceVersion"]) > 0 and m["creationTimestamp"].endswith("Z"), m
assert o["apiVersion"] == "apps/v1" and o["kind"] == "Deployment"
PY

# Upstream's columns.
expect_ok k get svc kubernetes
head -1 "$WORK/last.out" | grep -Eq '^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE$' || fail "service columns: $(cat "$WORK/last.out")"
grep -Eq '^kubernetes +ClusterIP +10\.43\.0\.1 +<none> +443/TCP +' "$WORK/last.out" || fail "service row: $(cat "$WORK/last.out")"
expect_ok k get deploy web
grep -Eq '^web +0/1 +[01] +0 +[0-9]+s$' "$WORK/last.out" || fail "deployment row: $(cat "$WORK/last.out")"
expect_ok k get secret s1
grep -Eq '^s1 +Opaque +1 +[0-9]+s$' "$WORK/last.out" || fail "secret row: $(cat "$WORK/last.out")"
expect_ok k get cm web
grep -Eq '^web +1 +[0-9]+s$' "$WORK/last.out" || fail "configmap row: $(cat "$WORK/last.out")"

# Label, selectors, patches; generation moves only with the spec.
expect_ok k label cm web tier=front
expect_ok k get cm -l 'tier in (front,back),app=web' -o name
[ "$(cat "$WORK/last.out")" = configmap/web ] || fail "label selector: $(cat "$WORK/last.out")"
expect_ok k get cm -l 'app=web,tier!=front' -o name
[ -z "$(cat "$WORK/last.out")" ] || fail "negative selector: $(cat "$WORK/last.out")"
expect_ok k get cm --field-selector metadata.name=web -o name
[ "$(cat "$WORK/last.out")" = configmap/web ] || fail "field selector"
expect_ok k patch cm web --type merge -p '{"data":{"b":"2"}}'
expect_ok k patch cm web --type json -p '[{"op":"add","path":"/data/c","value":"3"}]'
expect_ok k get cm web -o jsonpath='{.data.a}{.data.b}{.data.c}'
[ "$(cat "$WORK/last.out")" = 123 ] || fail "patches: $(cat "$WORK/last.out")"
expect_ok k patch deploy web --type merge -p '{"metadata":{"labels":{"x":"y"}}}'
expect_ok k get deploy web -o jsonpath='{.metadata.generation}'
[ "$(cat "$WORK/last.out")" = 1 ] || fail "generation moved on a metadata change"
expect_ok k patch deploy web --type merge -p '{"spec":{"replicas":3}}'
expect_ok k get deploy web -o jsonpath='{.metadata.generation}'
[ "$(cat "$WORK/last.out")" = 2 ] || fail "generation did not move on a spec change"

# A stale resourceVersion is a conflict, with upstream's message.
TLS=$D/server/tls
CURL=(curl -s --cacert "$TLS/server-ca.crt" --cert "$TLS/client-admin.crt" --key "$TLS/client-admin.key")
U=https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps
code=$("${CURL[@]}" -o "$WORK/body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
  -d '{"metadata":{"name":"web","resourceVersion":"1"},"data":{}}' "$U/web")
[ "$code" = 409 ] || fail "stale PUT: $code"
grep -q 'Operation cannot be fulfilled on configmaps \\"web\\": the object has been modified' "$WORK/body" \
  || fail "conflict message: $(cat "$WORK/body")"

# Chunked lists follow continue tokens to the end.
for i in 1 2 3 4 5; do expect_ok k create configmap "c$i" --dry-run=client -o yaml; k create -f "$WORK/last.out" > /dev/null; done
expect_ok k get cm --chunk-size=2 -o name  # web, c1-c5 and kube-root-ca.crt
[ "$(grep -c '^configmap/' "$WORK/last.out")" = 7 ] || fail "chunked list: $(cat "$WORK/last.out")"
"${CURL[@]}" "$U?limit=2" > "$WORK/page"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert len(p["items"])==2 and p["metadata"]["continue"], p' \
  "$WORK/page" || fail "first page"

# Errors as upstream prints them; delete waits and returns.
expect_fail 'Error from server (NotFound): configmaps "nope" not found' k get cm nope
expect_fail 'Error from server (NotFound): deployments.apps "nope" not found' k get deploy nope
expect_fail 'namespaces "elsewhere" not found' k -n elsewhere create -f "$WORK/objs.yaml"
expect_ok k delete -f "$WORK/objs.yaml"
grep -q 'deployment.apps "web" deleted' "$WORK/last.out" || fail "delete: $(cat "$WORK/last.out")"
expect_fail 'not found' k get deploy web
expect_ok k apply -f "$WORK/objs.yaml"
grep -q "configmap/web created" "$WORK/last.out" || fail "apply: $(cat "$WORK/last.out")"

# A watch sees the existing objects, then later changes, as they happen.
k get cm -w > "$WORK/watch.out" 2>&1 &
watcher=$!
CLEANUP=("kill $watcher 2>/dev/null" "${CLEANUP[@]}")
wait_until() { for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done; return 1; }
wait_until grep -q '^web ' "$WORK/watch.out" || fail "watch: no initial list: $(cat "$WORK/watch.out")"
expect_ok k create configmap later --from-literal=x=1
wait_until grep -q '^later ' "$WORK/watch.out" || fail "watch did not see a later create: $(cat "$WORK/watch.out")"
expect_ok k delete cm later
wait_until test "$(grep -c '^later ' "$WORK/watch.out")" -ge 2 || fail "watch did not see the delete"
kill "$watcher"
"${CURL[@]}" -m 2 "$U?watch=true&resourceVersion=0&fieldSelector=metadata.name%3Dweb" > "$WORK/w.json" || true
python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [e["type"] for e in events] == ["ADDED"] and events[0]["object"]["metadata"]["name"] == "web", events
' "$WORK/w.json" || fail "watch with a field selector: $(cat "$WORK/w.json")"

# --- strategic merge: apply (configured, unchanged), patch, edit, set image, rollout restart,
# cordon; the scale subresource; server-side apply; protobuf bodies from kubectl's generators;
# CRDs and custom resources; RBAC and `kubectl auth can-i` for a user with a certificate; service
# account tokens
cat > "$WORK/web.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: smp, labels: {app: smp, tier: front}}
spec:
  replicas: 1
  selector: {matchLabels: {app: smp}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
  template:
    metadata: {labels: {app: smp}}
    spec:
      containers:
      - name: a
        image: busybox:1
        env: [{name: X, value: "1"}, {name: Y, value: "2"}]
        ports: [{containerPort: 80}, {containerPort: 81}]
      - {name: b, image: busybox:1}
YAML
expect_ok k apply -f "$WORK/web.yaml"
grep -q "deployment.apps/smp created" "$WORK/last.out" || fail "apply create: $(cat "$WORK/last.out")"
python3 - "$WORK/web.yaml" <<'PY'
import sys
p = sys.argv[1]; t = open(p).read()
t = t.replace(", tier: front", "").replace("{type: RollingUpdate, rollingUpdate: {maxSurge: 1}}", "{type: Recreate}")
t = t.replace(', {name: Y, value: "2"}', "").replace(", {containerPort: 81}", "").replace("      - {name: b, image: busybox:1}\n", "")
open(p, "w").write(t)
PY
expect_ok k apply -f "$WORK/web.yaml"
grep -q "deployment.apps/smp configured" "$WORK/last.out" || fail "apply update: $(cat "$WORK/last.out")"
expect_ok k get deploy smp -o json
python3 - "$WORK/last.out" <<'PY' || fail "three-way apply result: $(cat "$WORK/last.out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["metadata"]["labels"] == {"app": "smp"}, o["metadata"]
assert o["spec"]["strategy"] == {"type": "Recreate"}, o["spec"]["strategy"]
cs = o["spec"]["template"]["spec"]["containers"]
assert [c["name"] for c in cs] == ["a"], cs
assert cs[0]["env"] == [{"name": "X", "value": "1"}] and cs[0]["ports"] == [{"containerPort": 80}], cs
assert o["metadata"]["generation"] == 2, o["metadata"]
PY
expect_ok k apply -f "$WORK/web.yaml"
grep -q "deployment.apps/smp unchanged" "$WORK/last.out" || fail "apply again: $(cat "$WORK/last.out")"
expect_ok k patch deploy smp -p '{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"busybox:2"}]}}}}'
grep -q "deployment.apps/smp patched" "$WORK/last.out" || fail "strategic patch: $(cat "$WORK/last.out")"
# The deployment controller writes status and annotations meanwhile, so the spec's generation
# is what a no-op patch must leave alone.
gen=$(k get deploy smp -o jsonpath='{.metadata.generation}')
expect_ok k patch deploy smp -p '{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"busybox:2"}]}}}}'
grep -q "deployment.apps/smp patched (no change)" "$WORK/last.out" || fail "no-op patch: $(cat "$WORK/last.out")"
[ "$(k get deploy smp -o jsonpath='{.metadata.generation}')" = "$gen" ] || fail "no-op patch moved the generation"
expect_ok k set image deploy/smp a=busybox:3
grep -q "deployment.apps/smp image updated" "$WORK/last.out" || fail "set image: $(cat "$WORK/last.out")"
expect_ok k rollout restart deploy/smp
grep -q "deployment.apps/smp restarted" "$WORK/last.out" || fail "rollout restart: $(cat "$WORK/last.out")"
printf '#!/bin/sh\nsed -i "s/replicas: 1/replicas: 4/" "$1"\n' > "$WORK/editor.sh"; chmod +x "$WORK/editor.sh"
expect_ok env EDITOR="$WORK/editor.sh" kubectl --cache-dir "$WORK/kcache" edit deploy smp
grep -q "deployment.apps/smp edited" "$WORK/last.out" || fail "edit: $(cat "$WORK/last.out")"
expect_ok k get deploy smp -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}'
[[ "$(cat "$WORK/last.out")" == "4 busybox:3 20"* ]] || fail "after set image, restart, edit: $(cat "$WORK/last.out")"
expect_ok k scale deploy smp --replicas=2
grep -q "deployment.apps/smp scaled" "$WORK/last.out" || fail "scale: $(cat "$WORK/last.out")"
expect_ok k scale deploy smp --current-replicas=2 --replicas=3
[ "$(k get deploy smp -o jsonpath='{.spec.replicas}')" = 3 ] || fail "scale --current-replicas did not write"
expect_fail "Expected replicas to be 9, was 3" k scale deploy smp --current-replicas=9 --replicas=1
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n' | k apply -f - > /dev/null || fail "apply node"
expect_ok k cordon n1
grep -q "node/n1 cordoned" "$WORK/last.out" || fail "cordon: $(cat "$WORK/last.out")"
[ "$(k get node n1 -o jsonpath='{.spec.unschedulable}')" = true ] || fail "cordon did not set unschedulable"
expect_ok k uncordon n1
[ -z "$(k get node n1 -o jsonpath='{.spec.unschedulable}')" ] || fail "uncordon left unschedulable"

# --- field validation: kubectl sends fieldValidation=Strict --------------------------------------
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: typo}\nspec: {replicass: 1, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: x}]}}}\n' > "$WORK/typo.yaml"
expect_fail 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicass"' \
  k apply -f "$WORK/typo.yaml"
expect_ok k apply --validate=false -f "$WORK/typo.yaml"

# --- server-side apply: two managers, a conflict, --force-conflicts ------------------------------
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: "1", b: "1"}\n' > "$WORK/ssa.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: "2"}\n' > "$WORK/ssa-other.yaml"
expect_ok k apply --server-side -f "$WORK/ssa.yaml"
grep -q "configmap/ssa serverside-applied" "$WORK/last.out" || fail "apply --server-side: $(cat "$WORK/last.out")"
expect_ok k apply --server-side -f "$WORK/ssa.yaml"
grep -q "configmap/ssa serverside-applied" "$WORK/last.out" || fail "apply --server-side again: $(cat "$WORK/last.out")"
expect_fail 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a' \
  k apply --server-side --field-manager=other -f "$WORK/ssa-other.yaml"
grep -q -- "--force-conflicts" "$WORK/last.out" || fail "kubectl's conflict advice: $(cat "$WORK/last.out")"
expect_ok k apply --server-side --field-manager=other --force-conflicts -f "$WORK/ssa-other.yaml"
expect_ok k get cm ssa -o jsonpath='{.data.a}{.data.b} {.metadata.managedFields[*].manager}'
[ "$(cat "$WORK/last.out")" = "21 kubectl other" ] || fail "after --force-conflicts: $(cat "$WORK/last.out")"
# From client-side to server-side apply: kubectl migrates the ownership with a JSON patch.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: csa}\ndata: {a: "1"}\n' > "$WORK/csa.yaml"
expect_ok k apply -f "$WORK/csa.yaml"
expect_ok k apply --server-side -f "$WORK/csa.yaml"
grep -q "configmap/csa serverside-applied" "$WORK/last.out" || fail "migration to server-side: $(cat "$WORK/last.out")"
expect_ok k get cm csa -o jsonpath='{.metadata.managedFields[*].manager}'
[ "$(cat "$WORK/last.out")" = "kubectl-last-applied kubectl" ] || fail "managers after migration: $(cat "$WORK/last.out")"

# --- CRDs: established at once, custom resources with printer columns, gone with the CRD ---------
cat > "$WORK/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
YAML
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n' > "$WORK/cr.yaml"
expect_ok k apply -f "$WORK/crd.yaml"
expect_ok k wait --for condition=established --timeout=10s crd/widgets.example.com
expect_ok k apply -f "$WORK/cr.yaml"
grep -q "widget.example.com/w1 created" "$WORK/last.out" || fail "CR create: $(cat "$WORK/last.out")"
sed -i 's/size: 3/size: 4/' "$WORK/cr.yaml"
expect_ok k apply -f "$WORK/cr.yaml"
grep -q "widget.example.com/w1 configured" "$WORK/last.out" || fail "CR apply (merge patch): $(cat "$WORK/last.out")"
expect_ok k get wd
head -1 "$WORK/last.out" | grep -Eq '^NAME +SIZE +AGE$' || fail "printer columns: $(cat "$WORK/last.out")"
grep -Eq '^w1 +4 +[0-9]+s$' "$WORK/last.out" || fail "printer column values: $(cat "$WORK/last.out")"
expect_fail 'application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget' \
  k patch widget w1 -p '{"spec":{"size":5}}'
expect_ok k delete crd widgets.example.com
expect_ok k apply -f "$WORK/crd.yaml"
expect_ok k wait --for condition=established --timeout=10s crd/widgets.example.com
expect_ok k get widgets -o name
[ -z "$(cat "$WORK/last.out")" ] || fail "custom resources outlived their CRD: $(cat "$WORK/last.out")"

# --- RBAC: a user whose certificate this test issues from the cluster's client CA ---------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=devs/CN=alice" \
  -keyout "$WORK/alice.key" -out "$WORK/alice.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$WORK/client.ext"
openssl x509 -req -in "$WORK/alice.csr" -CA "$TLS/client-ca.crt" -CAkey "$TLS/client-ca.key" -CAcreateserial \
  -days 1 -extfile "$WORK/client.ext" -out "$WORK/alice.crt" 2>/dev/null || fail "issue alice's certificate"
cp "$KUBECONFIG" "$WORK/alice.yaml"
kubectl --kubeconfig "$WORK/alice.yaml" config set-credentials default --embed-certs \
  --client-certificate="$WORK/alice.crt" --client-key="$WORK/alice.key" > /dev/null
A() { kubectl --kubeconfig "$WORK/alice.yaml" --cache-dir "$WORK/kcache-alice" "$@"; }
can() { A auth can-i "$@" 2>&1 || true; }
# kubectl's generators send protobuf bodies.
expect_ok k create namespace team
grep -q "namespace/team created" "$WORK/last.out" || fail "create namespace: $(cat "$WORK/last.out")"
expect_ok k create configmap gen -n team --from-literal=a=1
expect_ok k create secret generic gen -n team --from-literal=password=hunter2
expect_ok k create serviceaccount gen -n team
expect_ok k get cm,secret,sa gen -n team -o jsonpath='{range .items[*]}{.kind}:{.data}{" "}{end}'
[ "$(cat "$WORK/last.out")" = 'ConfigMap:{"a":"1"} Secret:{"password":"aHVudGVyMg=="} ServiceAccount: ' ] \
  || fail "objects created from protobuf: $(cat "$WORK/last.out")"
expect_ok k create deployment gen -n team --image=busybox --replicas=2 --port=8080 -- sleep 100
expect_ok k create job gen -n team --image=busybox -- echo hi
expect_ok k create cronjob gen -n team --image=busybox --schedule='*/5 * * * *'
expect_ok k create service nodeport gen -n team --tcp=81:http
expect_ok k create ingress gen -n team --rule='a.example/x=gen:81'
expect_ok k create role gen -n team --verb=get --resource=pods
expect_ok k create rolebinding gen -n team --role=gen --user=nobody
expect_ok k run gen -n team --image=busybox --env=A=1 -- sleep 1
expect_ok k get deploy gen -n team -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].command} {.spec.template.spec.containers[0].ports[0].containerPort}'
[ "$(cat "$WORK/last.out")" = '2 ["sleep","100"] 8080' ] || fail "deployment from protobuf: $(cat "$WORK/last.out")"
expect_ok k get svc gen -n team -o jsonpath='{.spec.ports[0].targetPort}'
[ "$(cat "$WORK/last.out")" = http ] || fail "IntOrString from protobuf: $(cat "$WORK/last.out")"
expect_ok k get ing gen -n team -o jsonpath='{.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.port.number}'
[ "$(cat "$WORK/last.out")" = 'a.example 81' ] || fail "ingress from protobuf (inline rule value): $(cat "$WORK/last.out")"
expect_ok k get cj gen -n team -o jsonpath='{.spec.schedule} {.spec.jobTemplate.spec.template.spec.restartPolicy}'
[ "$(cat "$WORK/last.out")" = '*/5 * * * * OnFailure' ] || fail "cronjob from protobuf: $(cat "$WORK/last.out")"
expect_ok k get pod gen -n team -o jsonpath='{.spec.containers[0].env[0].name}={.spec.containers[0].env[0].value}'
[ "$(cat "$WORK/last.out")" = A=1 ] || fail "pod from protobuf: $(cat "$WORK/last.out")"
expect_ok k create priorityclass gen --value=10 --description="made by kubectl"
expect_ok k create quota gen -n team --hard=pods=50,requests.cpu=4
expect_ok k create poddisruptionbudget gen -n team --selector=app=gen --min-available=50%
expect_ok k create clusterrole gen --verb=get --resource=nodes
expect_ok k create clusterrolebinding gen --clusterrole=gen --group=devs
expect_ok k create service externalname gen-ext -n team --external-name=db.example
expect_ok k get pc gen -o jsonpath='{.value} {.description}'
[ "$(cat "$WORK/last.out")" = "10 made by kubectl" ] || fail "priorityclass from protobuf: $(cat "$WORK/last.out")"
expect_ok k get pdb gen -n team -o jsonpath='{.spec.minAvailable} {.spec.selector.matchLabels.app}'
[ "$(cat "$WORK/last.out")" = "50% gen" ] || fail "pdb from protobuf: $(cat "$WORK/last.out")"
expect_ok k get quota gen -n team -o jsonpath='{.spec.hard.pods} {.spec.hard.requests\.cpu}'
[ "$(cat "$WORK/last.out")" = "50 4" ] || fail "quota from protobuf: $(cat "$WORK/last.out")"
[ "$(can list pods -n team)" = no ] || fail "alice can list pods before any binding"
expect_fail 'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team"' \
  A get pods -n team
k apply -f - > /dev/null <<'YAML' || fail "apply Role and RoleBinding"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: team}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
YAML
[ "$(can list pods -n team)" = yes ] || fail "RoleBinding not honoured"
[ "$(can delete pods -n team)" = no ] || fail "RoleBinding grants too much"
[ "$(can list pods -n default)" = no ] || fail "RoleBinding leaks out of its namespace"
expect_ok A get pods -n team
grep -Eq "^gen +0/1 +Pending" "$WORK/last.out" || fail "alice get pods: $(cat "$WORK/last.out")"
k apply -f - > /dev/null <<'YAML' || fail "apply ClusterRoleBinding"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-edit}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
YAML
[ "$(can create deployments.apps -n default)" = yes ] || fail "edit through the group: create deployments"
[ "$(can get secrets -n kube-system)" = yes ] || fail "edit through the group: get secrets"
[ "$(can create roles -n default)" = no ] || fail "edit must not grant roles (admin does)"
expect_ok A get deploy -A

# --- service account tokens: kubectl create token, the token used, auth whoami -----------------
expect_ok k create serviceaccount bot -n team
expect_ok k create token bot -n team --duration=1h
SA_TOKEN=$(cat "$WORK/last.out")
expect_ok k create rolebinding bot-view -n team --clusterrole=view --serviceaccount=team:bot
B() { kubectl --kubeconfig /dev/null --server "https://127.0.0.1:$PORT" --certificate-authority "$TLS/server-ca.crt" \
  --token "$SA_TOKEN" --cache-dir "$WORK/kcache-bot" "$@"; }
expect_ok B get pods -n team -o name
expect_fail 'User "system:serviceaccount:team:bot" cannot list resource "secrets"' B get secrets -n team
expect_ok B auth whoami -o jsonpath='{.status.userInfo.username}'
[ "$(cat "$WORK/last.out")" = system:serviceaccount:team:bot ] || fail "auth whoami: $(cat "$WORK/last.out")"
expect_fail 'may not specify a duration less than 10 minutes' k create token bot -n team --duration=1m

# --- durability: kill -9 during a write loop, 20 times ------------------------------------------
acked=$WORK/acked
: > "$acked"
for round in $(seq 20); do
  (
    i=0
    while :; do
      i=$((i + 1)); name="w-$round-$i"
      code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "{\"metadata\":{\"name\":\"$name\"},\"data\":{\"i\":\"$i\"}}" "$U" 2>/dev/null) || break
      [ "$code" = 201 ] && echo "$name" >> "$acked"
    done
  ) &
  writer=$!
  sleep "0.$((RANDOM % 3 + 1))"
  kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true
  wait "$writer" 2>/dev/null || true
  start_server
done
total=$(wc -l < "$acked")
[ "$total" -gt 20 ] || fail "only $total writes were acknowledged"
"${CURL[@]}" "$U" > "$WORK/all"
python3 - "$WORK/all" "$acked" <<'PY' || fail "acknowledged writes lost"
import json, sys
have = {i["metadata"]["name"] for i in json.load(open(sys.argv[1]))["items"]}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
missing = [a for a in acked if a not in have]
assert not missing, "missing after kill -9: %s" % missing[:10]
print("durability: %d acknowledged writes over 20 kills, none lost" % len(acked))
PY
kill -TERM "$SERVER"; wait "$SERVER" || true
[ "$(sqlite3 "$D/server/db/state.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
echo "k3s_kubectl: ok"
