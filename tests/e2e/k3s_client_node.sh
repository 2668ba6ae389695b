#!/usr/bin/env bash
# @kubernetes/client-node (installed by scripts/test.sh into build/clients) against `k3s server`:
# tests/clients/client_node.mjs runs typed lists, creates, the three patch types, scale, errors,
# watch, an informer and the generic object API.
BIN=${BIN:?}
source "$(dirname "$0")/lib.sh"
CLIENTS=$(cd "$BIN/.." && pwd)/clients
[ -d "$CLIENTS/node_modules/@kubernetes/client-node" ] \
  || fail "@kubernetes/client-node is not installed in $CLIENTS (scripts/test.sh installs it)"
PORT=$(free_port)
export KUBECONFIG=$WORK/k3s.yaml
start_k3s_server 127.0.0.1 "$WORK/data"
# ES modules resolve packages from their own directory, so the script runs from beside node_modules.
cp "$(dirname "$0")/../clients/client_node.mjs" "$CLIENTS/"
expect_ok timeout 120 node "$CLIENTS/client_node.mjs"
grep -q "^client-node: ok$" "$WORK/last.out" || fail "client-node: $(cat "$WORK/last.out")"
echo "k3s_client_node: ok"
