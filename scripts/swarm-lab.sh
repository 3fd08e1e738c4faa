#!/bin/bash
# A private N-node Docker Swarm on one machine, for trying Mayfly's swarm runtime and for its tests
# (docs/swarm.md). Each node is a dockerd with its own containerd in its own network namespace
# (mayfly-swarm-nI, 10.241.0.1I/24), joined by veth pairs to a bridge in a hub namespace
# (mayfly-swarm-hub, 10.241.0.1). The root namespace gets one veth into the hub (10.241.0.254) so
# that the worker and the router reach node addresses; nothing else is added to it, and the
# host's own dockerd, containerd and registry are never touched.
#
# Engine APIs: each node's dockerd listens on its unix socket ($LAB/nI/docker.sock, for this
# script and the lab's admin) and on tcp://10.241.0.1I:2376 with TLS and client certificates
# (--tlsverify), like a real host. `up` makes a throwaway CA in $LAB/tls, one server certificate
# per node (its address as subjectAltName) and one client certificate in $LAB/tls/client (ca.pem,
# cert.pem, key.pem: MAYFLY_SWARM_TLS_DIR); the CA's key is deleted once they are signed. `env`
# points Mayfly at the manager's unix socket and at every other node over TLS.
#
# Images: the nodes pull from 10.241.0.1:5000 inside the hub. That address is a byte pipe
# (scripts/swarm-lab-bridge.cjs) to the registry the host already runs on 127.0.0.1:5000, so the
# nodes see the project's images (mayfly/debian, mayfly/postgres, mayfly/shop) under
# 10.241.0.1:5000/... : run Mayfly with MAYFLY_REGISTRY=10.241.0.1:5000.
#
#   sudo bash scripts/swarm-lab.sh up [N]   # hub, N nodes (default 3), registry pipe, swarm (n1 manager)
#   sudo bash scripts/swarm-lab.sh env      # the MAYFLY_* variables that point Mayfly at the lab
#   sudo bash scripts/swarm-lab.sh status   # nodes as the manager sees them
#   sudo bash scripts/swarm-lab.sh down     # stops what `up` started (by PID) and removes it all
#
# `up` on a running lab with the same N does nothing; a half-made lab is taken down first.
set -Eeuo pipefail # -E: the ERR trap of up() also fires for a step failing inside a function
LAB=${MAYFLY_SWARM_LAB:-/tmp/mayfly-swarm-lab}
PIDS=$LAB/pids
P=mayfly-swarm             # namespace prefix
L=msw                      # link-name prefix (15 characters at most per name)
NET=10.241.0               # hub /24
HUB=$NET.1
ROOT_ADDR=$NET.254
REGISTRY=$HUB:5000
HERE=$(cd "$(dirname "$0")" && pwd)
NODE_BIN=${NODE_BIN:-$(command -v node || true)}

need() { command -v "$1" >/dev/null || { echo "swarm-lab: $1 is missing (install $2)" >&2; exit 1; }; }
dk() { docker -H "unix://$LAB/n$1/docker.sock" "${@:2}"; }
TLS_PORT=2376
# Whether node $1's TLS endpoint answers the lab's client certificate (from the root namespace, as the worker).
tls_answers() {
  local C=$LAB/tls/client
  curl -sf -m 2 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" "https://$NET.1$1:$TLS_PORT/_ping" >/dev/null 2>&1
}

# A throwaway CA, a server certificate per node (subjectAltName: its address) and a client certificate.
tls_up() {
  local n=$1 T=$LAB/tls
  local W=$T/work
  ossl() {
    openssl "$@" >>"$T/openssl.log" 2>&1 || {
      echo "swarm-lab: openssl $1 failed; see $T/openssl.log" >&2; tail -5 "$T/openssl.log" >&2; exit 1
    }
  }
  # sign NAME SUBJECT-CN EXTENSIONS: NAME-key.pem and NAME-cert.pem in $W, signed by the CA.
  sign() {
    ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/$1-key.pem" -out "$W/$1.csr" -subj "/CN=$2"
    printf '%b\n' "$3" > "$W/$1.ext"
    ossl x509 -req -in "$W/$1.csr" -CA "$T/ca.pem" -CAkey "$W/ca-key.pem" -CAcreateserial -CAserial "$W/ca.srl" -days 30 -extfile "$W/$1.ext" -out "$W/$1-cert.pem"
  }
  mkdir -m 0755 "$T"
  mkdir -m 0700 "$W" "$T/client"
  (
    umask 077
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/ca-key.pem" -out "$T/ca.pem" -days 30 \
      -subj "/CN=mayfly swarm lab CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    for i in $(seq 1 "$n"); do
      sign "n$i" "$P-n$i" "subjectAltName=IP:$NET.1$i\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature"
      mkdir -m 0700 "$T/n$i"
      mv "$W/n$i-cert.pem" "$T/n$i/cert.pem"; mv "$W/n$i-key.pem" "$T/n$i/key.pem"
    done
    sign client "mayfly swarm lab client" "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature"
    cp "$T/ca.pem" "$T/client/ca.pem"
    mv "$W/client-cert.pem" "$T/client/cert.pem"; mv "$W/client-key.pem" "$T/client/key.pem"
  )
  rm -rf "$W"
  chmod 0644 "$T/ca.pem"
  chmod 0600 "$T"/n*/key.pem "$T/client/key.pem"
}

