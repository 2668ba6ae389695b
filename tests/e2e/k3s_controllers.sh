#!/usr/bin/env bash
# The control loops through the real /usr/bin/kubectl against `k3s server`, with
# k3s_fake_kubelet playing the node: a Deployment rolls out (`kubectl rollout status`), rolls to
# a new image, `rollout history` and `rollout undo` go back, `kubectl scale` changes the pod
# count, describe shows the conditions and events; DaemonSets and StatefulSets roll out; a
# Service gets Endpoints and an
# EndpointSlice from the ready pods; deleting a Deployment takes its ReplicaSets and pods (and
# --cascade=orphan leaves them); `kubectl delete namespace` returns and leaves nothing behind;
# ServiceLB gives LoadBalancer Services the nodes' addresses. The packaged manifests are
# deployed as Addons.
BIN=${BIN:?}
TEST_BIN=${TEST_BIN:?}
source "$(dirname "$0")/lib.sh"
D=$WORK/data
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml

start_k3s_server 127.0.0.1 "$D"
"$TEST_BIN/k3s_fake_kubelet" "$KUBECONFIG" > "$WORK/kubelet.log" 2>&1 &
KUBELET=$!
CLEANUP=("kill $KUBELET; wait $KUBELET" "${CLEANUP[@]}")
k() { kubectl --cache-dir "$WORK/kcache" "$@"; }
# until_ok SECONDS CMD...: runs CMD until it succeeds, at most SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" > "$WORK/last.out" 2>&1; do
    [ $SECONDS -lt $deadline ] || { cat "$WORK/last.out" >&2; fail "never succeeded: $*"; }
    sleep 0.2
  done
}
count() { k get "$@" -o name | grep -c . || true; }
# count_is N ARGS...: `kubectl get ARGS` lists N objects.
count_is() { local n=$1; shift; [ "$(count "$@")" = "$n" ]; }

# The packaged manifests are staged and deployed as Addons at start.
[ "$(stat -c %a "$D/server/manifests/ccm.yaml")" = 600 ] || fail "staged manifest mode"
until_ok 20 k -n kube-system get addons rolebindings ccm
grep -Eq "^ccm +$D/server/manifests/ccm.yaml +[0-9a-f]{64}" "$WORK/last.out" || fail "addons: $(cat "$WORK/last.out")"
expect_ok k get clusterrolebinding kube-apiserver-kubelet-admin k3s-cloud-controller-manager

# fake_node NAME: a Node the fake kubelet keeps Ready (fake-N has the address 10.0.0.N).
fake_node() {
  printf 'apiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {kubernetes.io/hostname: %s}}\n' "$1" "$1" \
    | expect_ok k create -f -
  until_ok 20 k wait --for=condition=Ready "node/$1" --timeout=1s
}
fake_node fake-1

# A rollout, a new image, history, undo, scale.
expect_ok k create deployment web --image=nginx:1 --replicas=3
expect_ok k rollout status deployment/web --timeout=60s
grep -q 'deployment "web" successfully rolled out' "$WORK/last.out" || fail "rollout status: $(cat "$WORK/last.out")"
[ "$(count pods -l app=web --field-selector=status.phase=Running)" = 3 ] || fail "three running pods"
expect_ok k get deploy web
grep -Eq '^web +3/3 +3 +3 +' "$WORK/last.out" || fail "deployment row: $(cat "$WORK/last.out")"
expect_ok k set image deployment/web nginx=nginx:2
expect_ok k rollout status deployment/web --timeout=60s
grep -q 'successfully rolled out' "$WORK/last.out" || fail "second rollout: $(cat "$WORK/last.out")"
expect_ok k rollout history deployment/web
grep -Eq '^1 ' "$WORK/last.out" && grep -Eq '^2 ' "$WORK/last.out" || fail "history: $(cat "$WORK/last.out")"
expect_ok k rollout undo deployment/web
grep -q 'deployment.apps/web rolled back' "$WORK/last.out" || fail "undo: $(cat "$WORK/last.out")"
expect_ok k rollout status deployment/web --timeout=60s
expect_ok k get deployment web -o 'jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\.kubernetes\.io/revision}'
[ "$(cat "$WORK/last.out")" = "nginx:1 3" ] || fail "after undo: $(cat "$WORK/last.out")"
until_ok 30 count_is 3 pods -l app=web
for p in $(k get pods -l app=web -o name); do
  [ "$(k get "$p" -o 'jsonpath={.spec.containers[0].image}')" = nginx:1 ] || fail "$p not on nginx:1"
done
expect_ok k scale deployment/web --replicas=5
expect_ok k rollout status deployment/web --timeout=60s
until_ok 30 count_is 5 pods -l app=web --field-selector=status.phase=Running
expect_ok k describe deployment web
for want in 'Available +True +MinimumReplicasAvailable' 'Progressing +True +NewReplicaSetAvailable' \
            'ScalingReplicaSet +[0-9a-z]+ +deployment-controller +Scaled up replica set web-'; do
  grep -Eq "$want" "$WORK/last.out" || fail "describe lacks /$want/: $(cat "$WORK/last.out")"
done
expect_ok k get events --field-selector reason=Scheduled
grep -q 'Successfully assigned default/web-' "$WORK/last.out" || fail "Scheduled events: $(cat "$WORK/last.out")"

