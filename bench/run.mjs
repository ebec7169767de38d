#!/usr/bin/env node
/**
 * island benchmarks: --help, check and daemon start (bench/startup.mjs), heal latency (with and without an underlay dev; with
 * it, also with [daemon] rcu_expedited = true, the host's setting put back afterwards), 500-tunnel converge, idle daemon cost, check time at 500 to 20,000
 * addresses (bench/check.mjs), firewall repair (bench/firewall.mjs).
 *
 *   npm run bench                  full run (50 deletions, 500 tunnels, 60 s idle), updates docs/benchmarks.md
 *   npm run bench -- --quick       fast iteration (20 deletions, 100 tunnels, 10 s idle), docs left alone
 *   node bench/run.mjs --only heal,converge,idle --profile --no-write
 *                                  (--profile: CPU profile + strace of island apply; automatic when
 *                                  the converge target is missed, unless --no-profile)
 *   BENCH_DEBUG=1 ...              also print the heal daemon's log
 *   ISLAND_CLI=path ...            another build of the CLI (default dist/cli.cjs, the entry
 *                                  /usr/sbin/island runs; a build before it: its dist/cli.js)
 *
 * Needs root, iproute2 and a built dist/cli.cjs. Everything runs in network
 * namespaces created here (isl-bench-...) and deleted afterwards, on
 * failure and on SIGINT/SIGTERM too. Exit 0: every benchmark ran (a missed
 * target is printed as MISSED, not an error); 1: a step failed; 2: cannot start.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// the floor's link as island's vxlan kind makes it: its MAC and its overhead
import { vxlan as vxlanKind } from '../dist/kinds/vxlan.js';
import { islandToml, vxlan } from '../test/helpers/toml.mjs';
import { benchCheck, checkDetails, checkRows, timed } from './check.mjs';
import { benchFirewall, firewallDetails, firewallRows, updateFirewallDoc } from './firewall.mjs';
import {
  BenchError,
  cleanupSync,
  cpuSeconds,
  EXPEDITED_WHY,
  eachMs,
  exec,
  expectRcuExpedited,
  HealWatcher,
  median,
  memory,
  percentile,
  RCU_EXPEDITED,
  rcuExpedited,
  realtime,
  run,
  sleep,
  startProcess,
  sum,
  teardowns,
  unitEnv,
  withExpeditedDaemon,
  withNetns,
} from './lib.mjs';
import { benchPmtu, pmtuDetails, pmtuRows } from './pmtu.mjs';
import { benchStartup, startupDetails, startupRows } from './startup.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = process.env.ISLAND_CLI ?? join(ROOT, 'dist', 'cli.cjs');
const DOC = join(ROOT, 'docs', 'benchmarks.md');
const NODE = process.execPath;

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (opt.help) {
  const doc = readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('*/')[0]
    .split('\n')
    .slice(2);
  process.stdout.write(
    `${doc
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n')
      .trim()}\n`,
  );
  process.exit(0);
}

const P = opt.quick
  ? { deletions: 20, baselineRuns: 5, tunnels: 100, runs: 3, idleS: 10 }
  : { deletions: 50, baselineRuns: 20, tunnels: 500, runs: 5, idleS: 60 };
/** space deletions of the same link so the daemon's repair limiter (burst 10, 1 per 200 ms) never engages */
const SPACING_MS = 300;
const HEAL_TIMEOUT_MS = 5000;
const TARGET = { healP99Ms: 10, convergeRatio: 1.5, noopHelpRatio: 1.2, idleCpuPct: 0.1 };
const BENCHES = ['startup', 'heal', 'converge', 'idle', 'check', 'firewall', 'pmtu'];
const only = new Set((opt.only ?? BENCHES.join(',')).split(',').map((s) => s.trim()));
for (const o of only) if (!BENCHES.includes(o)) usage(`unknown benchmark "${o}" in --only`);
const writeDoc = opt['no-write'] ? false : (opt.write ?? (!opt.quick && only.size === BENCHES.length));

function usage(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const log = (s) => process.stderr.write(`${s}\n`);
const fmtMs = (v) => (Number.isFinite(v) ? (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`) : 'n/a');

/* ------------------------------------------------------------------ preflight */

async function preflight() {
  if (process.getuid?.() !== 0) usage('must run as root (it creates network namespaces)');
  const ipv = await exec(['ip', '-V']).catch(() => undefined);
  if (ipv?.code !== 0) usage('iproute2 `ip` not found');
  if (!existsSync(CLI)) usage(`${CLI} is missing: build first (npm run build / npx tsc -p .)`);
  const help = await exec([NODE, CLI, '--help']);
  for (const cmd of ['daemon', 'apply', 'plan']) {
    if (!new RegExp(`^\\s+${cmd}\\s`, 'm').test(help.stdout)) {
      usage(
        `\`node dist/cli.js --help\` does not list the "${cmd}" command: is the CLI built and complete?\n${help.stdout}${help.stderr}`,
      );
    }
  }
}

/* ------------------------------------------------------------------ configs */

const ipv4 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const ipNum = (s) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

/**
 * n vxlan tunnels `${prefix}${i}`, all between 10.9.0.1 and 10.9.0.2 on one UDP
 * port, told apart by VNI; each with .2 of its own /30 (from addrBase) and a
 * route to its own /24 (from routeBase) via .1 of that /30.
 */
function tunnels(n, { prefix, vniBase, addrBase, routeBase }) {
  return Array.from({ length: n }, (_, i) => {
    const net = ipNum(addrBase) + 4 * i;
    return {
      name: `${prefix}${i}`,
      vni: vniBase + i,
      address: `${ipv4(net + 2)}/30`,
      peer: ipv4(net + 1),
      route: `${ipv4(ipNum(routeBase) + 256 * i)}/24`,
    };
  });
}

/**
 * @param {ReturnType<typeof tunnels>} ts
 * @param {{ port?: number, sourcePort?: number, dev?: string, resync?: string, debounce?: string, kernelOffload?: boolean, rcuExpedited?: boolean }} [o]
 */
function toml(
  ts,
  {
    port = 4789,
    sourcePort,
    dev,
    resync = '30s',
    debounce = '10ms',
    kernelOffload = false,
    rcuExpedited: rcu = false,
  } = {},
) {
  return islandToml({
    tunnel: ts.map((t) =>
      vxlan({
        name: t.name,
        vni: t.vni,
        local: '10.9.0.1',
        remote: '10.9.0.2',
        port,
        source_port: sourcePort || undefined,
        dev: dev || undefined,
        tx_checksum_offload: kernelOffload || undefined,
        addresses: [t.address],
      }),
    ),
    route: ts.map((t) => ({ to: t.route, via: t.peer, dev: t.name, metric: 100 })),
    daemon: { resync, debounce, rcu_expedited: rcu || undefined },
  });
}