node_up() {
  local i=$1 D=$LAB/n$1 NS=$P-n$1
  mkdir -p "$D/containerd" "$D/data" "$D/x"
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip link add "$L-n${i}h" netns "$P-hub" type veth peer name eth0 netns "$NS"
  ip -n "$P-hub" link set "$L-n${i}h" master "${L}br0" up
  ip -n "$NS" addr add "$NET.1$i/24" dev eth0
  ip -n "$NS" link set eth0 up
  cat > "$D/containerd.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
EOF
  # Its own containerd: without --containerd, dockerd 20.10 attaches to the host engine's.
  # nsenter, not `ip netns exec` (which remounts /sys and breaks dockerd's cgroup mounts).
  nsenter --net="/var/run/netns/$NS" containerd --config "$D/containerd.toml" >"$D/containerd.log" 2>&1 &
  echo "$! containerd n$i" >> "$PIDS"
  for _ in $(seq 100); do [ -S "$D/containerd.sock" ] && break; sleep 0.1; done
  nsenter --net="/var/run/netns/$NS" unshare --uts sh -c "hostname $P-n$i && exec dockerd \
    --data-root $D/data --exec-root $D/x --pidfile $D/docker.pid -H unix://$D/docker.sock \
    --containerd $D/containerd.sock --cgroup-parent /$P-n$i --bip 10.243.$i.1/24 \
    --default-address-pool base=10.244.0.0/16,size=24 --storage-driver overlay2 --log-level warn \
    --insecure-registry $REGISTRY -H tcp://$NET.1$i:$TLS_PORT --tlsverify --tlscacert $LAB/tls/ca.pem \
    --tlscert $LAB/tls/n$i/cert.pem --tlskey $LAB/tls/n$i/key.pem" >"$D/dockerd.log" 2>&1 &
  echo "$! dockerd n$i" >> "$PIDS"
  # Up to 90 s (by the clock: each TLS try may take its 2 s timeout on a busy machine).
  local deadline=$((SECONDS + 90))
  while [ "$SECONDS" -lt "$deadline" ]; do dk "$i" version >/dev/null 2>&1 && tls_answers "$i" && return 0; sleep 0.2; done
  echo "swarm-lab: node $i did not start (its unix socket and https://$NET.1$i:$TLS_PORT with the lab's client certificate); see $D/dockerd.log" >&2
  tail -5 "$D/dockerd.log" >&2
  return 1
}

hub_up() {
  ip netns add "$P-hub"
  ip -n "$P-hub" link set lo up
  ip -n "$P-hub" link add "${L}br0" type bridge
  ip -n "$P-hub" addr add "$HUB/24" dev "${L}br0"
  ip -n "$P-hub" link set "${L}br0" up
  # The root namespace's way in (for the worker, the router and the tests): one veth, one /24 route.
  ip link add "$L-root" type veth peer name "$L-rooth" netns "$P-hub"
  ip -n "$P-hub" link set "$L-rooth" master "${L}br0" up
  ip addr add "$ROOT_ADDR/24" dev "$L-root"
  ip link set "$L-root" up
}

registry_up() {
  [ -n "$NODE_BIN" ] || { echo "swarm-lab: node is not on PATH (set NODE_BIN)" >&2; exit 1; }
  local sock=$LAB/registry.sock
  "$NODE_BIN" "$HERE/swarm-lab-bridge.cjs" unix-to-tcp "$sock" 127.0.0.1:5000 >"$LAB/bridge-root.log" 2>&1 &
  echo "$! bridge root" >> "$PIDS"
  for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
  nsenter --net="/var/run/netns/$P-hub" "$NODE_BIN" "$HERE/swarm-lab-bridge.cjs" tcp-to-unix "$REGISTRY" "$sock" >"$LAB/bridge-hub.log" 2>&1 &
  echo "$! bridge hub" >> "$PIDS"
  # Up to 30 s: on a busy machine the pipes' node processes take a while to listen.
  for _ in $(seq 150); do
    nsenter --net="/var/run/netns/$P-n1" curl -sf -m 2 "http://$REGISTRY/v2/" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "swarm-lab: the registry at $REGISTRY does not answer from the nodes (is the host's registry on 127.0.0.1:5000 up?)" >&2
  return 1
}

