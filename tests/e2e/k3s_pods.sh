#!/usr/bin/env bash
# Pods on `k3s server`'s embedded agent, in a network namespace of the test's own, with
# containerd, runc and the CNI plugins from Debian, from images that exist only as archives in
# agent/images (stand-ins built here from busybox; no registry anywhere): a Deployment whose
# containers take env from a ConfigMap, mount it, an emptyDir and the service-account token, and
# pass an HTTP readiness probe rolls out and answers on its pod IP; a killed container is
# restarted; a deleted pod is stopped within its grace period; a restarted k3s adopts the pods it
# left running; an image that is absent with imagePullPolicy Never waits as ErrImageNeverPull;
# a failing liveness probe restarts its container. kubectl logs (follow, tail, previous) and exec
# (WebSocket v5 with stdin, exit codes and a terminal) reach the kubelet through the API server;
# Services are reached by ClusterIP (from the node and from a pod) and node port, and a Service
# without endpoints refuses connections.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
NS=k3a-pods-$$
NODE_IP=10.$((RANDOM % 200 + 20)).7.1
D=$WORK/data
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml
make_node_netns "$NS" "$NODE_IP"
k() { ip netns exec "$NS" kubectl --cache-dir "$WORK/kcache" "$@"; }

mkdir -p "$D/agent/images"
make_pause_image "$D/agent/images/pause.tar"
make_rootfs "$WORK/rootfs" web
for a in $(/bin/busybox --list); do [ -e "$WORK/rootfs/bin/$a" ] || ln -s busybox "$WORK/rootfs/bin/$a"; done
expect_ok "$K3A" images build --rootfs "$WORK/rootfs" --entrypoint /bin/sh --env PATH=/bin \
  -t registry.local/web:1 -o "$D/agent/images/web.tar"

# A registry inside the node's namespace, reached through a registries.yaml mirror: one image
# named in an agent/images .txt list (pulled at start and pinned), one pulled when a pod needs it.
cat > "$WORK/registry.yml" <<CFG
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:5000}
CFG
ip netns exec "$NS" docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
for tag in listed:1 pulled:1; do
  for _ in $(seq 100); do
    ip netns exec "$NS" skopeo copy -q --dest-tls-verify=false "oci-archive:$D/agent/images/web.tar" \
      "docker://127.0.0.1:5000/$tag" 2> "$WORK/skopeo.err" && break
    sleep 0.1
  done
done
ip netns exec "$NS" skopeo inspect --tls-verify=false docker://127.0.0.1:5000/pulled:1 > /dev/null \
  || fail "registry: $(cat "$WORK/skopeo.err" "$WORK/registry.log")"
printf 'mirrors:\n  mirror.test:\n    endpoint: ["http://127.0.0.1:5000"]\n' > "$WORK/registries.yaml"
printf '# pulled at start\nmirror.test/listed:1\n' > "$D/agent/images/list.txt"

start_server() {
  node_exec "$NS" "$WORK/node" "$BIN/k3s" server -d "$D" --https-listen-port "$PORT" \
    -o "$KUBECONFIG" --node-name node-1 --private-registry "$WORK/registries.yaml" \
    --disable coredns,local-storage,traefik,metrics-server >> "$WORK/server.log" 2>&1 &
  SERVER=$!
  CLEANUP=("kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null" "${CLEANUP[@]}")
  local deadline=$((SECONDS + 60))
  until k get node node-1 > /dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { cat "$WORK/server.log" >&2; fail "node-1 never registered"; }
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "k3s server exited"; }
    sleep 0.2
  done
}
start_server
expect_ok k wait --for=condition=Ready node/node-1 --timeout=30s
k get node node-1 -o jsonpath='{.metadata.labels}' | grep '"node-role.kubernetes.io/control-plane":"true"' > /dev/null \
  || fail "no control-plane role label"
ctr_node() { ctr -a "$WORK/node/fs/run/k3s/containerd/containerd.sock" -n k8s.io "$@"; }
ctr_node images ls | grep 'mirror.test/listed:1 .*io.cri-containerd.pinned=pinned' > /dev/null \
  || fail "the listed image was not pulled and pinned: $(ctr_node images ls; grep list.txt "$WORK/server.log")"
# `k3s ctr` finds the agent's containerd by itself.
nsenter --mount="$WORK/node/ns/mnt" --net=/run/netns/"$NS" "$BIN/k3s" ctr -n k8s.io images ls -q \
  | grep -x registry.local/web:1 > /dev/null || fail "k3s ctr does not reach the agent's containerd"