/** The MTU of the namespaces' underlay (ul0, a veth): a vxlan of mtu "auto" gets it less VXLAN's overhead. */
const UNDERLAY_MTU = 1500;

/**
 * The end state `island apply` of toml(ts, o) builds (owner alias "island", route protocol 149),
 * as an ip -batch script from the same options, so that the two cannot drift apart (`island plan
 * --exit-code` on what it built must say no changes: the bench checks it). The kernel ignores
 * IFLA_IFALIAS on RTM_NEWLINK (`link add ... alias island` creates an unmarked, foreign link): the
 * alias is a request of its own, as it is for island. island's point-to-point vxlans do not learn
 * (see kinds/vxlan.ts): nolearning; a tunnel of mtu "auto" is its underlay's MTU less VXLAN's
 * overhead and copies DF from the inner packet: mtu 1450, df inherit; source_port p is the
 * kernel's range [p, p + 1). TX checksum offload is an ethtool request, which ip cannot send:
 * the converge file leaves it to the kernel (kernelOffload), the heal floor sends it after.
 *
 * `asIsland`: also island's requests that `island plan` does not compare, as island sends them
 * with each create (reconcile/apply.ts, createInPlace): the link's stable MAC, no IPv6 link-local
 * (addrgenmode none, before it is up: no addrconf, no router solicitations), an altname token
 * (`token`), and the alias and `up` in one request. The heal floor's: the work island's heal does.
 * @param {ReturnType<typeof tunnels>} ts
 * @param {{ port?: number, sourcePort?: number, dev?: string }} [o]
 * @param {{ asIsland?: boolean, token?: string }} [how]
 */
function ipBatch(ts, { port = 4789, sourcePort, dev } = {}, { asIsland = false, token = '' } = {}) {
  const out = [];
  for (const t of ts) {
    const mac = asIsland
      ? ` address ${[...vxlanKind.mac(t.name, { vni: t.vni, local: '10.9.0.1', remote: '10.9.0.2' })]
          .map((b) => b.toString(16).padStart(2, '0'))
          .join(':')}`
      : '';
    const vx = [
      `id ${t.vni} local 10.9.0.1 remote 10.9.0.2 dstport ${port}`,
      sourcePort ? `srcport ${sourcePort} ${sourcePort + 1}` : '',
      'nolearning df inherit',
      dev ? `dev ${dev}` : '',
    ];
    const mtu = UNDERLAY_MTU - vxlanKind.overhead(4);
    out.push(`link add ${t.name}${mac} mtu ${mtu} type vxlan ${vx.filter(Boolean).join(' ')}`);
    if (asIsland)
      out.push(
        `link set ${t.name} addrgenmode none`,
        `link property add dev ${t.name} altname ${token}`,
        `link set ${t.name} alias island up`,
        `addr add ${t.address} dev ${t.name}`,
      );
    else out.push(`link set ${t.name} alias island`, `addr add ${t.address} dev ${t.name}`, `link set ${t.name} up`);
    out.push(`route add ${t.route} via ${t.peer} dev ${t.name} metric 100 proto 149`);
  }
  return `${out.join('\n')}\n`;
}

const work = mkdtempSync(join(tmpdir(), 'island-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
// the daemons' control sockets in a directory of the bench's own: /run/island's may be another
// daemon's (a test's, or the host's), and a second daemon there logs an error
process.env.ISLAND_RUNTIME_DIR = join(work, 'run');
// every process measured here, island's and the references (node -e 0) alike, starts as
// /usr/sbin/island starts node (packaging/island.sh): without NODE_EXTRA_CA_CERTS, whose bundle
// node parses at every start (~38 ms of CPU where it names Debian's ca-certificates.crt)
const extraCerts = process.env.NODE_EXTRA_CA_CERTS !== undefined;
delete process.env.NODE_EXTRA_CA_CERTS;
function writeConfig(name, text) {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

/** Throws unless the namespace holds exactly the tunnels, up, with their address and route. */
async function verify(ns, ts, what) {
  const links = await ns.ipJson('link', 'show', 'type', 'vxlan');
  const addrs = await ns.ipJson('-4', 'addr', 'show');
  const routes = await ns.ipJson('route', 'show', 'proto', '149');
  const up = new Set(links.filter((l) => l.flags.includes('UP')).map((l) => l.ifname));
  const have = new Set(addrs.flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`)));
  const rts = new Set(routes.map((r) => `${r.dst} ${r.gateway} ${r.dev}`));
  const missing = [];
  for (const t of ts) {
    if (!up.has(t.name)) missing.push(`link ${t.name} (up)`);
    if (!have.has(`${t.name} ${t.address}`)) missing.push(`address ${t.address} on ${t.name}`);
    if (!rts.has(`${t.route} ${t.peer} ${t.name}`)) missing.push(`route ${t.route} via ${t.peer}`);
  }
  if (missing.length || links.length !== ts.length) {
    throw new BenchError(
      `${what}: namespace does not hold the expected state (${links.length} vxlan links for ${ts.length}); missing ${
        missing.length
      }: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    );
  }
}

/* ------------------------------------------------------------------ daemon */

/** Start `island daemon` inside ns; resolves once it says it runs. Lines are parsed JSON (or {raw}). */
async function startDaemon(ns, cfg) {
  const lines = [];
  // the unit's environment (NODE_OPTIONS): what the daemon runs with under systemd
  // a runtime directory of its own (bench/startup.mjs says why)
  const env = [...unitEnv(), `ISLAND_RUNTIME_DIR=${join(work, 'run')}`];
  const d = startProcess(['env', ...env, ...ns.argv([NODE, CLI, 'daemon', '-c', cfg])], (l) => {
    let o;
    try {
      o = JSON.parse(l);
    } catch {
      o = { raw: l };
    }
    o.at = performance.now();
    lines.push(o);
  });
  d.lines = lines;
  const deadline = performance.now() + 20_000;
  while (!lines.some((l) => l.msg === 'island daemon running')) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      throw new BenchError(
        `island daemon exited (${d.child.exitCode ?? d.child.signalCode}) before it ran:\n${tail(d)}`,
      );
    }
    if (performance.now() > deadline)
      throw new BenchError(`island daemon did not report "running" within 20 s:\n${tail(d)}`);
    await sleep(10);
  }
  const errors = lines.filter((l) => l.level >= 50);
  if (errors.length) throw new BenchError(`island daemon logged errors on start:\n${tail(d)}`);
  return d;
}