swarm_up() {
  dk 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" \
    --default-addr-pool 10.242.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
  local token; token=$(dk 1 swarm join-token -q worker)
  for i in $(seq 2 "$1"); do
    dk "$i" swarm join --token "$token" --advertise-addr "$NET.1$i" --listen-addr "$NET.1$i:2377" "$NET.11:2377" >/dev/null
  done
  for _ in $(seq 100); do
    [ "$(dk 1 node ls --format '{{.Status}}' | grep -c Ready)" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "swarm-lab: not every node became Ready" >&2
  return 1
}

running() {
  # Up when every node answers and the manager sees N ready nodes.
  [ -f "$LAB/nodes" ] || return 1
  local n; n=$(cat "$LAB/nodes")
  [ "$n" = "$1" ] || return 1
  # A lab from before TLS (no client certificate) is made again.
  [ -f "$LAB/tls/client/key.pem" ] || return 1
  for i in $(seq 1 "$n"); do dk "$i" version >/dev/null 2>&1 && tls_answers "$i" || return 1; done
  [ "$(dk 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c Ready)" -ge "$n" ]
}

up() {
  local n=${1:-3}
  need ip iproute2; need nsenter util-linux; need containerd containerd; need dockerd docker.io; need docker docker.io; need curl curl; need openssl openssl
  if running "$n"; then echo "swarm-lab: already up with $n nodes ($LAB)"; return 0; fi
  if [ -e "$LAB" ] || ip netns list | grep -q "^$P-"; then down; fi
  mkdir -p "$LAB"; : > "$PIDS"
  trap 'echo "swarm-lab: up failed; taking down what was made" >&2; down' ERR
  tls_up "$n"
  hub_up
  for i in $(seq 1 "$n"); do node_up "$i"; done
  registry_up
  swarm_up "$n"
  echo "$n" > "$LAB/nodes"
  trap - ERR
  echo "swarm-lab: $n nodes up; registry $REGISTRY; manager unix://$LAB/n1/docker.sock; nodes https://$NET.1I:$TLS_PORT (client certificate in $LAB/tls/client)"
}

env_vars() {
  local n; n=$(cat "$LAB/nodes")
  local nodes=""
  # The manager (n1) on its unix socket; every other node's Engine API over TLS with the client certificate.
  local url
  for i in $(seq 1 "$n"); do
    if [ "$i" = 1 ]; then url=unix://$LAB/n1/docker.sock; else url=tcp://$NET.1$i:$TLS_PORT; fi
    nodes="$nodes${nodes:+,}$P-n$i=$url"
  done
  echo "MAYFLY_RUNTIME=swarm"
  echo "MAYFLY_SWARM_MANAGER=unix://$LAB/n1/docker.sock"
  echo "MAYFLY_SWARM_NODES=$nodes"
  echo "MAYFLY_SWARM_TLS_DIR=$LAB/tls/client"
  echo "MAYFLY_REGISTRY=$REGISTRY"
}

status() {
  dk 1 node ls
}

down() {
  # dockerd first (it stops its containers), then containerd, then the pipes; each by its recorded PID.
  if [ -f "$PIDS" ]; then
    for kind in dockerd containerd bridge; do
      grep " $kind " "$PIDS" | while read -r pid _ _; do
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      done
    done
  fi
  # Shims started by our containerds: their pids are in our containerds' state dirs only.
  for f in "$LAB"/n*/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  for ns in $(ip netns list | awk -v p="^$P-" '$1 ~ p {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "$L-root" 2>/dev/null || true
  # The cgroups our daemons made (--cgroup-parent /mayfly-swarm-nI), deepest first, in every hierarchy.
  for cg in /sys/fs/cgroup/*/$P-n*; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  if [ -d "$LAB" ]; then
    { grep " $LAB/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$LAB"
  fi
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  env) env_vars ;;
  status) status ;;
  *) echo "usage: swarm-lab.sh up [N] | env | status | down" >&2; exit 2 ;;
esac
