#!/bin/bash
# island demo: a VXLAN island across a NAT, kept alive by `island daemon` on both ends.
#
#   public host                NAT router (MASQUERADE)            host behind the NAT
#   eth0 198.51.100.1 ─────── wan0 198.51.100.2 | lan0 10.77.0.1 ─────── eth0 10.77.0.2
#   island0 10.30.30.1/30 ═══════════════ VXLAN 5533/udp ═══════════════ island0 10.30.30.2/30
#   cni0 10.244.1.0/24                                                     cni0 10.244.2.0/24
#
# Everything happens in three fresh network namespaces (deleted on exit, even on failure);
# the host's own network is never touched. Needs root, iproute2, iptables, ping and a built
# island (npm run demo builds it first). Configs: scripts/demo/{public,private}.toml.
#
# ISLAND_DEMO_PREFIX overrides the namespace name prefix (default isl-demo-<pid>).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=$ROOT/dist/cli.js
CONF=$ROOT/scripts/demo
PREFIX=${ISLAND_DEMO_PREFIX:-isl-demo-$$}
PUB=$PREFIX-pub NAT=$PREFIX-nat PRIV=$PREFIX-priv
NAMESPACES=("$PUB" "$NAT" "$PRIV")
PUB_IP=198.51.100.1 NAT_IP=198.51.100.2 PRIV_IP=10.77.0.2
PUB_TUN=10.30.30.1 PRIV_TUN=10.30.30.2
PUB_CNI=10.244.1.1 PRIV_CNI=10.244.2.1
PORT=5533

if [[ -t 1 ]]; then
  B=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' YELLOW=$'\e[33m' BLUE=$'\e[34m' R=$'\e[0m'
else
  B='' DIM='' RED='' GREEN='' YELLOW='' BLUE='' R=''
fi

T_START=$EPOCHREALTIME
STEPS=0
WORK=''
declare -A DAEMON=()

ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
title() { printf '\n%s%s%s\n' "$B" "$*" "$R"; }
note() { printf '  %s%s%s\n' "$DIM" "$*" "$R"; }
die() {
  printf '%s✗ %s%s\n' "$RED" "$*" "$R" >&2
  exit 1
}

# step DESCRIPTION CMD...: runs CMD (a function or a program) quietly with `set -e` in force
# (a background job, so errexit is not suspended the way it is inside `if`); shows its output
# only when it fails, and then stops the demo.
step() {
  local desc=$1 t0=$EPOCHREALTIME out
  shift
  STEPS=$((STEPS + 1))
  printf '%s▸%s %s ' "$BLUE" "$R" "$desc"
  out=$WORK/step.out
  "$@" >"$out" 2>&1 &
  if wait $!; then
    printf '%s✓%s %s(%s ms)%s\n' "$GREEN" "$R" "$DIM" "$(ms_since "$t0")" "$R"
  else
    printf '%s✗ failed%s\n' "$RED" "$R"
    sed 's/^/    /' "$out" >&2
    exit 1
  fi
}

# inns NS CMD...: run CMD inside a namespace
inns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

island() { # island NS ARGS...: the CLI inside a namespace
  local ns=$1
  shift
  # each host's daemon and CLI meet on their own control socket, never the machine's /run/island
  env -u JOURNAL_STREAM -u NOTIFY_SOCKET ISLAND_RUNTIME_DIR="$WORK/run-$ns" ip netns exec "$ns" node "$CLI" "$@"
}

# wait_until TIMEOUT_MS CMD...: poll CMD every 50 ms until it succeeds
wait_until() {
  local limit=$1 t0=$EPOCHREALTIME
  shift
  until "$@" >/dev/null 2>&1; do
    (($(ms_since "$t0") < limit)) || return 1
    sleep 0.05
  done
}

link_up() { ip -n "$1" -j link show "$2" 2>/dev/null | grep -q '"UP"'; }
route_present() { [[ -n $(ip -n "$1" route show "$2" 2>/dev/null) ]]; }
all_ok() { # every object in `island status --json` is ok
  island "$1" status --json -c "$2" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const objects = JSON.parse(s).objects;
      process.exit(objects.length > 0 && objects.every((o) => o.state === "ok") ? 0 : 1);
    });'
}

# the daemon's info log lines (pino JSON) as "  host: message", from line FROM on
show_log() {
  local who=$1 from=${2:-1}
  # shellcheck disable=SC2016 # JavaScript, not shell
  tail -n +"$from" "$WORK/$who.log" | node -e '
    const who = process.argv[1];
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const line of s.split("\n").filter(Boolean)) {
        let msg = line;
        // actions and milestones (info); warnings show on failure, with the log tail
        try { const r = JSON.parse(line); if (r.level !== 30 || r.msg === "status") continue; msg = r.msg; } catch {}
        console.log(`    ${who}: ${msg}`);
      }
    });' "$who" | sed "s/^/$DIM/;s/\$/$R/"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if ((rc != 0)) && [[ -n $WORK ]]; then
    for who in "${!DAEMON[@]}"; do
      [[ -s $WORK/$who.log ]] || continue
      printf '%s--- last lines of the %s daemon log ---%s\n' "$YELLOW" "$who" "$R" >&2
      tail -n 15 "$WORK/$who.log" >&2
    done
  fi
  for who in "${!DAEMON[@]}"; do kill -TERM "${DAEMON[$who]}" 2>/dev/null; done
  for who in "${!DAEMON[@]}"; do
    for _ in $(seq 60); do kill -0 "${DAEMON[$who]}" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "${DAEMON[$who]}" 2>/dev/null
    wait "${DAEMON[$who]}" 2>/dev/null
  done
  for ns in "${NAMESPACES[@]}"; do
    [[ -e /run/netns/$ns ]] || continue
    # shellcheck disable=SC2046 # one pid per word
    kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  [[ -n $WORK ]] && rm -rf "$WORK"
  local left
  left=$(ip netns list 2>/dev/null | grep -F -- "$PREFIX-" || true)
  if [[ -n $left ]]; then
    printf '%s✗ namespaces left behind:%s %s\n' "$RED" "$R" "$left" >&2
    rc=1
  fi
  if ((rc == 0)); then
    printf '\n%s✓ demo passed:%s %d steps in %s ms; namespaces deleted\n' "$GREEN" "$R" "$STEPS" "$(ms_since "$T_START")"
  else
    printf '\n%s✗ demo failed (exit %d)%s; namespaces deleted\n' "$RED" "$rc" "$R" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- preflight --------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die 'run as root: the demo creates network namespaces'