function tail(d, n = 15) {
  return [...d.lines.slice(-n).map((l) => l.raw ?? JSON.stringify(l)), d.stderr().trim()].filter(Boolean).join('\n');
}

async function stopDaemon(d) {
  const r = await d.stop(5000);
  if (r.code !== 0)
    throw new BenchError(`island daemon did not exit 0 on SIGTERM (${r.code ?? r.signal}):\n${tail(d)}`);
}

async function waitUntil(cond, ms, what) {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new BenchError(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/* ------------------------------------------------------------------ 1. heal */

/**
 * `ip link del vx0` in ns; returns the wall-clock time (ms since the epoch, µs
 * resolution) at which it returned, stamped by bash right after it, on the
 * same clock as ip monitor's stamps.
 */
async function deleteLink(ns) {
  const r = await run(realtime(ns.argv(['bash', '-c', 'ip link del vx0 && echo $EPOCHREALTIME'])));
  const t = Number(r.stdout.trim().replace(',', '.')) * 1000;
  if (!Number.isFinite(t)) throw new BenchError(`cannot read the deletion stamp from ${JSON.stringify(r.stdout)}`);
  return t;
}

/**
 * The daemon's heals of P.deletions deletions of vx0, each SPACING_MS after the last heal, with the
 * config cfg; `expedited`: the file sets `[daemon] rcu_expedited = true`, whose daemon must have
 * made the host's grace periods expedited before the first deletion.
 */
async function healDaemon(ns, w, cfg, ts, expedited) {
  const d = await startDaemon(ns, cfg);
  const daemon = [];
  const fromReturn = [];
  const delGap = [];
  /** first notification → the tunnel's RTM_DELLINK (the kernel's), and RTM_DELLINK → healed (island's) */
  const hold = [];
  const own = [];
  let unseen = 0;
  let passes;
  let throttled;
  try {
    await waitUntil(() => w.complete(), 10_000, 'the daemon to create vx0 with its address and route');
    await verify(ns, ts, 'daemon start');
    if (expedited)
      await expectRcuExpedited(`island daemon with [daemon] rcu_expedited = true in ${ns.name}`).catch((e) => {
        throw new BenchError(`${e.message}\ndaemon log:\n${tail(d)}`);
      });
    const before = d.lines.length;
    for (let i = 0; i < P.deletions; i++) {
      await sleep(SPACING_MS);
      const healed = w.nextHeal(HEAL_TIMEOUT_MS);
      healed.catch(() => {});
      const returned = await deleteLink(ns);
      const ev = await healed.catch((e) => {
        // ip monitor missed the deletion (it drops notifications when a loaded machine
        // leaves it behind): the tunnel is back, but this heal has no start to time
        if (w.delTs === undefined && w.complete()) return undefined;
        throw new BenchError(`deletion ${i + 1}: ${e.message}\ndaemon log:\n${tail(d)}`);
      });
      if (!ev) {
        unseen++;
        continue;
      }
      daemon.push(ev.ms);
      hold.push(ev.delTs - ev.firstTs);
      own.push(ev.healTs - ev.delTs);
      fromReturn.push(ev.healTs - returned);
      delGap.push(returned - ev.delTs);
    }
    await sleep(SPACING_MS);
    await verify(ns, ts, 'after the heal runs');
    passes = d.lines.slice(before).filter((l) => l.msg === 'reconciled');
    if (process.env.BENCH_DEBUG) for (const l of d.lines) log(JSON.stringify(l));
    throttled = d.lines.slice(before).filter((l) => /rate-limited|backing off/.test(l.msg ?? ''));
  } finally {
    await stopDaemon(d);
  }
  return {
    unseen,
    daemon,
    hold,
    own,
    fromReturn,
    delGap,
    passMs: passes.map((p) => p.ms).filter((x) => typeof x === 'number'),
    passActions: passes.map((p) => p.actions),
    throttled: throttled.length,
  };
}

/**
 * dev: the tunnel's underlay device (ul0), or none. expedited: then the same again with
 * `[daemon] rcu_expedited = true` in the daemon's file (no baseline), its floor under the same
 * setting, and the host's /sys/kernel/rcu_expedited put back as it was.
 */
async function benchHeal(dev, { expedited = false } = {}) {
  const ts = [{ name: 'vx0', vni: 333, address: '10.30.30.2/30', peer: '10.30.30.1', route: '192.168.3.0/24' }];
  // the tunnel as the daemon's file declares it and as the floor's requests build it
  const def = { port: 5533, sourcePort: 5533, dev };
  const file = (o) => toml(ts, { ...def, ...o });
  const cfg = writeConfig(`heal${dev ? '-dev' : ''}.toml`, file({}));
  const cfgX = expedited ? writeConfig(`heal${dev ? '-dev' : ''}-rcu.toml`, file({ rcuExpedited: true })) : '';
  await run([NODE, CLI, 'check', '-c', cfg]);
  if (cfgX) await run([NODE, CLI, 'check', '-c', cfgX]);
  return withNetns('heal', async (ns) => {
    const w = await new HealWatcher(ns, {
      link: 'vx0',
      address: '10.30.30.2/30',
      route: '192.168.3.0/24',
      dev,
    }).start();
    try {
      const where = `heal${dev ? ` (dev ${dev})` : ''}`;
      const rcu = rcuExpedited();
      if (rcu !== '0') log(`${where}: the host's ${RCU_EXPEDITED} reads ${rcu}: the default rows are not the default`);
      log(`${where}: daemon in ${ns.name}, ${P.deletions} deletions ${SPACING_MS} ms apart`);
      const heals = await healDaemon(ns, w, cfg, ts, false);

      log(`heal: baseline, ${P.baselineRuns} x (ip link del; island apply)`);
      const script = [];
      const scriptFromReturn = [];
      const applyWall = [];
      for (let i = 0; i < P.baselineRuns; i++) {
        await sleep(SPACING_MS);
        const healed = w.nextHeal(HEAL_TIMEOUT_MS * 4);
        healed.catch(() => {});
        const returned = await deleteLink(ns);
        const r = await run(ns.argv([NODE, CLI, 'apply', '-c', cfg]));
        const ev = await healed;
        script.push(ev.ms);
        scriptFromReturn.push(ev.healTs - returned);
        applyWall.push(r.ms);
      }
      await verify(ns, ts, 'after the baseline runs');

      const floor = await healFloor(ns, w, ts, def, cfg);
      await verify(ns, ts, 'after the floor runs');

      // last, so that a daemon's 1 left on the host (put back only at the end) touches no other row
      const fast = cfgX
        ? await withExpeditedDaemon(
            () => {
              log(`${where}: [daemon] rcu_expedited = true, ${P.deletions} deletions`);
              return healDaemon(ns, w, cfgX, ts, true);
            },
            async () => {
              const f = await healFloor(ns, w, ts, def, cfgX, ' with rcu_expedited 1');
              await verify(ns, ts, 'after the expedited floor runs');
              return f;
            },
          )
        : undefined;
      return {
        ...heals,
        rcu,
        floor,
        dev,
        script,
        scriptFromReturn,
        applyWall,
        expedited: fast,
      };
    } finally {
      await w.stop();
    }
  });
}

/**
 * The floor of a heal: island's requests for the tunnel of the file cfg (ipBatch, asIsland: the
 * link, its MAC, no IPv6 link-local, its marks, up, its address and its route, from the options
 * `o` that file was written from), already written out and handed to an `ip -batch` waiting on
 * its input the moment the first notification of the deletion is read (the underlay's, with dev).
 * They are sent while the kernel still holds RTNL for the deletion, wait for it, and run the
 * moment it lets go: nothing can be healed earlier. island's ethtool request (TX checksum offload
 * off), one round trip after its route, follows the heal, untimed. After the first heal and the
 * last, `island plan --exit-code -c cfg` must find nothing to do and `ip -d link` must show the
 * link as island's daemon left it (less its ifindex and altname, which island draws at random):
 * a floor that builds less than island does is no floor.
 * @param {ReturnType<typeof tunnels>} ts one tunnel
 * @param {{ port?: number, sourcePort?: number, dev?: string, kernelOffload?: boolean }} o
 */
async function healFloor(ns, w, ts, o, cfg, how = '') {
  const t = ts[0];
  log(
    `heal${o.dev ? ` (dev ${o.dev})` : ''}: floor${how}, ${P.deletions} x (ip link del; a waiting ip -batch fed at the first notification)`,
  );
  const island = await linkShape(ns, t.name);
  const script = ipBatch(ts, o, { asIsland: true, token: `island-${randomBytes(4).toString('hex')}` });
  const whole = [];
  const hold = [];
  const after = [];
  try {
    for (let i = 0; i < P.deletions; i++) {
      await sleep(SPACING_MS);
      const b = startProcess(ns.argv(['ip', '-batch', '-']), () => {}, { stdin: true });
      w.onFirst = () => b.child.stdin.end(script);
      const healed = w.nextHeal(HEAL_TIMEOUT_MS);
      healed.catch(() => {});
      await deleteLink(ns);
      const ev = await healed.catch((e) => {
        throw new BenchError(`floor deletion ${i + 1}: ${e.message}\n${b.stderr()}`);
      });
      const r = await b.exited;
      if (r.code !== 0) throw new BenchError(`floor deletion ${i + 1}: ip -batch exited ${r.code}:\n${b.stderr()}`);
      // island's ethtool request (kinds/vxlan.ts), one round trip after its route: outside the outage
      if (!o.kernelOffload) await run(ns.argv(['ethtool', '-K', t.name, 'tx-checksum-ip-generic', 'off']));
      whole.push(ev.ms);
      hold.push(ev.delTs - ev.firstTs);
      after.push(ev.healTs - ev.delTs);
      if (i === 0 || i === P.deletions - 1) await sameAsIsland(ns, t.name, island, cfg, `floor deletion ${i + 1}`);
    }
  } finally {
    w.onFirst = undefined;
  }
  return { whole, hold, after };
}

/** `ip -d -j link show` of a link, less what island draws at random for each create (ifindex, altname token). */
async function linkShape(ns, name) {
  const [l] = await ns.ipJson('-d', 'link', 'show', name);
  if (!l) throw new BenchError(`no link ${name} in ${ns.name}`);
  const { ifindex: _i, altnames: _a, ...shape } = l;
  return JSON.stringify(shape);
}

/** Throws unless the namespace holds what cfg declares (island plan finds nothing to do) and the link is shaped as island's. */
async function sameAsIsland(ns, name, island, cfg, what) {
  const p = await exec(ns.argv([NODE, CLI, 'plan', '--exit-code', '-c', cfg]));
  if (p.code !== 0)
    throw new BenchError(
      `${what}: the floor did not build what ${cfg} declares (island plan --exit-code ${p.code}):\n${`${p.stdout}${p.stderr}`.trim()}`,
    );
  const mine = await linkShape(ns, name);
  if (mine !== island)
    throw new BenchError(`${what}: the floor's ${name} is not island's:\nisland: ${island}\nfloor:  ${mine}`);
}

/* ------------------------------------------------------------------ 2. converge */

/**
 * run(), with the CPU (user + system) the process used beside its wall time: on a shared
 * machine the wall time of a ~0.2 s command moves with the load, its CPU much less. The rows
 * give medians, as the wall rows do.
 */
async function runCpu(argv) {
  const r = await timed(argv);
  if (r.code !== 0)
    throw new BenchError(`\`${argv.join(' ')}\` exited ${r.code}:\n${`${r.stderr}\n${r.stdout}`.trim()}`);
  return r;
}

async function benchConverge() {
  const ts = tunnels(P.tunnels, { prefix: 'vxb', vniBase: 10_000, addrBase: '10.64.0.0', routeBase: '172.16.0.0' });
  // ip -batch cannot set ethtool features: both leave TX checksum offload as the kernel has it
  const cfg = writeConfig('converge.toml', toml(ts, { kernelOffload: true }));
  const batch = writeConfig('converge.batch', ipBatch(ts));
  await run([NODE, CLI, 'check', '-c', cfg]);
  const island = [];
  const noop = [];
  const ipb = [];
  const cpu = { island: [], noop: [], ipb: [], startup: [], bare: [], check: [] };
  let equivalent;
  for (let r = 0; r < P.runs; r++) {
    log(`converge: run ${r + 1}/${P.runs}: island apply, ${P.tunnels} tunnels`);
    await withNetns('conv-isl', async (ns) => {
      const a = await runCpu(ns.argv([NODE, CLI, 'apply', '-c', cfg]));
      island.push(a.ms);
      cpu.island.push(a.cpuMs);
      await verify(ns, ts, 'island apply');
      const n = await runCpu(ns.argv([NODE, CLI, 'apply', '-c', cfg]));
      if (!/no changes/.test(n.stdout))
        throw new BenchError(`second island apply was not a no-op:\n${n.stdout.slice(0, 2000)}`);
      noop.push(n.ms);
      cpu.noop.push(n.cpuMs);
    });
    log(`converge: run ${r + 1}/${P.runs}: ip -batch, ${P.tunnels} tunnels`);
    await withNetns('conv-ipb', async (ns) => {
      const b = await runCpu(ns.argv(['ip', '-batch', batch]));
      ipb.push(b.ms);
      cpu.ipb.push(b.cpuMs);
      await verify(ns, ts, 'ip -batch');
      if (equivalent === undefined) {
        // same end state? island must find the host matching the file: nothing to do, nothing
        // foreign or blocked (plan --exit-code 0; 2 changes pending, 3 the file is not reached)
        const p = await exec(ns.argv([NODE, CLI, 'plan', '--exit-code', '-c', cfg]), { timeoutMs: 300_000 });
        equivalent =
          p.code === 0 ? true : `plan --exit-code ${p.code}: ${p.stdout.split('\n').slice(0, 3).join(' | ')}`;
        // a reference that builds something else makes the comparison meaningless
        if (equivalent !== true)
          throw new BenchError(`the ip -batch reference does not build island's end state: ${equivalent}`);
      }
    });
  }
  // the floors under any one-shot run: node starting (and with ip -batch's time, a node program
  // that sent ip's requests and did nothing else); node starting and loading the CLI's modules;
  // and loading + validating the config, with no netlink at all (what a no-op does first)
  const bare = [];
  const startup = [];
  const check = [];
  for (let r = 0; r < P.runs; r++) {
    for (const [ms, cpuMs, argv] of [
      [bare, cpu.bare, [NODE, '-e', '0']],
      [startup, cpu.startup, [NODE, CLI, '--help']],
      [check, cpu.check, [NODE, CLI, 'check', '-c', cfg]],
    ]) {
      const t = await runCpu(argv);
      ms.push(t.ms);
      cpuMs.push(t.cpuMs);
    }
  }
  // a missed target comes with where the time goes
  let profile;
  const missed = median(island) / median(ipb) > TARGET.convergeRatio;
  if (opt.profile || (missed && !opt['no-profile'])) {
    log(`converge: profiling island apply${missed ? ' (target missed)' : ''}`);
    profile = await profileApply(cfg);
  }
  return { island, noop, ipb, cpu, equivalent, bare, startup, check, profile };
}

/**
 * Where the time goes: `island apply` of the converge config under --cpu-prof,
 * from empty and again as a no-op, and once more under strace -c -f.
 */
async function profileApply(cfg) {
  const out = {};
  await withNetns('prof', async (ns) => {
    for (const phase of ['converge', 'noop']) {
      const dir = join(work, `prof-${phase}`);
      const a = await run(ns.argv([NODE, '--cpu-prof', `--cpu-prof-dir=${dir}`, CLI, 'apply', '-c', cfg]), {
        timeoutMs: 300_000,
      });
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      out[phase] = { wallMs: a.ms, ...summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8'))) };
    }
  });
  const hasStrace = await exec(['strace', '-V']).catch(() => undefined);
  if (hasStrace?.code === 0) {
    await withNetns('strace', async (ns) => {
      const o = join(work, 'strace.txt');
      await run(['strace', '-c', '-f', '-o', o, ...ns.argv([NODE, CLI, 'apply', '-c', cfg])], { timeoutMs: 600_000 });
      out.strace = readFileSync(o, 'utf8').split('\n').slice(0, 14).join('\n');
    });
  }
  return out;
}

function summariseProfile(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const total = sum(prof.timeDeltas) / 1000;
  prof.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}\t${where}`;
    self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  });
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([k, v]) => [k.replace('\t', ' ').trim(), v]);
  // the same, grouped by where the code lives: a package, a dist/ folder, node's internals
  const groups = new Map();
  for (const [k, v] of self) {
    const [name, where] = k.split('\t');
    let g;
    if (where.startsWith('node_modules/')) g = /^node_modules\/((@[^/]+\/)?[^/]+)/.exec(where)[0];
    else if (where.startsWith('dist/')) g = where.replace(/\/[^/]*$/, '/');
    else if (where.startsWith('node:')) g = 'node: internals (module loader, streams, ...)';
    else if (!where && name.startsWith('(')) g = name;
    else if (!where) g = 'native functions (fs, netlink addon, ...)';
    else g = where;
    groups.set(g, (groups.get(g) ?? 0) + v);
  }
  // who calls the hottest functions: self time by the 5 frames above them
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frame = (f) =>
    `${f.functionName || '(anonymous)'}@${f.url ? f.url.split('/').slice(-2).join('/') : ''}:${f.lineNumber + 1}`;
  const hot = new Set(
    top
      .slice(0, 6)
      .map(([k]) => k)
      .filter((k) => !k.startsWith('(')),
  );
  const chains = new Map();
  prof.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '')}:${f.lineNumber + 1}` : '';
    if (!hot.has(`${f.functionName || '(anonymous)'} ${where}`.trim())) return;
    const chain = [];
    for (let p = id, k = 0; p !== undefined && k < 6; p = parent.get(p), k++) chain.push(frame(byId.get(p).callFrame));
    const key = chain.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  });
  return {
    totalMs: total,
    top,
    groups: [...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10),
    chains: [...chains.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6),
  };
}

