#!/bin/bash
# island demo: the lab of etc/examples/lab.toml, end to end, with ONE file copied to every host.
#
#   sopnode LAN 198.51.100.0/24             internet 203.0.113.0/24        lab LAN 192.168.3.0/24
#   sopnode-l1 .50 ─┐                                                        ┌─ faraday .100
#   sopnode-w2 .52 ─┴─ br0 .1 sopnode router .1 ─────────── .2 lab NAT br0 .1 ─┼─ fit01 .11
#                                                              MASQUERADE      └─ fit02 .12
#   sopnode-l1 vx0 10.3.1.2 ═══════════ VXLAN udp 5533, through the NAT ══════════ faraday vx0 10.3.1.3
#
# Each host is a fresh network namespace, the two LANs are Linux bridges (as lab switches,
# cni0 and docker0 are), the gateways start with `iptables -P FORWARD DROP` (as docker leaves
# it). Every host gets a copy of etc/examples/lab.toml and finds its own part in it:
# sopnode-l1, sopnode-w2 and faraday run `island daemon`, the fit nodes join with `island
# apply`. Then ping and TCP across the island (with the source address the far end sees),
# a deleted tunnel healed, a fit node leaving and joining again, and `island test`.
#
# Each host's island processes run in a private mount namespace where a directory of the
# host's own ($WORK/<host>/etc) is mounted at $WORK/etc: the same path on every host, as
# /etc/island.toml would be, holding its copy of the file and its own hosts file (island
# writes the [island] names there: ISLAND_HOSTS_FILE), which is also mounted over /etc/hosts
# for that process only. The machine's /etc/hosts and network are never touched; namespaces
# and daemons are gone on exit, even on failure or Ctrl-C. Needs root, iproute2, iptables,
# ping, util-linux (unshare, mount) and a built island (npm run demo builds it first).
#
# ISLAND_DEMO_PREFIX overrides the namespace name prefix (default isl-demo-<pid>);
# ISLAND_DEMO_KEEP=SECONDS keeps a failed demo's lab that long before cleaning up (Ctrl-C ends
# the wait), to look at it with ip -n, iptables and island status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=$ROOT/dist/cli.js
LAB=$ROOT/etc/examples/lab.toml
PEER=$ROOT/test/helpers/tcp-peer.mjs # one end of a TCP transfer (node only; the tests use it too)
PREFIX=${ISLAND_DEMO_PREFIX:-isl-demo-$$}
HOSTS=(sopnode-l1 sopnode-w2 faraday fit01 fit02) # island hosts; the two routers run no island
declare -A NS=(
  [sopnode-router]=$PREFIX-sop [lab-nat]=$PREFIX-nat
  [sopnode-l1]=$PREFIX-l1 [sopnode-w2]=$PREFIX-w2 [faraday]=$PREFIX-far [fit01]=$PREFIX-fit01 [fit02]=$PREFIX-fit02
)
declare -A ADDR=([sopnode-l1]=198.51.100.50 [sopnode-w2]=198.51.100.52 [faraday]=192.168.3.100 [fit01]=192.168.3.11 [fit02]=192.168.3.12)
NAMESPACES=("${NS[@]}")
W2=${ADDR[sopnode-w2]} FIT1=${ADDR[fit01]}
KUBELET=10250 API=6443

if [[ -t 1 ]]; then
  B=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GREEN=$'\e[32m' YELLOW=$'\e[33m' BLUE=$'\e[34m' R=$'\e[0m'
else
  B='' DIM='' RED='' GREEN='' YELLOW='' BLUE='' R=''
fi

T_START=$EPOCHREALTIME
STEPS=0
WORK=''
ETC=''
declare -A DAEMON=()
HELPERS=() # background listeners

ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
title() { printf '\n%s%s%s\n' "$B" "$*" "$R"; }
note() { printf '  %s%s%s\n' "$DIM" "$*" "$R"; }
result() { printf '  %s%s%s\n' "$B$YELLOW" "$*" "$R"; }
indent() { sed "s/^/    /;s/\bok\b/$GREEN&$R/g"; }
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

