#!/sbin/openrc-run

depend() {
    after network-online
    want cgroups
}

start_pre() {
    rm -f /tmp/k3s.*
}

supervisor=supervise-daemon
name=@NAME@
command="@BIN_DIR@/k3s"
command_args="@ARGS@
    >>/var/log/@NAME@.log 2>&1"

output_log=/var/log/@NAME@.log
error_log=/var/log/@NAME@.log

pidfile="/var/run/@NAME@.pid"
respawn_delay=5
respawn_max=0

set -o allexport
if [ -f /etc/environment ]; then . /etc/environment; fi
if [ -f @ENV_FILE@ ]; then . @ENV_FILE@; fi
set +o allexport
