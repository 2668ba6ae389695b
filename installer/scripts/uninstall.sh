#!/bin/sh
# Removes the @NAME@ service; when no other k3s service is left, removes k3s itself and its data.
set -x
[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env=K3S_DATA_DIR "$0" "$@"

K3S_DATA_DIR=${K3S_DATA_DIR:-@DATA_DIR@}

@BIN_DIR@/k3s-killall.sh

if command -v systemctl >/dev/null; then
    systemctl disable @NAME@
    systemctl reset-failed @NAME@
    systemctl daemon-reload
fi
if command -v rc-update >/dev/null; then
    rc-update delete @NAME@ default
fi

rm -f @UNIT_FILE@ @OPENRC_FILE@ @ENV_FILE@

remove_uninstall() {
    rm -f @UNINSTALL@
}
trap remove_uninstall EXIT

if (ls @SYSTEMD_DIR@/k3s*.service || ls /etc/init.d/k3s*) >/dev/null 2>&1; then
    set +x; echo 'Additional k3s services installed, skipping uninstall of k3s'; set -x
    exit
fi

for cmd in kubectl crictl ctr; do
    if [ -L "@BIN_DIR@/$cmd" ]; then
        rm -f "@BIN_DIR@/$cmd"
    fi
done

clean_mounted_directory() {
    if ! grep -q " $1" /proc/mounts; then
        rm -rf "$1"
        return 0
    fi
    for path in "$1"/*; do
        if [ -d "$path" ]; then
            if grep -q " $path" /proc/mounts; then
                clean_mounted_directory "$path"
            else
                rm -rf "$path"
            fi
        else
            rm "$path"
        fi
    done
}

rm -rf /etc/rancher/k3s
rm -rf /run/k3s
rm -rf /run/flannel
clean_mounted_directory "${K3S_DATA_DIR}"
rm -rf /var/lib/kubelet
rm -f @BIN_DIR@/k3s
rm -f @BIN_DIR@/k3s-killall.sh
rm -f /etc/logrotate.d/@NAME@
