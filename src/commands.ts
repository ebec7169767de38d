/**
 * The CLI's command table: each command with its help, and the options parseArgs takes.
 * Free of side effects (cli.ts runs main() at import), so that test/unit/docs.test.ts can
 * check the man page and the bash completion against it.
 */

import { CONFIG_PATH, msText, TEST_TIMEOUT_MS, TRY_TIMEOUT_MS } from './config/defaults.js';
import { kindsOf } from './kinds/index.js';

/** "IPIP/VXLAN/...": the tunnel kinds of the registry */
const TUNNELS = kindsOf('tunnel')
  .map((k) => k.kind.toUpperCase())
  .join('/');

/** "macvlan/ipvlan": the [[link]] kinds of the registry, each a host's shim onto a pod network */
const SHIMS = kindsOf('link')
  .map((k) => k.kind)
  .join('/');

export const HELP: Record<string, string> = {
  '': `usage: island <command> [-c FILE] [options]

Keeps an island of ${TUNNELS} tunnels, bridges, ${SHIMS} host shims, addresses and
routes alive.

commands:
  check    validate the file (exit 0 valid, 1 invalid)
  plan     show what apply would change (--exit-code: 0 converged, 2 changes pending,
           3 the file cannot be reached: objects foreign or blocked)
  apply    converge once and exit (0 converged, 1 the kernel refused something,
           3 objects foreign or blocked: the file is not reached)
  down     remove everything island owns and exit
  daemon   converge, then heal until SIGTERM (SIGHUP reloads the file)
  status   desired vs live, per object, and peer health (--json, --check)
  try      apply a candidate file; rolled back unless confirmed (--timeout, --confirm)
  test     from this host, reach every other host of a one-file island (--json, --timeout)
  graph    the island as a Graphviz DOT graph, live state as colours (--svg, -T FORMAT)
  doctor   what on this host fights the island, one line each (exit 1 on an error)

options:
  -c, --config FILE   configuration file (default ${CONFIG_PATH})
  --host NAME         one-file island: act as [[host]] NAME, or as a member of [[site]] NAME
                      (default: ISLAND_HOST, else found by this host's own addresses)
  -h, --help          help for a command`,
  check:
    'usage: island check [-c FILE]\n\nValidate the file: every error as FILE:LINE:COL: key: message. Exit 0 valid, 1 invalid.\nOn the host whose file it is (not with --host naming another), what island doctor finds\nfollows as warnings, less the firewall ones (island doctor and island status read it).',
  doctor: `usage: island doctor [-c FILE] [--host NAME]

Check this host for what is known to fight an island: systemd-networkd deleting foreign
routes, firewalld's FlushAllOnReload, an nftables.service that flushes the ruleset, a
firewall that drops the island's traffic where island cannot accept it (another nftables
table, an INPUT without island's accepts, docker's FORWARD DROP), strict rp_filter where the
island routes asymmetrically, NetworkManager managing a link island keeps or its underlay, a
second island daemon, the end behind a NAT without keepalive, TX checksum offload on a VXLAN
across a NAT. One line per finding: WHERE: error|warning: WHAT: WHY; fix: FIX.
Exit 1 when an error (the island will not work) was found, 0 otherwise. Run it as root.`,
  plan: `usage: island plan [-c FILE] [--exit-code]

Print the actions \`island apply\` would take, one per line, then each object that is foreign
or blocked (! OBJECT: STATE: why). "no changes" means the host matches the file; when objects
are foreign or blocked, the last line says the file is not reached instead.
  --exit-code   exit 0 when the host matches the file, 2 when changes are pending (apply
                reaches the file), 3 when objects are foreign or blocked (apply cannot)`,
  apply: `usage: island apply [-c FILE]

Converge the host to the file once and exit:
  0  the host matches the file
  1  the kernel refused something (each refusal names the file line that declared it)
  3  nothing failed, but objects are foreign or blocked: the file is not reached`,
  down: 'usage: island down\n\nRemove every link and route island owns, its iptables chains and jump and its lines in\n/etc/hosts (whatever the file says now) and exit. Sysctls are left as they are.',
  daemon:
    "usage: island daemon [-c FILE]\n\nConverge, then keep the state true until SIGTERM, which leaves the network in place.\nSIGHUP re-reads the file; a bad file changes nothing. One daemon per network namespace:\na second one exits 1 and names the running one's pid.",
  status:
    "usage: island status [-c FILE] [--json] [--check]\n\nDesired vs live per object: ok, missing, drifted, foreign, blocked, stale; with the daemon\nrunning, each probed peer too: up, one-way, down, pending.\n  --check   exit 0 when every probed peer is up and nothing drops the island's traffic, 1 otherwise (or when no daemon answers)",
  try: `usage: island try FILE [--timeout ${msText(TRY_TIMEOUT_MS)}]
       island try --confirm | --rollback

The daemon applies FILE and rolls back to the previous configuration unless the try is
confirmed within the timeout (5s..1h) — even when this command or its SSH session dies.
On a terminal, Enter confirms and Ctrl-C rolls back now. A confirm writes FILE over the
configuration file (-c, default ${CONFIG_PATH}).`,
  test: `usage: island test [-c FILE] [--host NAME] [--json] [--timeout ${msText(TEST_TIMEOUT_MS)}]

From this host, through the island, check every other [[host]] of a one-file island (a
file with [[site]] sections): ICMP (ping), each TCP port its \`tcp\` names, and the route
the kernel takes to it. One row per host; exit 0 when every check passed, 1 otherwise.
  --host      the [[host]] (or [[site]] member) this is (default: ISLAND_HOST, else its addresses)
  --timeout   per probe, 100ms..10s (default ${msText(TEST_TIMEOUT_MS)}); probes run 32 at a time
  --json      the same as one JSON object (targets[], summary)`,
  graph: `usage: island graph [-c FILE] [--host NAME] [--svg | -T|--format dot|svg|png|pdf]

Print the island as a Graphviz DOT graph: its sites, hosts, gateways, the tunnels with
their kind, VNI and ports, and the NAT a gateway sits behind (its outside address); from a
per-host file, this host's links, their remotes and its routes. Needs no daemon and no
root: a one-file island draws on any machine. When this host's daemon runs the same file,
its live state colours the graph: peers up (green), one-way (orange), down (red); objects
blocked or foreign (red).
  --svg, -T FORMAT   render with Graphviz's dot (apt install graphviz) instead of printing DOT
                     (-T is short for --format)`,
  'hosts-sync':
    'usage: island hosts-sync\n\nWrite the [hosts] names the sandboxed daemon handed over (/run/island/hosts) into /etc/hosts.\nRun by island-hosts.service.',
};

/** parseArgs' options, for every command (HELP says which one takes which). */
export const OPTIONS = {
  config: { type: 'string', short: 'c', default: CONFIG_PATH },
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  'exit-code': { type: 'boolean' },
  check: { type: 'boolean' },
  timeout: { type: 'string' },
  confirm: { type: 'boolean' },
  rollback: { type: 'boolean' },
  host: { type: 'string' },
  svg: { type: 'boolean' },
  format: { type: 'string', short: 'T' },
} as const;