for bin in ip iptables-restore ping node awk; do
  command -v "$bin" >/dev/null || die "$bin not found (apt-get install iproute2 iptables iputils-ping)"
done
[[ -f $CLI ]] || die "$CLI not found: build first (npm run demo builds and runs this script)"
WORK=$(mktemp -d /tmp/island-demo.XXXXXX)

# --- 1. the network -----------------------------------------------------------------------
title "1. Three hosts: public, NAT router, private (namespaces $PREFIX-*)"
build_topology() {
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # no IPv6: no router solicitations or DAD probes cross the tunnel before we want them to
    inns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  # each veth end is created directly inside its namespace: nothing appears on the host
  ip link add eth0 netns "$PUB" type veth peer name wan0 netns "$NAT"
  ip link add lan0 netns "$NAT" type veth peer name eth0 netns "$PRIV"
  ip -n "$PUB" addr add $PUB_IP/24 dev eth0
  ip -n "$PUB" link set eth0 up
  ip -n "$NAT" addr add $NAT_IP/24 dev wan0
  ip -n "$NAT" link set wan0 up
  ip -n "$NAT" addr add 10.77.0.1/24 dev lan0
  ip -n "$NAT" link set lan0 up
  ip -n "$PRIV" addr add $PRIV_IP/24 dev eth0
  ip -n "$PRIV" link set eth0 up
  ip -n "$PRIV" route add default via 10.77.0.1
}
step "namespaces, veth links, addresses, default route" build_topology

nat_rules() {
  inns "$NAT" sysctl -qw net.ipv4.ip_forward=1
  inns "$NAT" iptables-restore <<EOF
*nat
-A POSTROUTING -o wan0 -j MASQUERADE
COMMIT
*filter
-A FORWARD -i wan0 -o lan0 -m conntrack --ctstate NEW,INVALID -j DROP
-A INPUT -i wan0 -p udp --dport $PORT -m conntrack --ctstate NEW -j DROP
COMMIT
EOF
}
step "NAT router: MASQUERADE out, nothing new in" nat_rules
note "unsolicited udp/$PORT is dropped before conntrack sees it, so a public side that speaks"
note "first leaves no stale mapping that would move the private host to another port"
step "private host reaches the public host ($PRIV_IP → $PUB_IP)" inns "$PRIV" ping -c1 -W2 $PUB_IP
cannot_reach() { ! inns "$PUB" ping -c1 -W1 "$1"; }
step "public host cannot reach the private host ($PUB_IP ↛ $PRIV_IP)" cannot_reach $PRIV_IP