/* ------------------------------------------------------------------ 3. idle */

async function benchIdle() {
  const ts = tunnels(10, { prefix: 'vxi', vniBase: 20_000, addrBase: '10.68.0.0', routeBase: '172.20.0.0' });
  const cfg = writeConfig('idle.toml', toml(ts));
  await run([NODE, CLI, 'check', '-c', cfg]);
  return withNetns('idle', async (ns) => {
    const d = await startDaemon(ns, cfg);
    try {
      await waitUntil(() => d.lines.some((l) => l.msg === 'reconciled'), 10_000, 'the first converge');
      await verify(ns, ts, 'idle daemon start');
      const pid = d.child.pid;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/cli\.c?js/.test(cmd)) throw new BenchError(`pid ${pid} is not the daemon (${cmd.replaceAll('\0', ' ')})`);
      await sleep(2000);
      log(`idle: ${P.idleS} s, ${ts.length} tunnels, pid ${pid}`);
      // the reference, idling beside it: node waking once a second as the daemon's legacy
      // iptables look does, and nothing else. What each wakeup of a sleeping process costs is the
      // machine's (a virtual CPU resumed for it): this shows it.
      const ref = startProcess([NODE, '-e', 'setInterval(() => {}, 1000)'], () => {});
      await sleep(500);
      const before = d.lines.length;
      const c0 = cpuSeconds(pid);
      const r0 = cpuSeconds(ref.child.pid);
      const t0 = performance.now();
      // sampled every second too, to tell a steady drip from bursts (resync passes, GC)
      const bursts = [];
      let prev = c0;
      for (let s = 1; s <= P.idleS; s++) {
        await sleep(t0 + s * 1000 - performance.now());
        const c = cpuSeconds(pid);
        if (c - prev >= 0.001) bursts.push([s, (c - prev) * 1000]);
        prev = c;
      }
      const cpu = cpuSeconds(pid) - c0;
      const refCpu = cpuSeconds(ref.child.pid) - r0;
      const secs = (performance.now() - t0) / 1000;
      await ref.stop();
      const mem = memory(pid);
      const during = d.lines.slice(before);
      await verify(ns, ts, 'after idling');
      return {
        cpu,
        refCpu,
        secs,
        cpuPct: (cpu / secs) * 100,
        bursts,
        ...mem,
        logLines: during.length,
        actions: during.filter((l) => l.msg === 'reconciled').reduce((a, l) => a + (l.actions ?? 0), 0),
      };
    } finally {
      await stopDaemon(d);
    }
  });
}