CIDR=$(k get node node-1 -o jsonpath='{.spec.podCIDR}')
[[ $CIDR == 10.42.*.0/24 ]] || fail "pod CIDR: $CIDR"

cat > "$WORK/web.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello-from-configmap, index.html: served-by-pod}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 3
      containers:
      - name: web
        image: registry.local/web:1
        imagePullPolicy: IfNotPresent
        command: [/bin/sh, -c]
        args:
        - |
          echo "greeting=$GREETING pod=$POD_NAME"
          test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token-mounted
          cp /config/index.html /scratch/index.html
          exec httpd -f -p 8080 -h /scratch
        env:
        - name: GREETING
          valueFrom: {configMapKeyRef: {name: web-config, key: greeting}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 1}
        volumeMounts:
        - {name: config, mountPath: /config, readOnly: true}
        - {name: scratch, mountPath: /scratch}
      volumes:
      - {name: config, configMap: {name: web-config}}
      - {name: scratch, emptyDir: {}}
YAML
expect_ok k apply -f "$WORK/web.yaml"
expect_ok k rollout status deployment/web --timeout=60s
POD=$(k get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
IP=$(k get pod "$POD" -o jsonpath='{.status.podIP}')
[[ $IP == ${CIDR%.0/24}.* ]] || fail "pod IP $IP is not in $CIDR"
[ "$(ip netns exec "$NS" curl -s --max-time 5 "http://$IP:8080/index.html")" = served-by-pod ] \
  || fail "the pod does not answer on $IP"

# Services through the agent's proxy rules: the ClusterIP and the node port from the node, the
# ClusterIP from a pod (its endpoint on the same bridge), a Service without endpoints refused.
cat > "$WORK/web-svc.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 81}]
YAML
expect_ok k apply -f "$WORK/web-svc.yaml"
SVC_IP=$(k get svc web -o jsonpath='{.spec.clusterIP}')
NODE_PORT=$(k get svc web -o jsonpath='{.spec.ports[0].nodePort}')
node_curl() { ip netns exec "$NS" curl -s --max-time 3 "$@"; }
wait_for "the web Service's rules" sh -c "ip netns exec $NS curl -sf --max-time 1 http://$SVC_IP/index.html"
[ "$(node_curl "http://$SVC_IP/index.html")" = served-by-pod ] || fail "ClusterIP $SVC_IP"
[ "$(node_curl "http://$NODE_IP:$NODE_PORT/index.html")" = served-by-pod ] || fail "node port $NODE_PORT"
k exec "$POD" -- sh -c "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 $SVC_IP 80" > "$WORK/from-pod.out" 2>&1
grep -x served-by-pod "$WORK/from-pod.out" > /dev/null || fail "pod to ClusterIP: $(cat "$WORK/from-pod.out")"
NOBODY_IP=$(k get svc nobody -o jsonpath='{.spec.clusterIP}')
wait_for "the rule refusing nobody's port" sh -c "ip netns exec $NS iptables-save -t filter | grep -F 'default/nobody has no endpoints'"
rc=0; node_curl "http://$NOBODY_IP:81/" || rc=$?
[ "$rc" = 7 ] || fail "a Service without endpoints: curl exit $rc, not 7 (connection refused)"
ip netns exec "$NS" iptables-save -t nat > "$WORK/nat.rules"
# kube-proxy's chain name for default/kubernetes:https, as on every Kubernetes node.
grep -F -- '-A KUBE-SERVICES -d 10.43.0.1/32 -p tcp -m tcp --dport 443 -m comment --comment "default/kubernetes:https cluster IP" -j KUBE-SVC-NPX46M4PTMTKRN6Y' \
  "$WORK/nat.rules" > /dev/null || fail "nat rules: $(grep KUBE-SERVICES "$WORK/nat.rules")"
WEB_CHAIN=$(grep -o 'KUBE-SVC-[A-Z0-9]*' <(grep -F 'default/web:http cluster IP' "$WORK/nat.rules"))
expect_ok k delete svc web nobody
wait_for "the web Service's chain removed" sh -c "! ip netns exec $NS iptables-save -t nat | grep -F -- ':$WEB_CHAIN '"

LOG=$(ls "$WORK"/node/fs/var/log/pods/default_"$POD"_*/web/0.log)
grep -q "stdout F greeting=hello-from-configmap pod=$POD" "$LOG" || { cat "$LOG" >&2; fail "env"; }
grep -q "stdout F token-mounted" "$LOG" || { cat "$LOG" >&2; fail "service-account token"; }

# kubectl logs and exec, through the API server to the kubelet.
[ "$(k logs "$POD" | head -1)" = "greeting=hello-from-configmap pod=$POD" ] || fail "kubectl logs: $(k logs "$POD")"
[ "$(k logs "$POD" --tail=1)" = token-mounted ] || fail "kubectl logs --tail"
STAMPED=$(k logs "$POD" --timestamps)
[[ ${STAMPED%%$'\n'*} =~ ^20[0-9-]+T[0-9:.]+Z\ greeting= ]] || fail "kubectl logs --timestamps: $STAMPED"
[ "$(k exec "$POD" -- cat /config/greeting)" = hello-from-configmap ] || fail "kubectl exec"
k exec -v=6 "$POD" -- true 2>&1 | grep 'The subprotocol is v5.channel.k8s.io' > /dev/null \
  || fail "kubectl exec did not use WebSocket v5: $(k exec -v=6 "$POD" -- true 2>&1 | tail -3)"
echo exit | script -qec "ip netns exec $NS kubectl exec -it $POD -- tty" /dev/null > "$WORK/tty.out"
grep -q '^/dev/pts/' "$WORK/tty.out" || fail "kubectl exec -it: $(cat "$WORK/tty.out")"
[ "$(echo piped | k exec -i "$POD" -- cat)" = piped ] || fail "kubectl exec -i"
set +e; k exec "$POD" -- sh -c 'exit 3'; rc=$?; set -e
[ $rc = 3 ] || fail "kubectl exec exit code: $rc"
expect_fail "container nosuch is not valid for pod $POD" k exec "$POD" -c nosuch -- true
cat > "$WORK/ticker.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: registry.local/web:1, command: [/bin/sh, -c, "for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done"]}
YAML
expect_ok k apply -f "$WORK/ticker.yaml"
deadline=$((SECONDS + 30))
until k logs ticker > /dev/null 2>&1; do [ $SECONDS -lt $deadline ] || fail "ticker never started"; sleep 0.2; done
[ "$(timeout 30 ip netns exec "$NS" kubectl logs -f ticker | tail -1)" = "tick 5" ] || fail "kubectl logs -f did not follow to the end"
expect_ok k wait --for=jsonpath='{.status.phase}'=Succeeded pod/ticker --timeout=30s

# A killed container comes back; its pod stays.
container_pid() {  # the pid of the pod's httpd
  local id
  id=$(k get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}')
  cat "$WORK/node/fs/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/${id#containerd://}/init.pid"
}
kill -9 "$(container_pid "$POD")"
deadline=$((SECONDS + 30))
until [ "$(k get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount}')" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "the killed container was not restarted"
  sleep 0.5
done
expect_ok k wait --for=condition=Ready "pod/$POD" --timeout=30s
[ "$(k get pod "$POD" -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')" = 137 ] \
  || fail "lastState does not show the kill"
[ "$(k logs "$POD" --previous | head -1)" = "greeting=hello-from-configmap pod=$POD" ] || fail "kubectl logs --previous"

# Deleting a pod stops its container within the grace period.
PID=$(container_pid "$POD")
start=$SECONDS
expect_ok k delete pod "$POD" --timeout=30s
[ $((SECONDS - start)) -le 10 ] || fail "deleting took $((SECONDS - start)) s"
! kill -0 "$PID" 2>/dev/null || fail "the deleted pod's process $PID still runs"
expect_ok k rollout status deployment/web --timeout=60s

# A restarted k3s adopts the pods it left running: same containers, no restarts.
BEFORE=$(k get pods -l app=web -o jsonpath='{range .items[*]}{.status.containerStatuses[0].containerID}{"\n"}{end}' | sort)
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
start_server
sleep 3  # two relists and a sync of every pod
AFTER=$(k get pods -l app=web -o jsonpath='{range .items[*]}{.status.containerStatuses[0].containerID}{"\n"}{end}' | sort)
[ "$BEFORE" = "$AFTER" ] || { k get pods -o yaml >&2; cat "$WORK/server.log" >&2; fail "containers changed over a restart: $BEFORE / $AFTER"; }
expect_ok k rollout status deployment/web --timeout=30s

# An image that is not there, with pull policy Never.
expect_ok k run absent --image=registry.local/absent:1 --image-pull-policy=Never
deadline=$((SECONDS + 30))
until k get pod absent -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -q ErrImageNeverPull; do
  [ $SECONDS -lt $deadline ] || fail "no ErrImageNeverPull"
  sleep 0.5
done

# An image pulled through the mirror when a pod needs it; a host port; cgroup limits.
cat > "$WORK/hp.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  containers:
  - name: c
    image: mirror.test/pulled:1
    command: [/bin/sh, -c, "echo host-port-ok > /index.html; exec httpd -f -p 8080 -h /"]
    ports: [{containerPort: 8080, hostPort: 18080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
YAML
expect_ok k apply -f "$WORK/hp.yaml"
expect_ok k wait --for=condition=Ready pod/hp --timeout=60s
[ "$(ip netns exec "$NS" curl -s --max-time 5 "http://$NODE_IP:18080/index.html")" = host-port-ok ] \
  || fail "hostPort 18080 does not reach the pod"
HP=$(k get pod hp -o jsonpath='{.status.containerStatuses[0].containerID}')
HP=${HP#containerd://}
if [ -d /sys/fs/cgroup/memory ]; then  # cgroup v1
  [ "$(cat /sys/fs/cgroup/memory/k8s.io/"$HP"/memory.limit_in_bytes)" = 67108864 ] || fail "memory limit"
  [ "$(cat /sys/fs/cgroup/cpu/k8s.io/"$HP"/cpu.cfs_quota_us)" = 50000 ] || fail "cpu limit"
else
  [ "$(cat /sys/fs/cgroup/k8s.io/"$HP"/memory.max)" = 67108864 ] || fail "memory limit"
  [ "$(cut -d' ' -f1 /sys/fs/cgroup/k8s.io/"$HP"/cpu.max)" = 50000 ] || fail "cpu limit"
fi
[ "$(k get pod hp -o jsonpath='{.status.qosClass}')" = Guaranteed ] || fail "QoS class of hp"
[ "$(k get pods -l app=web -o jsonpath='{.items[0].status.qosClass}')" = BestEffort ] || fail "QoS class of web"
# Pull policy Always pulls the present image again, once, and starts the container.
expect_ok k run always --image=mirror.test/pulled:1 --image-pull-policy=Always --command -- sleep 1000
expect_ok k wait --for=condition=Ready pod/always --timeout=30s

# A liveness probe that starts failing restarts the container.
cat > "$WORK/live.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: registry.local/web:1
    command: [/bin/sh, -c, "touch /alive; exec sleep 100000"]
    livenessProbe: {exec: {command: [test, -f, /alive]}, periodSeconds: 1, failureThreshold: 2}
YAML
expect_ok k apply -f "$WORK/live.yaml"
expect_ok k wait --for=condition=Ready pod/live --timeout=30s
rm "/proc/$(container_pid live)/root/alive"
deadline=$((SECONDS + 30))
until [ "$(k get pod live -o jsonpath='{.status.containerStatuses[0].restartCount}')" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "the failing liveness probe did not restart the container"
  sleep 0.5
done

# Pulls that hang (a registry that accepts connections and never answers) hold up no other
# pod: with more of them than the kubelet has workers, a pod from a present image starts and a
# deleted pod goes within its grace period.
ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 5001)); s.listen(64); held = []
while True: held.append(s.accept()[0])' &
CLEANUP=("kill $! 2>/dev/null" "${CLEANUP[@]}")
for n in 1 2 3 4 5 6; do expect_ok k run "hang-$n" --image="127.0.0.1:5001/hang:$n"; done
wait_for "a hanging pull" sh -c "ip netns exec $NS ss -tn state established '( dport = :5001 )' | grep -q 5001"
start=$SECONDS
expect_ok k run after --image=registry.local/web:1 --image-pull-policy=IfNotPresent --command -- sleep 1000
expect_ok k wait --for=condition=Ready pod/after --timeout=30s
expect_ok k delete pod live --timeout=30s
[ $((SECONDS - start)) -le 15 ] || fail "a pod start and a deletion took $((SECONDS - start)) s behind hanging pulls"
[ "$(k get pod hang-1 -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}')" = ContainerCreating ] \
  || fail "hang-1 waits as: $(k get pod hang-1 -o jsonpath='{.status.containerStatuses[0].state}')"
echo "e2e k3s_pods: ok"