# Services get endpoints from ready pods; the kubernetes Service points at the server.
expect_ok k expose deployment web --port=80 --target-port=8080
addresses() { [ "$(k get endpoints web -o 'jsonpath={.subsets[0].addresses[*].ip}' | wc -w)" = "$1" ]; }
until_ok 20 addresses 5
expect_ok k get endpointslices -l kubernetes.io/service-name=web -o 'jsonpath={.items[0].endpoints[*].conditions.ready}'
[ "$(cat "$WORK/last.out")" = "true true true true true" ] || fail "slice: $(cat "$WORK/last.out")"
expect_ok k get endpoints kubernetes -o 'jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}'
[ "$(cat "$WORK/last.out")" = "127.0.0.1:$PORT" ] || fail "kubernetes endpoints: $(cat "$WORK/last.out")"

# Cascading deletion, and orphaning.
expect_ok k delete deployment web
until_ok 30 count_is 0 rs,pods -l app=web
expect_ok k create deployment keep --image=nginx:1 --replicas=2
expect_ok k rollout status deployment/keep --timeout=60s
expect_ok k delete deployment keep --cascade=orphan
until_ok 10 count_is 0 deploy -l app=keep
[ "$(count rs -l app=keep)" = 1 ] || fail "the orphaned ReplicaSet is gone"
expect_ok k get rs -l app=keep -o 'jsonpath={.items[0].metadata.ownerReferences}'
[ -z "$(cat "$WORK/last.out")" ] || fail "orphan still owned: $(cat "$WORK/last.out")"
[ "$(count pods -l app=keep)" = 2 ] || fail "the orphaned set lost its pods"

# DaemonSets and StatefulSets roll out as kubectl expects.
expect_ok k apply -f - <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: "agent:1"}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: pg, image: "postgres:16"}]}
YAML
expect_ok k rollout status daemonset/agent --timeout=60s
grep -q 'daemon set "agent" successfully rolled out' "$WORK/last.out" || fail "ds rollout: $(cat "$WORK/last.out")"
expect_ok k rollout status statefulset/db --timeout=60s
grep -q 'partitioned roll out complete\|statefulset rolling update complete 2 pods' "$WORK/last.out" \
  || fail "sts rollout: $(cat "$WORK/last.out")"
expect_ok k get pods db-0 db-1

# A namespace with content goes, and takes everything with it.
expect_ok k create namespace team
expect_ok k -n team create deployment api --image=nginx:1 --replicas=2
expect_ok k -n team create configmap settings --from-literal=a=1
expect_ok k -n team rollout status deployment/api --timeout=60s
until_ok 10 k -n team get serviceaccount default
until_ok 10 k -n team get configmap kube-root-ca.crt
expect_ok timeout 60 kubectl --cache-dir "$WORK/kcache" delete namespace team
expect_fail 'namespaces "team" not found' k get namespace team
curl -sk -H "Authorization: Bearer $(awk '/token:/{print $2}' "$KUBECONFIG")" \
  "https://127.0.0.1:$PORT/api/v1/pods" > /dev/null
left=$(sqlite3 "$D/server/db/state.db" "SELECT count(*) FROM kine WHERE name LIKE '/registry/%/team/%' AND deleted = 0 AND id IN (SELECT max(id) FROM kine GROUP BY name)")
[ "$left" = 0 ] || fail "$left objects left in the deleted namespace: $(sqlite3 "$D/server/db/state.db" "SELECT name FROM kine WHERE name LIKE '/registry/%/team/%' AND deleted = 0 AND id IN (SELECT max(id) FROM kine GROUP BY name)")"
# ServiceLB: a LoadBalancer Service gets the Ready nodes' addresses, only the labelled nodes'
# once one carries svccontroller.k3s.cattle.io/enablelb=true; one with a loadBalancerClass is
# left to that class's controller.
fake_node fake-2
expect_ok k create service loadbalancer lb --tcp=80:8080
expect_ok k apply -f - <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: classed}
spec: {type: LoadBalancer, loadBalancerClass: example.com/lb, ports: [{port: 80}]}
YAML
lb_is() { [ "$(k get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[*].ip}')" = "$2" ]; }
until_ok 10 lb_is lb "10.0.0.1 10.0.0.2"
expect_ok k label node fake-2 svccontroller.k3s.cattle.io/enablelb=true
until_ok 10 lb_is lb 10.0.0.2
lb_is classed "" || fail "a Service of another loadBalancerClass got addresses"
expect_ok k get svc lb
grep -Eq '^lb +LoadBalancer +[0-9.]+ +10\.0\.0\.2 +80:3[0-9]{4}/TCP' "$WORK/last.out" || fail "kubectl get svc: $(cat "$WORK/last.out")"

# --disable at the next start deletes the component's manifest, Addon and objects; with
# servicelb disabled, LoadBalancer Services get no addresses.
kill "$SERVER"; wait "$SERVER" || true
start_k3s_server 127.0.0.1 "$D" --disable ccm,servicelb
expect_ok k create service loadbalancer lb2 --tcp=80:8080
until_ok 10 k get endpoints lb2
lb_is lb2 "" || fail "servicelb disabled, yet lb2 has addresses"
until_ok 20 test ! -e "$D/server/manifests/ccm.yaml"
gone() { ! k get "$@" > /dev/null 2>&1; }
until_ok 20 gone clusterrole k3s-cloud-controller-manager
expect_fail 'not found' k -n kube-system get addon ccm
expect_ok k -n kube-system get addon rolebindings
echo "k3s_controllers: ok"
