# Node emulation for the main job and the end-to-end tests (source it): a "node" is a network
# namespace plus a mount namespace of its own that outlives its processes, as a host's does.
# Inside, the paths k3s and the installer use are the node's own directories under DIR:
# /etc/rancher, /var/lib/rancher, /var/lib/kubelet, /var/log, /usr/local/bin,
# /etc/systemd/system and a private /run (with /run/k3s and /run/netns); everything else is the
# host's (read: Debian's binaries).

# node_netns NS: a network namespace with loopback up and no other link; IPv6 off.
node_netns() {
  ip netns add "$1"
  ip netns exec "$1" ip link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# node_offline_route NS ADDRESS: a link holding ADDRESS/24 and the default route, as upstream
# advises for hosts without a network (its dummy interface is a veth pair whose both ends stay in
# the namespace here): traffic for anything outside leads nowhere, and node_egress_guard
# counts it.
node_offline_route() {
  local ns=$1 address=$2
  ip netns exec "$ns" ip link add offline0 type veth peer name offline1
  ip netns exec "$ns" ip addr add "$address/24" dev offline0
  ip netns exec "$ns" ip link set offline0 up
  ip netns exec "$ns" ip link set offline1 up
  ip netns exec "$ns" ip route add default dev offline0 metric 1000
  node_egress_guard "$ns"
}

# node_egress_guard NS: the NODE-EGRESS chain counts and drops every packet the node or its pods
# send to an address outside 10.0.0.0/8 and 127.0.0.0/8 (the kernel's link-local multicast
# aside); node_egress_packets reads that count and node_egress_destinations the addresses tried.
node_egress_guard() {
  local ns=$1
  ip netns exec "$ns" iptables -w -N NODE-EGRESS
  ip netns exec "$ns" iptables -w -A NODE-EGRESS -d 10.0.0.0/8 -j RETURN
  ip netns exec "$ns" iptables -w -A NODE-EGRESS -d 127.0.0.0/8 -j RETURN
  ip netns exec "$ns" iptables -w -A NODE-EGRESS -d 224.0.0.0/24 -j RETURN
  ip netns exec "$ns" iptables -w -A NODE-EGRESS -m recent --name egress --rdest --set
  ip netns exec "$ns" iptables -w -A NODE-EGRESS -j DROP
  ip netns exec "$ns" iptables -w -I OUTPUT -j NODE-EGRESS
  ip netns exec "$ns" iptables -w -I FORWARD -j NODE-EGRESS
}
node_egress_packets() {
  ip netns exec "$1" iptables -w -nvxL NODE-EGRESS | awk '$3 == "DROP" {print $1}'
}
node_egress_destinations() {
  ip netns exec "$1" cat /proc/net/xt_recent/egress | awk '{print $1}' | sed 's/^src=//'
}

# node_link NS1 ADDRESS1 NS2 ADDRESS2: a veth pair between two nodes, ADDRESSn/24 on each end.
node_link() {
  ip link add k3a-l$$ netns "$1" type veth peer name k3a-r$$ netns "$3"
  ip netns exec "$1" ip addr add "$2/24" dev k3a-l$$
  ip netns exec "$1" ip link set k3a-l$$ up
  ip netns exec "$3" ip addr add "$4/24" dev k3a-r$$
  ip netns exec "$3" ip link set k3a-r$$ up
}

# node_kill NS: SIGKILL to every process in the namespace and all their descendants (containers
# outlive k3s, as upstream's do), until none is left.
node_kill() {
  local pids todo round
  for round in $(seq 50); do
    todo=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$todo" ] || return 0
    pids=""
    while [ -n "$todo" ]; do
      pids="$pids $todo"
      todo=$(for p in $todo; do cat /proc/"$p"/task/*/children 2>/dev/null || true; done)
    done
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
}

# node_exec NS DIR CMD...: CMD in the node (its network namespace, entered without remounting
# /sys so cgroups stay visible, and its mount namespace, made on first use). It replaces the
# calling shell (exec): run it in a subshell or in the background, where $! is CMD's pid.
node_exec() {
  local ns=$1 dir=$2; shift 2
  if [ ! -e "$dir/ns/mnt" ]; then
    mkdir -p "$dir/ns" "$dir/fs"
    mount --bind "$dir/ns" "$dir/ns"
    mount --make-private "$dir/ns"
    touch "$dir/ns/mnt"
    unshare --mount="$dir/ns/mnt" --propagation private sh -c '
      set -e; d=$1/fs
      mount -t tmpfs tmpfs /run
      mkdir -p /run/k3s /run/netns /var/lib/rancher /var/lib/kubelet /etc/rancher /etc/systemd/system
      for p in etc/rancher var/lib/rancher var/lib/kubelet var/log usr/local/bin etc/systemd/system run/k3s; do
        mkdir -p "$d/$p"
        mount --bind "$d/$p" "/$p"
      done' node "$dir"
  fi
  exec nsenter --mount="$dir/ns/mnt" --net=/run/netns/"$ns" "$@"
}

# node_unmount DIR: detaches every mount below DIR (deepest first).
node_unmount() {
  awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
}