/* ------------------------------------------------------------------ report */

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {}
  return {
    nproc: Number(execFileSync('nproc').toString().trim()),
    model: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: `${process.version}${extraCerts ? ' (NODE_EXTRA_CA_CERTS unset, as /usr/sbin/island does)' : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit,
  };
}

const verdict = (ok) => (ok ? 'OK' : 'MISSED');

/**
 * The table rows of one heal run: its outage (p50, p99 judged on the target, max), split into the
 * kernel's hold and island's part, and its floor. `script`: the baseline's outages, when it ran.
 */
function healRows(heal, title, script) {
  const t = `≤ ${TARGET.healP99Ms} ms`;
  const pp = (v) => `${fmtMs(percentile(v, 50))} / ${fmtMs(percentile(v, 99))}`;
  const ref = (f) => (script ? fmtMs(f(script)) : '');
  const p99 = percentile(heal.daemon, 99);
  return [
    [title, 'p50', fmtMs(percentile(heal.daemon, 50)), ref((v) => percentile(v, 50)), '', ''],
    [
      '',
      'p99',
      fmtMs(p99),
      ref((v) => percentile(v, 99)),
      t,
      p99 <= TARGET.healP99Ms
        ? 'OK'
        : `MISSED (kernel's hold p99 ${fmtMs(percentile(heal.hold, 99))}, island's part p99 ${fmtMs(percentile(heal.own, 99))})`,
    ],
    ['', 'max', fmtMs(Math.max(...heal.daemon)), ref((v) => Math.max(...v)), '', ''],
    [
      `  of which the kernel's hold: first notification → ${heal.dev ? 'the tunnel' : 'its'} RTM_DELLINK (RTNL held)`,
      'p50/p99',
      pp(heal.hold),
      '',
      '',
      '',
    ],
    [
      "  and island's part: RTM_DELLINK → healed",
      'p50/p99',
      pp(heal.own),
      '',
      t,
      verdict(percentile(heal.own, 99) <= TARGET.healP99Ms),
    ],
    [
      `  floor: pre-written ip -batch fed at the first notification (n=${heal.floor.whole.length}): outage; hold; after RTM_DELLINK`,
      'p50/p99',
      `${pp(heal.floor.whole)}; ${pp(heal.floor.hold)}; ${pp(heal.floor.after)}`,
      '',
      '',
      '',
    ],
  ];
}