# --- 2. island -----------------------------------------------------------------------------
title '2. island on both hosts'
step "island check public.toml" island "$PUB" check -c "$CONF/public.toml"
step "island check private.toml" island "$PRIV" check -c "$CONF/private.toml"

start_daemon() { # who ns config
  env -u JOURNAL_STREAM -u NOTIFY_SOCKET ISLAND_RUNTIME_DIR="$WORK/run-$2" ip netns exec "$2" node "$CLI" daemon -c "$3" >"$WORK/$1.log" 2>&1 &
  DAEMON[$1]=$!
}
start_daemon public "$PUB" "$CONF/public.toml"
start_daemon private "$PRIV" "$CONF/private.toml"
note "island daemon -c public.toml (pid ${DAEMON[public]}), island daemon -c private.toml (pid ${DAEMON[private]})"
step "public host converged (island status: all ok)" wait_until 15000 all_ok "$PUB" "$CONF/public.toml"
step "private host converged (island status: all ok)" wait_until 15000 all_ok "$PRIV" "$CONF/private.toml"
show_log public
show_log private

# --- 3. traffic ----------------------------------------------------------------------------
title '3. Traffic across the island'
ping3() { inns "$1" ping -c3 -i0.2 -W2 "${@:2}"; }
step "private → public tunnel address, first ($PRIV_TUN → $PUB_TUN): opens the NAT mapping" ping3 "$PRIV" $PUB_TUN
step "public → private, through the NAT ($PUB_TUN → $PRIV_TUN)" ping3 "$PUB" $PRIV_TUN
step "cni0 → cni0, private to public ($PRIV_CNI → $PUB_CNI)" ping3 "$PRIV" -I $PRIV_CNI $PUB_CNI
step "cni0 → cni0, public to private ($PUB_CNI → $PRIV_CNI)" ping3 "$PUB" -I $PUB_CNI $PRIV_CNI
show_mapping() { inns "$NAT" conntrack -L -p udp --dport $PORT 2>/dev/null | grep -q "sport=$PORT dport=$PORT"; }
if command -v conntrack >/dev/null; then
  step "NAT keeps one mapping, source port $PORT on both sides" show_mapping
fi

# --- 4. healing ----------------------------------------------------------------------------
title '4. Someone deletes the tunnel on the private host'
log_from=$(($(wc -l <"$WORK/private.log") + 1))
t0=$EPOCHREALTIME
ip -n "$PRIV" link del island0
note "ip -n $PRIV link del island0"
step "island0 back and up (polling ip -j link show)" wait_until 15000 link_up "$PRIV" island0
link_ms=$(ms_since "$t0")
step "route to 10.244.1.0/24 via the tunnel back" wait_until 15000 route_present "$PRIV" 10.244.1.0/24
route_ms=$(ms_since "$t0")
printf '  %stunnel back after %s ms, route after %s ms%s\n' "$B$YELLOW" "$link_ms" "$route_ms" "$R"
show_log private "$log_from"
step "private → public over the new tunnel" ping3 "$PRIV" $PUB_TUN
step "public → private, through the NAT again" ping3 "$PUB" $PRIV_TUN
step "cni0 → cni0 again" ping3 "$PUB" -I $PUB_CNI $PRIV_CNI

# --- 5. status -----------------------------------------------------------------------------
title '5. island status'
for who in public private; do
  if [[ $who == public ]]; then ns=$PUB; else ns=$PRIV; fi
  printf '  %s%s host%s\n' "$B" "$who" "$R"
  out=$(island "$ns" status -c "$CONF/$who.toml") || die "island status failed on the $who host"
  printf '%s\n' "$out" | sed "s/^/    /;s/\bok\b/$GREEN&$R/"
done
step "both daemons still running" kill -0 "${DAEMON[public]}" "${DAEMON[private]}"

title '6. Tear down'
note 'SIGTERM to both daemons (they leave the network in place), then delete the namespaces'