inns() { # inns HOST CMD...: a plain command in HOST's network namespace
  local ns=${NS[$1]}
  shift
  ip netns exec "$ns" "$@"
}

# ON=(...) after `at HOST`: the command line that runs a program as it runs on HOST: in its
# network namespace and in a mount namespace of its own where $ETC is HOST's etc directory and
# /etc/hosts its hosts file. Every program of the chain execs the next: `"${ON[@]}" CMD &`
# makes $! CMD's own pid (a function run with & would be a subshell around it).
at() {
  local h=$1
  # shellcheck disable=SC2016 # for sh -c
  ON=(env -u JOURNAL_STREAM -u NOTIFY_SOCKET ISLAND_RUNTIME_DIR="$WORK/$h/run" ISLAND_HOSTS_FILE="$ETC/hosts"
    ip netns exec "${NS[$h]}" unshare --mount --propagation private
    sh -c 'mount --bind "$1" "$2" && mount --bind "$2/hosts" /etc/hosts && shift 2 && exec "$@"'
    sh "$WORK/$h/etc" "$ETC")
}
on() { # on HOST CMD...: CMD on HOST, in the foreground
  local ON
  at "$1"
  "${ON[@]}" "${@:2}"
}

island() { # island HOST ARGS...: the CLI on HOST, with HOST's copy of the file
  local h=$1
  shift
  on "$h" node "$CLI" "$@" -c "$ETC/island.toml"
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

link_up() { ip -n "${NS[$1]}" -j link show "$2" 2>/dev/null | grep -q '"UP"'; }
all_ok() { # every object in HOST's `island status --json` is ok
  island "$1" status --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const objects = JSON.parse(s).objects;
      process.exit(objects.length > 0 && objects.every((o) => o.state === "ok") ? 0 : 1);
    });'
}
ping_from() { inns "$1" ping -c3 -i0.2 -W2 "${@:2}"; }
no_ping() { ! inns "$1" ping -c1 -W1 "$2"; }