function rows(res) {
  const R = [];
  const { converge, idle } = res;
  if (res.startup) R.push(...startupRows(res.startup));
  for (const heal of res.heals ?? []) {
    const where = heal.dev ? `dev ${heal.dev}` : 'no dev';
    R.push(
      ...healRows(
        heal,
        `heal after ip link del, ${where}${heal.expedited ? `, the kernel's grace periods (rcu_expedited ${heal.rcu})` : ''}: the outage, from the first notification (n=${heal.daemon.length}; baseline island apply, n=${heal.script.length})`,
        heal.script,
      ),
    );
    if (heal.expedited)
      R.push(
        ...healRows(
          { ...heal.expedited, dev: heal.dev },
          `heal after ip link del, ${where}, expedited grace periods ([daemon] rcu_expedited = true; host-wide, IPIs to every busy CPU): the outage (n=${heal.expedited.daemon.length})`,
        ),
      );
  }
  if (converge) {
    // each row with the floor under it, measured in the same run: where a floor is above the
    // target, the row says so (no node program that sends ip's requests, or no island that reads
    // and checks its file first, meets it on this machine)
    const w = converge;
    const c = converge.cpu;
    const sendOnly = "  floor: node -e 0 + ip -batch (a node program that only sent ip's requests)";
    const checkOnly = '  floor: island check of the same file (what a no-op reads and validates first)';
    const lines = [
      ['converge', 'empty netns', w.island, w.ipb, 'ip -batch', TARGET.convergeRatio, sendOnly, [w.bare, w.ipb]],
      ['no-op converge', '', w.noop, w.startup, '--help', TARGET.noopHelpRatio, checkOnly, [w.check]],
      ['converge', 'CPU', c.island, c.ipb, 'ip -batch', TARGET.convergeRatio, sendOnly, [c.bare, c.ipb]],
      ['no-op converge', 'CPU', c.noop, c.startup, '--help', TARGET.noopHelpRatio, checkOnly, [c.check]],
    ];
    for (const [what, how, mine, ref, refName, target, floorName, floorParts] of lines) {
      const r = median(mine) / median(ref);
      const floor = sum(floorParts.map(median));
      const fr = floor / median(ref);
      const under = fr > target ? `; floor ${fr.toFixed(2)}×, above the target` : '';
      R.push([
        `${what} ${P.tunnels} tunnels${how ? `, ${how}` : ''} (${P.runs} runs)`,
        'median',
        fmtMs(median(mine)),
        `${fmtMs(median(ref))} (${refName})`,
        `≤ ${target}× ${refName}`,
        `${verdict(r <= target)} (${r.toFixed(2)}×${under})`,
      ]);
      R.push([floorName, 'median', fmtMs(floor), `${fmtMs(median(ref))} (${refName})`, '', `${fr.toFixed(2)}×`]);
    }
  }
  if (idle) {
    const budget = (TARGET.idleCpuPct / 100) * idle.secs;
    R.push([
      `idle daemon, 10 tunnels, ${Math.round(idle.secs)} s`,
      'VmRSS',
      `${idle.rssMiB.toFixed(1)} MiB`,
      '',
      '',
      '',
    ]);
    R.push([
      '',
      'CPU',
      `${idle.cpu.toFixed(3)} s (${idle.cpuPct.toFixed(3)} %)`,
      `${idle.refCpu.toFixed(3)} s (node, one 1 s timer)`,
      `≈ 0 (≤ ${budget.toFixed(2)} s)`,
      verdict(idle.cpu <= budget + 1e-9),
    ]);
  }
  if (res.check) R.push(...checkRows(res.check));
  if (res.pmtu) R.push(...pmtuRows(res.pmtu));
  return R;
}

