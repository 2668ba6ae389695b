#!/bin/sh
# Stops every k3s service and what it started: containerd shims and their containers, mounts,
# CNI network namespaces and interfaces, and the iptables rules k3s and flannel added.
[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env=K3S_DATA_DIR "$0" "$@"

K3S_DATA_DIR=${K3S_DATA_DIR:-@DATA_DIR@}

for bin in "${K3S_DATA_DIR}"/airgap/current/bin "${K3S_DATA_DIR}"/data/*/bin; do
    [ -d "$bin" ] && export PATH="$PATH:$bin:$bin/aux"
done

set -x

for service in @SYSTEMD_DIR@/k3s*.service; do
    [ -s "$service" ] && systemctl stop "$(basename "$service")"
done

for service in /etc/init.d/k3s*; do
    [ -x "$service" ] && "$service" stop
done

pschildren() {
    ps -e -o ppid= -o pid= | sed -e 's/^\s*//g; s/\s\s*/\t/g;' | grep -w "^$1" | cut -f2
}

pstree() {
    for pid in "$@"; do
        echo "$pid"
        for child in $(pschildren "$pid"); do
            pstree "$child"
        done
    done
}

killtree() {
    kill -9 $(
        { set +x; } 2>/dev/null
        pstree "$@"
        set -x
    ) 2>/dev/null
}

getshims() {
    ps -e -o pid= -o args= | sed -e 's/^ *//; s/\s\s*/\t/;' \
        | grep -F "${K3S_DATA_DIR}/" | grep -w 'bin/containerd-shim[^ ]*' | cut -f1
}

killtree $({ set +x; } 2>/dev/null; getshims; set -x)

do_unmount_and_remove() {
    set +x
    while read -r _ path _; do
        case "$path" in $1*) echo "$path" ;; esac
    done < /proc/self/mounts | sort -r | xargs -r -t -n 1 sh -c 'umount -f "$0" && rm -rf "$0"'
    set -x
}

do_unmount_and_remove '/run/k3s'
do_unmount_and_remove '/var/lib/kubelet/pods'
do_unmount_and_remove '/var/lib/kubelet/plugins'
do_unmount_and_remove '/run/netns/cni-'

ip netns show 2>/dev/null | grep cni- | xargs -r -t -n 1 ip netns delete

set +x
for iface in $(ip -o link show master cni0 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link delete "$iface"
done
set -x
for link in cni0 flannel.1 flannel-v6.1 kube-ipvs0 flannel-wg flannel-wg-v6; do
    ip link delete "$link" 2>/dev/null
done

rm -rf /var/lib/cni/
for t in iptables ip6tables; do
    if command -v "$t-save" >/dev/null && command -v "$t-restore" >/dev/null; then
        "$t-save" | grep -v KUBE- | grep -v CNI- | grep -iv flannel | "$t-restore"
    fi
done
exit 0