# tcp FROM TO ADDRESS PORT BYTES TIMEOUT_MS ATTEMPT_MS: BYTES random bytes from FROM to
# ADDRESS:PORT on TO over one connection (tcp-peer.mjs: the client retries connecting, a new
# SYN every ATTEMPT_MS, until TIMEOUT_MS); the client's report, which carries the server's
# (bytes, sha256, the source address it saw), goes to $WORK/tcp.json. Fails when no connection
# carried the data, or the bytes differ.
tcp() {
  local from=$1 to=$2 address=$3 port=$4 bytes=$5 timeout=$6 attempt=$7 srv
  at "$to"
  "${ON[@]}" node "$PEER" server "{\"port\":$port,\"timeoutMs\":$((timeout + 1000))}" >"$WORK/tcp-server.out" 2>&1 &
  srv=$!
  if ! on "$from" node "$PEER" client \
    "{\"host\":\"$address\",\"port\":$port,\"bytes\":$bytes,\"timeoutMs\":$timeout,\"attemptMs\":$attempt}" \
    >"$WORK/tcp.out" 2>&1; then
    kill -KILL "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    cat "$WORK/tcp.out"
    return 1
  fi
  wait "$srv"
  tail -n 1 "$WORK/tcp.out" >"$WORK/tcp.json"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.server.bytes !== r.bytes || r.server.sha256 !== r.sha256) {
      console.error(`sent ${r.bytes} bytes sha256 ${r.sha256}, received ${r.server.bytes} sha256 ${r.server.sha256}`);
      process.exit(1);
    }' "$WORK/tcp.json"
}
no_tcp() { ! tcp "$@"; }
# tcp_line TO EXPECTED_SOURCE: the last transfer in one line; fails when TO saw another source
# "8 MB in 95 ms (706 Mbit/s): fit01 saw source 198.51.100.52 (...); sha256 4be0…a1f3 ... the same"
tcp_line() {
  node -e '
    const [file, to, expect] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const mb = (r.bytes / 1048576).toFixed(r.bytes % 1048576 ? 1 : 0);
    const mbit = ((r.bytes * 8) / 1e6 / (Math.max(r.transferMs, 1) / 1000)).toFixed(0);
    const h = (s) => `${s.slice(0, 8)}…${s.slice(-4)}`;
    const seen = r.server.peer === expect ? `${expect}, its own address: no NAT on the island` : `${r.server.peer}, NOT ${expect}`;
    const same = r.sha256 === r.server.sha256 ? "the same" : "DIFFERENT";
    console.log(`${mb} MB in ${r.transferMs} ms (${mbit} Mbit/s): ${to} saw source ${seen}; sha256 ${h(r.sha256)} sent, ${h(r.server.sha256)} received: ${same}`);
    process.exit(r.server.peer === expect ? 0 : 1);' "$WORK/tcp.json" "$@"
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
  if ((rc != 0)) && [[ -n ${ISLAND_DEMO_KEEP:-} && -n $WORK ]]; then
    printf '%slab kept for %s s to look at (ISLAND_DEMO_KEEP; Ctrl-C ends it): namespaces %s-*, files in %s%s\n' \
      "$YELLOW" "$ISLAND_DEMO_KEEP" "$PREFIX" "$WORK" "$R" >&2
    trap ':' INT TERM
    sleep "$ISLAND_DEMO_KEEP" &
    wait $! || kill $! 2>/dev/null
    trap - INT TERM
  fi
  if ((rc != 0)) && [[ -n $WORK ]]; then
    for who in "${!DAEMON[@]}"; do
      [[ -s $WORK/$who.log ]] || continue
      printf '%s--- last lines of the %s daemon log ---%s\n' "$YELLOW" "$who" "$R" >&2
      tail -n 15 "$WORK/$who.log" >&2
    done
  fi
  for who in "${!DAEMON[@]}"; do kill -TERM "${DAEMON[$who]}" 2>/dev/null; done
  for pid in "${HELPERS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
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
  wait 2>/dev/null
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
for bin in ip iptables-restore ping node awk unshare mount sha256sum; do
  command -v "$bin" >/dev/null || die "$bin not found (apt-get install iproute2 iptables iputils-ping util-linux)"
done
[[ -f $CLI ]] || die "$CLI not found: build first (npm run demo builds and runs this script)"
WORK=$(mktemp -d /tmp/island-demo.XXXXXX)
ETC=$WORK/etc
mkdir "$ETC"

# --- 1. the lab ---------------------------------------------------------------------------
title "1. The lab: 7 hosts in namespaces $PREFIX-*"
veth() { # veth HOST DEV ADDRESS/LEN GATEWAY BRIDGE_HOST PORT: HOST's DEV, a port of BRIDGE_HOST's br0
  local h=$1 dev=$2 addr=$3 gw=$4 bh=$5 port=$6
  ip link add "$dev" netns "${NS[$h]}" type veth peer name "$port" netns "${NS[$bh]}"
  ip -n "${NS[$bh]}" link set "$port" master br0 up
  ip -n "${NS[$h]}" addr add "$addr" dev "$dev"
  ip -n "${NS[$h]}" link set "$dev" up
  [[ -z $gw ]] || ip -n "${NS[$h]}" route add default via "$gw"
}
build_lab() {
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # no IPv6: no router solicitations or DAD probes cross the tunnel before we want them to
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  # each link is created directly inside its namespaces: nothing appears on the machine
  for r in sopnode-router lab-nat; do
    ip -n "${NS[$r]}" link add br0 type bridge
    ip -n "${NS[$r]}" link set br0 up
    inns "$r" sysctl -qw net.ipv4.ip_forward=1
  done
  ip -n "${NS[sopnode-router]}" addr add 198.51.100.1/24 dev br0
  ip -n "${NS[lab-nat]}" addr add 192.168.3.1/24 dev br0
  ip link add wan0 netns "${NS[sopnode-router]}" type veth peer name wan0 netns "${NS[lab-nat]}"
  ip -n "${NS[sopnode-router]}" addr add 203.0.113.1/24 dev wan0
  ip -n "${NS[sopnode-router]}" link set wan0 up
  ip -n "${NS[lab-nat]}" addr add 203.0.113.2/24 dev wan0
  ip -n "${NS[lab-nat]}" link set wan0 up
  ip -n "${NS[lab-nat]}" route add default via 203.0.113.1
  # the internet carries no private source address (what leaks past the NAT is dropped here)
  inns sopnode-router sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.wan0.rp_filter=1
  veth sopnode-l1 eth0 198.51.100.50/24 198.51.100.1 sopnode-router l1
  veth sopnode-w2 eth0 198.51.100.52/24 198.51.100.1 sopnode-router w2
  veth faraday eth0 192.168.3.100/24 192.168.3.1 lab-nat faraday
  veth fit01 eth0 192.168.3.11/24 192.168.3.1 lab-nat fit01
  veth fit02 eth0 192.168.3.12/24 192.168.3.1 lab-nat fit02
}
step "sopnode LAN 198.51.100.0/24 and lab LAN 192.168.3.0/24 (Linux bridges), internet 203.0.113.0/24" build_lab

nat_rules() {
  inns lab-nat iptables-restore <<EOF
*nat
-A POSTROUTING -o wan0 -j MASQUERADE
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -i br0 -o br0 -j ACCEPT
-A FORWARD -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i br0 -o wan0 -j ACCEPT
-A INPUT -i wan0 -p udp -m conntrack --ctstate NEW -j DROP
COMMIT
EOF
}
step "lab NAT: MASQUERADE out, no unsolicited UDP or connection in" nat_rules
note "unsolicited UDP is dropped before conntrack confirms it: a sopnode-l1 that speaks first"
note "leaves no stale mapping that would move faraday's tunnel to another port; traffic within"
note "the lab LAN is accepted (the kernel passes bridged traffic through iptables too: br_netfilter)"
forward_drop() { for h in sopnode-l1 faraday; do inns "$h" iptables -P FORWARD DROP; done; }
step "iptables -P FORWARD DROP on sopnode-l1 and faraday, as docker leaves it" forward_drop
step "faraday reaches sopnode-l1 through the NAT (192.168.3.100 → 198.51.100.50)" \
  inns faraday ping -c1 -W2 198.51.100.50
step "sopnode-w2 cannot reach fit01 ($W2 ↛ $FIT1)" no_ping sopnode-w2 "$FIT1"

# --- 2. one file ----------------------------------------------------------------------------
title '2. One file for the whole island: etc/examples/lab.toml, copied to every host'
copy_file() {
  for h in "${HOSTS[@]}"; do
    mkdir -p "$WORK/$h/etc" "$WORK/$h/run"
    install -m 0644 "$LAB" "$WORK/$h/etc/island.toml"
    printf '127.0.0.1\tlocalhost\n' >"$WORK/$h/etc/hosts"
  done
  [[ $(sha256sum "$WORK"/*/etc/island.toml | cut -d' ' -f1 | sort -u | wc -l) -eq 1 ]]
}
step "copy it to ${HOSTS[*]}" copy_file
note "each host reads its own copy at $ETC/island.toml (sha256 $(sha256sum "$LAB" | cut -c1-12)…, the same everywhere)"
note "and has its own hosts file at $ETC/hosts, mounted over /etc/hosts for its processes only:"
note "names = true writes there (ISLAND_HOSTS_FILE), never into the machine's /etc/hosts"
check_all() { # in parallel; every host's answer when one fails
  local pids=() h i rc=0
  for h in "${HOSTS[@]}"; do
    island "$h" check >"$WORK/$h/check.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || rc=1; done
  ((rc == 0)) || for h in "${HOSTS[@]}"; do sed "s/^/$h: /" "$WORK/$h/check.out"; done
  return "$rc"
}
step "island check on every host (what an Ansible copy task's validate: runs)" check_all
note "island plan on faraday (found by its address, no --host):"
island faraday plan >"$WORK/plan.out" 2>&1 || die "island plan failed on faraday: $(cat "$WORK/plan.out")"
indent <"$WORK/plan.out"
grep -q '^# faraday: gateway of site r2lab (address 192.168.3.100)$' "$WORK/plan.out" ||
  die 'island plan on faraday does not say "# faraday: gateway of site r2lab (address 192.168.3.100)"'

# --- 3. island on every host ---------------------------------------------------------------
title '3. Daemons on sopnode-l1, sopnode-w2 and faraday; the fit nodes join with island apply'
start_daemon() { # HOST
  at "$1"
  "${ON[@]}" node "$CLI" daemon -c "$ETC/island.toml" >"$WORK/$1.log" 2>&1 &
  DAEMON[$1]=$!
}
for h in faraday sopnode-l1 sopnode-w2; do start_daemon "$h"; done
note "island daemon on faraday (pid ${DAEMON[faraday]}), sopnode-l1 (pid ${DAEMON[sopnode-l1]}), sopnode-w2 (pid ${DAEMON[sopnode-w2]})"
step "faraday converged (island status: all ok)" wait_until 15000 all_ok faraday
step "sopnode-l1 converged" wait_until 15000 all_ok sopnode-l1
step "sopnode-w2 converged" wait_until 15000 all_ok sopnode-w2
show_log faraday
step "island apply on fit01" island fit01 apply
step "island apply on fit02" island fit02 apply
sed -n '/^[+~-] /p' "$WORK/step.out" | sed 's/^/    fit02: /' | sed "s/^/$DIM/;s/\$/$R/"

# --- 4. traffic ----------------------------------------------------------------------------
title '4. Across the island: ping, names, TCP'
step "sopnode-w2 → fit01: ping ($W2 → $FIT1)" ping_from sopnode-w2 "$FIT1"
step "fit02 → sopnode-l1: ping by name (in fit02's hosts file, written by island apply)" \
  on fit02 ping -c3 -i0.2 -W2 sopnode-l1
step "TCP: 8 MB sopnode-w2 → fit01 port $KUBELET (kubelet's)" \
  tcp sopnode-w2 fit01 "$FIT1" $KUBELET $((8 * 1024 * 1024)) 15000 1000
TCP_LINE=$(tcp_line fit01 "$W2") || die "TCP: $TCP_LINE"
result "TCP $TCP_LINE"
step "TCP: 1 MB fit02 → sopnode-l1 port $API (the API server's), by name" \
  tcp fit02 sopnode-l1 sopnode-l1 $API $((1024 * 1024)) 15000 1000
API_LINE=$(tcp_line sopnode-l1 "${ADDR[fit02]}") || die "TCP: $API_LINE"
result "TCP $API_LINE"
note "VXLAN through a NAT whose LAN is a bridge carries TCP only with the tunnel's TX checksum"
note "offload off: island keeps it off (ping alone would prove nothing)"

# --- 5. healing ----------------------------------------------------------------------------
title '5. Someone deletes the tunnel on faraday'
log_from=$(($(wc -l <"$WORK/faraday.log") + 1))
t0=$EPOCHREALTIME
ip -n "${NS[faraday]}" link del vx0
note "ip -n ${NS[faraday]} link del vx0"
step "vx0 back and up on faraday (polling ip -j link show)" wait_until 15000 link_up faraday vx0
LINK_MS=$(ms_since "$t0")
step "TCP again: 1 MB sopnode-w2 → fit01 port $KUBELET (a new SYN every 200 ms until one is answered)" \
  tcp sopnode-w2 fit01 "$FIT1" $KUBELET $((1024 * 1024)) 40000 200
HEAL_MS=$(ms_since "$t0")
HEAL_LINE=$(tcp_line fit01 "$W2") || die "TCP after healing: $HEAL_LINE"
result "tunnel back after $LINK_MS ms; TCP works again after $HEAL_MS ms"
note "TCP $HEAL_LINE"
show_log faraday "$log_from"

# --- 6. a fit node leaves and joins again ---------------------------------------------------
title '6. fit01 leaves the island (island down), then joins again (island apply)'
step "island down on fit01" island fit01 down
note "without island's routes fit01 answers by its default route, the lab NAT, whose replies"
note "carry a private source the internet drops"
step "sopnode-w2 cannot reach fit01: no ping" no_ping sopnode-w2 "$FIT1"
step "... and no TCP connection to port $KUBELET within 2 s" no_tcp sopnode-w2 fit01 "$FIT1" $KUBELET 1024 2000 500
t0=$EPOCHREALTIME
step "island apply on fit01" island fit01 apply
step "sopnode-w2 → fit01: ping" ping_from sopnode-w2 "$FIT1"
step "TCP: 1 MB sopnode-w2 → fit01 port $KUBELET" tcp sopnode-w2 fit01 "$FIT1" $KUBELET $((1024 * 1024)) 10000 1000
REJOIN_MS=$(ms_since "$t0")
REJOIN_LINE=$(tcp_line fit01 "$W2") || die "TCP after island apply: $REJOIN_LINE"
result "fit01 back on the island: TCP again $REJOIN_MS ms after island apply started"
note "TCP $REJOIN_LINE"

# --- 7. island test, status ----------------------------------------------------------------
title '7. island test on sopnode-w2 (every other [[host]]: route, ping, its tcp ports)'
at sopnode-l1
"${ON[@]}" node "$PEER" listen "{\"port\":$API,\"lifetimeMs\":60000}" >"$WORK/api.out" 2>&1 &
HELPERS+=($!)
disown $! # killed at exit, without bash's "Killed" line
note "a listener on sopnode-l1:$API stands in for the API server"
wait_until 5000 grep -q listening "$WORK/api.out" || die "no listener on sopnode-l1:$API: $(cat "$WORK/api.out")"
step "island test on sopnode-w2" island sopnode-w2 test
indent <"$WORK/step.out"
TEST_LINE=$(tail -n 1 "$WORK/step.out")

title '8. island status on faraday'
island faraday status >"$WORK/status.out" 2>&1 || die "island status failed on faraday: $(cat "$WORK/status.out")"
indent <"$WORK/status.out"
step "the three daemons still running" kill -0 "${DAEMON[faraday]}" "${DAEMON[sopnode-l1]}" "${DAEMON[sopnode-w2]}"

title 'Summary'
# labels in ASCII: printf pads bytes, not characters
printf '  %-27s %s\n' \
  'one file, five hosts' "etc/examples/lab.toml copied as is; each host found its part by its address" \
  'ping, names' "sopnode-w2 → fit01; fit02 → sopnode-l1 by name" \
  'TCP sopnode-w2 to fit01' "$TCP_LINE" \
  'TCP fit02 to sopnode-l1' "$API_LINE" \
  'vx0 deleted on faraday' "back after $LINK_MS ms, TCP again after $HEAL_MS ms" \
  'fit01: island down, apply' "unreachable, then TCP again $REJOIN_MS ms after apply started" \
  'island test on sopnode-w2' "$TEST_LINE"
note 'SIGTERM to the daemons (they leave the network in place), then delete the namespaces'