const HEAD = ['benchmark', 'metric', 'island', 'baseline', 'target', 'result'];

function textTable(R) {
  const all = [HEAD, ...R];
  const w = HEAD.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) =>
    r
      .map((x, c) => String(x).padEnd(w[c]))
      .join('  ')
      .trimEnd();
  return [line(HEAD), w.map((n) => '-'.repeat(n)).join('  '), ...R.map(line)].join('\n');
}

function mdTable(R) {
  return [
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map(() => ' --- ').join('|')}|`,
    ...R.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const dist = (v) =>
  `p50 ${fmtMs(percentile(v, 50))}, p90 ${fmtMs(percentile(v, 90))}, p99 ${fmtMs(percentile(v, 99))}, max ${fmtMs(Math.max(...v))}`;

/** The details of one heal run (the daemon's and its floor), `what` naming it. */
function healDetails(heal, what) {
  return [
    `- heal, ${what}, daemon, from the first kernel notification the deletion causes (the underlay's, with dev; the tunnel going down otherwise: the outage): ${heal.daemon.length} deletions; p50 ${fmtMs(
      percentile(heal.daemon, 50),
    )}, p90 ${fmtMs(percentile(heal.daemon, 90))}, p99 ${fmtMs(percentile(heal.daemon, 99))}, min ${fmtMs(
      Math.min(...heal.daemon),
    )}, max ${fmtMs(Math.max(...heal.daemon))}${heal.unseen ? `; ${heal.unseen} more deletion(s) healed but not timed (ip monitor missed the deletion)` : ''}.`,
    `- heal, ${what}, where the outage goes: the kernel's hold, from the first notification to the tunnel's RTM_DELLINK (${heal.dev ? `the underlay's RTM_NEWLINK as the kernel unlinks the tunnel from it, then the tunnel going down, all under RTNL: a create sent meanwhile waits for RTNL and runs only once the deletion is done` : 'the tunnel going down, then its RTM_DELLINK'}), ${dist(heal.hold)}; island's part, RTM_DELLINK → healed, ${dist(heal.own)}. The floor (a waiting \`ip -batch\` fed the pre-written requests as the first notification is read, in the same namespace): outage ${dist(heal.floor.whole)}; hold ${dist(heal.floor.hold)}; RTM_DELLINK → healed ${dist(heal.floor.after)}.`,
    `- heal, ${what}, daemon, from \`ip link del\` returning (bash's $EPOCHREALTIME right after it): p50 ${fmtMs(
      percentile(heal.fromReturn, 50),
    )}, p99 ${fmtMs(percentile(heal.fromReturn, 99))}, max ${fmtMs(Math.max(...heal.fromReturn))}. \`ip link del\` itself returned p50 ${fmtMs(
      percentile(heal.delGap, 50),
    )} (max ${fmtMs(Math.max(...heal.delGap))}) after the kernel announced the deletion; the daemon heals during that time.`,
    `- heal, ${what}, the daemon's own "reconciled" lines during the run: ${heal.passMs.length} passes, pass time p50 ${fmtMs(
      percentile(heal.passMs, 50),
    )} / max ${fmtMs(Math.max(...heal.passMs))}, actions per pass ${[...new Set(heal.passActions)].join('/')}; debounce 10 ms; rate-limit warnings: ${heal.throttled}.`,
  ];
}

function details(res) {
  const out = [];
  const { converge, idle } = res;
  if (res.startup) out.push(...startupDetails(res.startup));
  for (const heal of res.heals ?? []) {
    const where = heal.dev ? `dev ${heal.dev}` : 'no dev';
    out.push(
      ...healDetails(
        heal,
        `${heal.dev ? `tunnel on dev ${heal.dev}` : 'tunnel without dev'}${heal.expedited ? `, the kernel's grace periods (the host's rcu_expedited ${heal.rcu})` : ''}`,
      ),
      `- heal, baseline (\`ip link del\`, then \`island apply\` started at once): p50 ${fmtMs(
        percentile(heal.script, 50),
      )} from deletion, ${fmtMs(percentile(heal.scriptFromReturn, 50))} from \`ip link del\` returning; the apply process itself took p50 ${fmtMs(percentile(heal.applyWall, 50))} wall (start to exit).`,
    );
    if (heal.expedited)
      out.push(
        `- heal, ${where}, expedited: the same daemon and deletions with \`[daemon] rcu_expedited = true\` in its file, then the same floor, after the rows above. The daemon wrote 1 to ${RCU_EXPEDITED} (the bench checks it reads 1 before the first deletion and after the floor; it was ${heal.expedited.host} and is put back after the floor). The kernel's hold is the deletion waiting out an RCU grace period under RTNL; ${EXPEDITED_WHY}.`,
        ...healDetails({ ...heal.expedited, dev: heal.dev }, `${where}, expedited grace periods`),
      );
  }
  if (converge) {
    out.push(
      `- converge, island apply runs: ${converge.island.map(fmtMs).join(', ')}; ip -batch runs: ${converge.ipb
        .map(fmtMs)
        .join(', ')}; no-op apply runs: ${converge.noop.map(fmtMs).join(', ')}.`,
      `- converge, CPU (user + system) of each run, ms: island apply ${eachMs(converge.cpu.island)}; ip -batch ${eachMs(
        converge.cpu.ipb,
      )}; no-op apply ${eachMs(converge.cpu.noop)}; --help ${eachMs(converge.cpu.startup)}.`,
      `- where island's apply time goes (medians): node start + loading island's modules (\`island --help\`; \`node -e 0\` alone takes ${fmtMs(median(converge.bare))}) ${fmtMs(
        median(converge.startup),
      )}; + reading and validating the ${P.tunnels}-tunnel file (\`island check\` − that) ${fmtMs(
        median(converge.check) - median(converge.startup),
      )}; + the netlink converge itself (\`island apply\` − \`island check\`) ${fmtMs(
        median(converge.island) - median(converge.check),
      )}, or ${fmtMs(median(converge.noop) - median(converge.check))} when there is nothing to do.`,
      `- ip -batch end state equals island's (\`island plan --exit-code\` on it exits 0; the bench fails otherwise): ${
        converge.equivalent === true ? 'yes' : `NO: ${converge.equivalent}`
      }.`,
    );
  }
  if (res.check) out.push(...checkDetails(res.check));
  if (res.pmtu) out.push(...pmtuDetails(res.pmtu));
  if (idle) {
    out.push(
      `- idle: VmRSS ${idle.rssMiB.toFixed(1)} MiB (VmHWM ${idle.hwmMiB.toFixed(1)} MiB), CPU ${idle.cpu.toFixed(3)} s in ${idle.secs.toFixed(
        1,
      )} s (the threads' schedstat), ${idle.logLines} log lines and ${idle.actions} actions while idle; CPU per second where 1 ms or more: ${
        idle.bursts.map(([t, ms]) => `${t} s: ${ms.toFixed(1)} ms`).join(', ') || 'none'
      } (resync every 30 s). Beside it over the same window, \`node -e 'setInterval(() => {}, 1000)'\` (one wakeup a second, as the daemon's look for legacy iptables tables): ${idle.refCpu.toFixed(
        3,
      )} s.`,
    );
  }
  return out;
}

function profileText(p) {
  if (!p) return '';
  const out = [];
  for (const [phase, what] of [
    ['converge', 'from an empty namespace'],
    ['noop', 'again, nothing to do'],
  ]) {
    const c = p[phase];
    out.push(
      `island apply ${what}, under --cpu-prof: ${fmtMs(c.wallMs)} wall, ${fmtMs(c.totalMs)} sampled.`,
      'self time by origin:',
    );
    for (const [k, v] of c.groups) out.push(`  ${v.toFixed(1).padStart(8)} ms  ${k}`);
    out.push('top functions by self time:');
    for (const [k, v] of c.top) out.push(`  ${v.toFixed(1).padStart(8)} ms  ${k}`);
    out.push('the hottest functions, by caller chain:');
    for (const [k, v] of c.chains) out.push(`  ${v.toFixed(1).padStart(8)} ms  ${k}`);
    out.push('');
  }
  if (p.strace) out.push('strace -c -f of one more apply from empty:', p.strace);
  return out.join('\n');
}

function updateDoc(m, R, res) {
  const body = [
    '<!-- bench:results:start (written by `npm run bench`; everything up to the end marker is replaced) -->',
    '## Latest results',
    '',
    `Machine: ${m.nproc} CPUs (${m.model}), Linux ${m.kernel}, Node ${m.node}; ${m.date}${m.commit ? `, island ${m.commit}` : ''}; 1-min load average ${m.load} (start → end).`,
    '',
    mdTable(R),
    '',
    ...details(res),
    ...(res.converge?.profile ? ['', '```', profileText(res.converge.profile), '```'] : []),
    '<!-- bench:results:end -->',
  ].join('\n');
  let doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const re = /<!-- bench:results:start[\s\S]*?<!-- bench:results:end -->/;
  doc = re.test(doc) ? doc.replace(re, body) : `${doc.trimEnd()}\n\n${body}\n`;
  writeFileSync(DOC, doc);
}

/* ------------------------------------------------------------------ main */

async function main() {
  await preflight();
  const m = machine();
  log(`machine: ${m.nproc} x ${m.model}, Linux ${m.kernel}, Node ${m.node}${opt.quick ? ' (--quick)' : ''}`);
  const res = {};
  const load = [loadavg()[0]];
  if (only.has('startup'))
    res.startup = await benchStartup({
      quick: opt.quick,
      node: NODE,
      cli: CLI,
      work,
      log,
      lab: join(ROOT, 'etc', 'examples', 'lab.toml'),
      config: (n) =>
        toml(tunnels(n, { prefix: 'vxs', vniBase: 10_000, addrBase: '10.64.0.0', routeBase: '172.16.0.0' })),
    });
  if (only.has('heal')) res.heals = [await benchHeal(), await benchHeal('ul0', { expedited: true })];
  if (only.has('converge')) res.converge = await benchConverge();
  if (only.has('idle')) res.idle = await benchIdle();
  if (only.has('check')) res.check = await benchCheck({ quick: opt.quick, node: NODE, cli: CLI, work, log });
  if (only.has('firewall')) res.firewall = await benchFirewall({ quick: opt.quick, node: NODE, cli: CLI, work, log });
  if (only.has('pmtu')) res.pmtu = await benchPmtu({ dist: join(ROOT, 'dist'), log });
  load.push(loadavg()[0]);
  if (teardowns.length)
    log(
      `namespaces deleted: ${teardowns.length}, each waited for until the kernel tore it down: p50 ${fmtMs(median(teardowns))}, max ${fmtMs(Math.max(...teardowns))}, ${(sum(teardowns) / 1000).toFixed(1)} s in all`,
    );
  m.load = load.map((l) => l.toFixed(2)).join(' → ');
  const R = rows(res);
  if (R.length) process.stdout.write(`\n${textTable(R)}\n\n${details(res).join('\n')}\n`);
  if (res.converge?.profile) process.stdout.write(`\n${profileText(res.converge.profile)}\n`);
  if (res.firewall)
    process.stdout.write(`\n${textTable(firewallRows(res.firewall))}\n\n${firewallDetails(res.firewall).join('\n')}\n`);
  process.stdout.write(
    `\nmachine: ${m.nproc} CPUs, ${m.model}, Linux ${m.kernel}, Node ${m.node}, ${m.date}, load ${m.load}\n`,
  );
  if (writeDoc) {
    // each section is replaced only by a run that measured it
    if (R.length) updateDoc(m, R, res);
    if (res.firewall) updateFirewallDoc(DOC, m, res.firewall, mdTable);
    process.stdout.write(`results written to ${DOC}\n`);
  } else {
    process.stdout.write('docs/benchmarks.md not updated (quick or partial run; --write forces it)\n');
  }
}

main().then(
  () => {
    cleanupSync();
    process.exit(0);
  },
  (e) => {
    cleanupSync();
    process.stderr.write(`\nbench: FAILED: ${e instanceof BenchError ? e.message : (e?.stack ?? e)}\n`);
    process.exit(1);
  },
);
