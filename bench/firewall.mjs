/**
 * Firewall benchmark (part of `npm run bench`, or `--only firewall`):
 *
 * - repair latency after `iptables -F FORWARD`, island daemon, nft backend:
 *   from the kernel's notification of the flush (the first one it causes: the
 *   rule is gone from then on) to the notification of island's jump coming
 *   back, both seen by an independent observer (bench/firewall-monitor.mjs,
 *   its own NETLINK_NETFILTER socket). Split in two: the kernel's hold, from
 *   that notification to `iptables -F` returning (iptables-nft closes its
 *   netlink socket right after sending the flush, and the kernel's release of
 *   that socket holds nf_tables' commit mutex while it waits out an RCU grace
 *   period: no write of anyone's commits before), and island's part, from
 *   there to the jump's notification;
 * - the floor, in its own namespace with the same rules (island apply) and the same flush:
 *   a second monitor, at the daemon's (normal) priority, sends island's repair
 *   (its chain emptied, the deleted jump, the chain's rules), pre-built, the
 *   moment the flush's transaction is notified (firewall-monitor.mjs --respond);
 * - both again with `[daemon] rcu_expedited = true` in the daemon's file: its daemon makes the
 *   host's RCU grace periods expedited (/sys/kernel/rcu_expedited, which the bench puts back as it
 *   found it afterwards), and the floor runs under the same setting;
 * - the same with the legacy backend (default 1 s poll), which raises no
 *   event: from the flush command returning to the first read of the table
 *   (iptables-legacy-save, every 20 ms, stamped before it reads) that shows
 *   the jump again;
 * - the baseline: a flannel-style loop that checks every rule with
 *   `iptables -C` every 5 s and, when one is missing, tears the set down and
 *   adds it again (flannel's ensureIPTables); the same flush, the same
 *   observer;
 * - CPU of watching, idle, over the same interval: island nft, island legacy,
 *   the baseline loop; each process with its children (the iptables programs
 *   it runs).
 *
 * Flushes come at random moments (a random pause after each repair), so the
 * poll and loop phases are sampled evenly. Each namespace is the benchmark's
 * own (lib.mjs); no packet is sent.
 */
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  BenchError,
  EXPEDITED_WHY,
  exec,
  expectRcuExpedited,
  percentile,
  RCU_EXPEDITED,
  rcuExpedited,
  realtime,
  run,
  sleep,
  startProcess,
  withExpeditedDaemon,
  withNetns,
} from './lib.mjs';

const MONITOR = join(dirname(fileURLToPath(import.meta.url)), 'firewall-monitor.mjs');

export const FIREWALL_TARGET = { nftP99Ms: 25, legacyP99Ms: 2000 };

const JUMP = '-m comment --comment island -j ISLAND-FORWARD';
const CHAIN_RULES = ['-i cni0 -m comment --comment island -j ACCEPT', '-o cni0 -m comment --comment island -j ACCEPT'];

/** @param {{ rcuExpedited?: boolean }} [o] rcuExpedited: `[daemon] rcu_expedited = true` */
const config = (backend, o = {}) => `[[bridge]]
name = "cni0"
addresses = ["10.128.1.1/24"]

[forward]
accept = ["cni0"]
backend = "${backend}"
${o.rcuExpedited ? '\n[daemon]\nrcu_expedited = true\n' : ''}`;

/** flannel's ensureIPTables, in bash: `-C` each rule every 5 s; any missing: delete them all, add them again. */
const BASELINE = `
rules=(${[...CHAIN_RULES.map((r) => `"ISLAND-FORWARD ${r}"`), `"FORWARD ${JUMP}"`].join(' ')})
while :; do
  ok=1
  for r in "\${rules[@]}"; do iptables-nft -w -C $r 2>/dev/null || ok=0; done
  if [ $ok = 0 ]; then
    for ((i=\${#rules[@]}-1; i>=0; i--)); do iptables-nft -w -D \${rules[i]} 2>/dev/null; done
    iptables-nft -w -N ISLAND-FORWARD 2>/dev/null
    for r in "\${rules[@]}"; do iptables-nft -w -A $r; done
  fi
  sleep 5
done`;

const fmt = (v) => (Number.isFinite(v) ? (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`) : 'n/a');
const dist = (v) =>
  `min ${fmt(Math.min(...v))}, p50 ${fmt(percentile(v, 50))}, p90 ${fmt(percentile(v, 90))}, p99 ${fmt(percentile(v, 99))}, max ${fmt(Math.max(...v))}`;

/** utime + stime of a process and of its children it has waited for, in seconds. */
function cpuWithChildren(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** `EPOCHREALTIME` text → ms since the epoch. */
const epochMs = (s) => Number(s.trim().replace(',', '.')) * 1000;

/** A stream of stamped lines from a process in the namespace; wait for the first that matches after a mark. */
class Stamps {
  constructor(argv, parse) {
    this.events = [];
    this.waiters = new Set();
    this.proc = startProcess(argv, (line) => {
      const e = parse(line);
      if (!e) return;
      this.events.push(e);
      for (const w of [...this.waiters]) if (w.pred(e)) w.done(e);
    });
  }

  next(from, pred, timeoutMs, what) {
    const seen = this.events.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        done: (e) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new BenchError(`no ${what} within ${timeoutMs} ms\n${this.proc.stderr()}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  stop() {
    return this.proc.stop(1000);
  }
}

function nftMonitor(ns, node, o = { respond: false, realtime: true }) {
  const argv = ns.argv([node, MONITOR, ...(o.respond ? ['--respond'] : [])]);
  const m = new Stamps(o.realtime ? realtime(argv) : argv, (line) => {
    if (line === 'ready') return { ready: true };
    const [t, what, chain, family, form] = line.split(' ');
    return { t: Number(t), what, chain, family: Number(family), form };
  });
  return m.next(0, (e) => e.ready, 10_000, 'ready from the nftables monitor').then(() => m);
}

/** Reads the legacy filter table every 20 ms; each line: whether island's jump is first in FORWARD, stamped before the read. */
function legacyPoller(ns) {
  const script = `while :; do t=$EPOCHREALTIME; if iptables-legacy-save -t filter | grep -m1 -- '^-A FORWARD ' | grep -qxF -- '-A FORWARD ${JUMP}'; then echo "1 $t"; else echo "0 $t"; fi; sleep 0.02; done`;
  return new Stamps(realtime(ns.argv(['bash', '-c', script])), (line) => {
    const [s, t] = line.split(' ');
    return { present: s === '1', t: epochMs(t) };
  });
}

async function flush(ns, tool) {
  const r = await run(realtime(ns.argv(['bash', '-c', `${tool} -w -F FORWARD && echo $EPOCHREALTIME`])));
  return epochMs(r.stdout);
}

async function daemon(ns, node, cli, cfg) {
  const lines = [];
  const d = startProcess(ns.argv([node, cli, 'daemon', '-c', cfg]), (l) => {
    try {
      lines.push(JSON.parse(l));
    } catch {
      lines.push({ raw: l });
    }
  });
  d.lines = lines;
  const end = performance.now() + 20_000;
  while (!lines.some((l) => l.msg === 'island daemon running')) {
    if (d.child.exitCode !== null) throw new BenchError(`island daemon exited:\n${d.stderr()}`);
    if (performance.now() > end) throw new BenchError('island daemon did not start within 20 s');
    await sleep(10);
  }
  return d;
}

/** The daemon's own time for each repair pass (read, plan, iptables-restore), from its "reconciled" lines. */
function passTimes(d, from) {
  return d.lines
    .slice(from)
    .filter((l) => l.msg === 'reconciled' && l.actions > 0)
    .map((l) => l.ms);
}

function complaints(d) {
  return d.lines.filter((l) => l.level >= 40).map((l) => `${l.msg}${l.error ? `: ${l.error}` : ''}`);
}

async function islandPart(ns, save) {
  const out = (await run(ns.argv([save, '-t', 'filter']))).stdout;
  return out.split('\n').filter((l) => /ISLAND-/.test(l) && !l.startsWith('#'));
}

const EXPECTED_PART = [
  ':ISLAND-FORWARD - [0:0]',
  `-A FORWARD ${JUMP}`,
  ...CHAIN_RULES.map((r) => `-A ISLAND-FORWARD ${r}`),
];

async function checkPart(ns, save, what) {
  const part = (await islandPart(ns, save)).map((l) => l.replace(/ \[\d+:\d+\]$/, ' [0:0]'));
  if (JSON.stringify(part) !== JSON.stringify(EXPECTED_PART))
    throw new BenchError(`${what}: island's part is not as expected:\n${part.join('\n')}`);
}

/**
 * n flushes of FORWARD, each timed from its notification: the outage (to the jump's notification),
 * the kernel's hold (to `iptables -F` returning) and the rest (from there to the jump's notification).
 */
async function flushes(ns, mon, n, what) {
  const outage = [];
  const hold = [];
  const fromReturn = [];
  let mark = 0;
  for (let i = 0; i < n; i++) {
    await sleep(300 + randomInt(100));
    mark = mon.events.length;
    const returned = await flush(ns, 'iptables-nft');
    const del = await mon.next(mark, (e) => e.what === 'del' && e.chain === 'FORWARD', 5000, 'flush notification');
    const back = await mon.next(
      mark,
      (e) => e.what === 'new' && e.chain === 'FORWARD' && e.t >= del.t,
      5000,
      `${what} of flush ${i + 1}`,
    );
    outage.push(back.t - del.t);
    hold.push(returned - del.t);
    fromReturn.push(back.t - returned);
  }
  return { outage, hold, fromReturn, last: mark };
}

/**
 * What the last flush and its repair did to the rules, in the kernel's words: each notification's
 * operation, chain and the rule's kernel form, in order. Read once the repair has settled.
 */
const repairForms = (mon, from) => mon.events.slice(from).map((e) => `${e.what} ${e.chain} ${e.form}`);

/**
 * The floor: island's part written by `island apply` of cfg (its rules, as island writes them),
 * repaired by a process that only does that: island's transaction, pre-built
 * (firewall-monitor.mjs --respond). Its last repair must be island's, notification by notification
 * (`island`: what the daemon's last repair did, repairForms), and `island plan --exit-code` must
 * find nothing to do afterwards: a floor that writes less than island does is no floor.
 */
async function floorLatency(P, node, cli, cfg, log, island, how = '') {
  return withNetns('fw-floor', async (ns) => {
    const mon = await nftMonitor(ns, node);
    // at the daemon's priority (the observer runs at a real-time one, to stamp what it sees); it
    // learns island's chains from the notifications of the apply
    const responder = await nftMonitor(ns, node, { respond: true, realtime: false });
    try {
      await run(ns.argv([node, cli, 'apply', '-c', cfg]));
      log(`firewall: floor${how}, island's repair sent pre-built at the notification, ${P.nft} flushes of FORWARD`);
      const r = await flushes(ns, mon, P.nft, 'the pre-built repair');
      await sleep(300);
      await checkPart(ns, 'iptables-nft-save', 'after the floor flushes');
      const forms = repairForms(mon, r.last);
      if (JSON.stringify(forms) !== JSON.stringify(island))
        throw new BenchError(
          `the floor's repair is not island's:\nisland's daemon:\n${island.join('\n')}\nthe floor:\n${forms.join('\n')}`,
        );
      const p = await exec(ns.argv([node, cli, 'plan', '--exit-code', '-c', cfg]));
      if (p.code !== 0)
        throw new BenchError(
          `after the floor flushes, island plan --exit-code ${p.code}:\n${`${p.stdout}${p.stderr}`.trim()}`,
        );
      return r;
    } finally {
      await responder.stop();
      await mon.stop();
    }
  });
}

/**
 * Repair latency of island's nft backend: flush → kernel notification → island's jump notified back.
 * expedited: cfg sets `[daemon] rcu_expedited = true`, whose daemon must have made the host's grace
 * periods expedited before the first flush.
 */
async function nftLatency(P, node, cli, cfg, log, expedited = false) {
  return withNetns('fw-nft', async (ns) => {
    const mon = await nftMonitor(ns, node);
    const d = await daemon(ns, node, cli, cfg);
    try {
      await checkPart(ns, 'iptables-nft-save', 'nft daemon start');
      if (expedited)
        await expectRcuExpedited(`island daemon with [daemon] rcu_expedited = true in ${ns.name}`).catch((e) => {
          throw new BenchError(
            `${e.message}\n${d.stderr()}${d.lines.map((l) => l.raw ?? JSON.stringify(l)).join('\n')}`,
          );
        });
      const from = d.lines.length;
      log(`firewall: nft backend${expedited ? ', [daemon] rcu_expedited = true' : ''}, ${P.nft} flushes of FORWARD`);
      const r = await flushes(ns, mon, P.nft, "island's repair");
      await sleep(300);
      await checkPart(ns, 'iptables-nft-save', 'after the nft flushes');
      return { ...r, repair: repairForms(mon, r.last), passMs: passTimes(d, from), complaints: complaints(d) };
    } finally {
      await d.stop(5000);
      await mon.stop();
    }
  });
}

/** Repair latency of island's legacy backend: flush returned → first read showing the jump first again. */
async function legacyLatency(P, node, cli, cfg, log) {
  return withNetns('fw-legacy', async (ns) => {
    const d = await daemon(ns, node, cli, cfg);
    const poll = legacyPoller(ns);
    try {
      await checkPart(ns, 'iptables-legacy-save', 'legacy daemon start');
      const from = d.lines.length;
      log(`firewall: legacy backend (poll 1 s), ${P.legacy} flushes of FORWARD`);
      const latency = [];
      for (let i = 0; i < P.legacy; i++) {
        await sleep(300 + randomInt(1000));
        const returned = await flush(ns, 'iptables-legacy');
        const back = await poll.next(
          poll.events.length,
          (e) => e.present && e.t > returned,
          10_000,
          `island's repair of legacy flush ${i + 1}`,
        );
        latency.push(back.t - returned);
      }
      await checkPart(ns, 'iptables-legacy-save', 'after the legacy flushes');
      return { latency, passMs: passTimes(d, from), complaints: complaints(d) };
    } finally {
      await poll.stop();
      await d.stop(5000);
    }
  });
}

/** The flannel-style loop alone, same flush, same observer. */
async function baselineLatency(P, node, log) {
  return withNetns('fw-base', async (ns) => {
    const mon = await nftMonitor(ns, node);
    const loop = startProcess(ns.argv(['bash', '-c', BASELINE]), () => {});
    try {
      await mon.next(0, (e) => e.what === 'new' && e.chain === 'FORWARD', 10_000, "the loop's first setup");
      log(`firewall: baseline, 5 s -C loop, ${P.baseline} flushes of FORWARD`);
      const outage = [];
      for (let i = 0; i < P.baseline; i++) {
        await sleep(300 + randomInt(5000));
        const mark = mon.events.length;
        await flush(ns, 'iptables-nft');
        const del = await mon.next(mark, (e) => e.what === 'del' && e.chain === 'FORWARD', 5000, 'flush notification');
        const back = await mon.next(
          mark,
          (e) => e.what === 'new' && e.chain === 'FORWARD' && e.t >= del.t,
          12_000,
          `the loop's repair of flush ${i + 1}`,
        );
        outage.push(back.t - del.t);
      }
      return { outage };
    } finally {
      await loop.stop(1000);
      await mon.stop();
    }
  });
}

/** CPU of each watcher over the same idle interval, side by side in their own namespaces. */
async function idleCpu(P, node, cli, cfgs, log) {
  log(`firewall: idle watching, ${P.idleS} s: island nft, island legacy, baseline loop`);
  const one = (tag, start) =>
    withNetns(tag, async (ns) => {
      const p = await start(ns);
      try {
        await sleep(2000);
        const pid = p.child.pid;
        const c0 = cpuWithChildren(pid);
        const t0 = performance.now();
        await sleep(P.idleS * 1000);
        return { cpu: cpuWithChildren(pid) - c0, secs: (performance.now() - t0) / 1000 };
      } finally {
        await p.stop(5000);
      }
    });
  const [nft, legacy, baseline] = await Promise.all([
    one('fw-idle-nft', (ns) => daemon(ns, node, cli, cfgs.nft)),
    one('fw-idle-legacy', (ns) => daemon(ns, node, cli, cfgs.legacy)),
    one('fw-idle-base', async (ns) => startProcess(ns.argv(['bash', '-c', BASELINE]), () => {})),
  ]);
  return { nft, legacy, baseline };
}

/** Runs the whole firewall benchmark; `work` is a scratch directory. */
export async function benchFirewall({ quick, node, cli, work, log }) {
  const P = quick ? { nft: 20, legacy: 10, baseline: 4, idleS: 10 } : { nft: 60, legacy: 50, baseline: 20, idleS: 60 };
  const cfgs = {};
  for (const [name, text] of [
    ['nft', config('nft')],
    ['legacy', config('legacy')],
    ['nftRcu', config('nft', { rcuExpedited: true })],
  ]) {
    cfgs[name] = join(work, `firewall-${name}.toml`);
    writeFileSync(cfgs[name], text);
    await run([node, cli, 'check', '-c', cfgs[name]]);
  }
  const rcu = rcuExpedited();
  if (rcu !== '0') log(`firewall: the host's ${RCU_EXPEDITED} reads ${rcu}: the default rows are not the default`);
  const nft = await nftLatency(P, node, cli, cfgs.nft, log);
  const floor = await floorLatency(P, node, cli, cfgs.nft, log, nft.repair);
  let fast;
  const expedited = await withExpeditedDaemon(
    async () => {
      fast = await nftLatency(P, node, cli, cfgs.nftRcu, log, true);
      return fast;
    },
    () => floorLatency(P, node, cli, cfgs.nft, log, fast.repair, ' with rcu_expedited 1'),
  );
  const legacy = await legacyLatency(P, node, cli, cfgs.legacy, log);
  const baseline = await baselineLatency(P, node, log);
  const idle = await idleCpu(P, node, cli, cfgs, log);
  return { P, rcu, nft, floor, expedited, legacy, baseline, idle };
}

const verdict = (ok) => (ok ? 'OK' : 'MISSED');

/**
 * The rows of one nft repair run: its outage (p50, p99 judged on the target), split at `iptables -F`
 * returning, and its floor. `baseline`: the flannel-style loop's outages, beside the default run's.
 */
function nftRows(nft, floor, title, baseline) {
  const p = (v, q) => fmt(percentile(v, q));
  const p99 = percentile(nft.outage, 99);
  const holdP99 = percentile(nft.hold, 99);
  return [
    [title, 'p50', p(nft.outage, 50), baseline ? p(baseline, 50) : '', '', ''],
    [
      '',
      'p99',
      fmt(p99),
      baseline ? p(baseline, 99) : '',
      `≤ ${FIREWALL_TARGET.nftP99Ms} ms`,
      p99 <= FIREWALL_TARGET.nftP99Ms
        ? 'OK'
        : `MISSED (kernel's hold p99 ${fmt(holdP99)}, island's part p99 ${p(nft.fromReturn, 99)})`,
    ],
    [
      "  of which the kernel's hold: until iptables -F returns (commit mutex held through an RCU grace period)",
      'p50/p99',
      `${p(nft.hold, 50)} / ${fmt(holdP99)}`,
      '',
      '',
      '',
    ],
    [
      "  and island's part: from iptables -F returning to the jump",
      'p50/p99',
      `${p(nft.fromReturn, 50)} / ${p(nft.fromReturn, 99)}`,
      '',
      '',
      '',
    ],
    [
      `  floor: island's repair (its chain and the jump) sent pre-built at the notification, same flush (n=${floor.outage.length})`,
      'p50/p99',
      `${p(floor.outage, 50)} / ${p(floor.outage, 99)}`,
      '',
      '',
      '',
    ],
  ];
}

/** Rows in run.mjs's columns: benchmark, metric, island, baseline, target, result. */
export function firewallRows(r) {
  const lp99 = percentile(r.legacy.latency, 99);
  const cpu = (x) => `${x.cpu.toFixed(2)} s (${((x.cpu / x.secs) * 100).toFixed(3)} %)`;
  return [
    ...nftRows(
      r.nft,
      r.floor,
      `firewall repair after iptables -F FORWARD, nft, the kernel's grace periods (rcu_expedited ${r.rcu}): the outage, from the flush's notification (n=${r.nft.outage.length}; baseline 5 s -C loop, n=${r.baseline.outage.length})`,
      r.baseline.outage,
    ),
    ...nftRows(
      r.expedited,
      r.expedited.floor,
      `firewall repair after iptables -F FORWARD, nft, expedited grace periods ([daemon] rcu_expedited = true; host-wide, IPIs to every busy CPU): the outage (n=${r.expedited.outage.length})`,
    ),
    [
      `firewall repair, legacy, poll 1 s (n=${r.legacy.latency.length})`,
      'p50',
      fmt(percentile(r.legacy.latency, 50)),
      '',
      '',
      '',
    ],
    [
      '',
      'p99',
      fmt(lp99),
      '',
      `≤ ${FIREWALL_TARGET.legacyP99Ms / 1000} s`,
      verdict(lp99 <= FIREWALL_TARGET.legacyP99Ms),
    ],
    [
      `firewall watching, idle ${Math.round(r.idle.nft.secs)} s (CPU with children)`,
      'nft',
      cpu(r.idle.nft),
      cpu(r.idle.baseline),
      '',
      '',
    ],
    ['', 'legacy', cpu(r.idle.legacy), '', '', ''],
  ];
}

export function firewallDetails(r) {
  const warn = [...r.nft.complaints, ...r.expedited.complaints, ...r.legacy.complaints];
  const x = r.expedited;
  return [
    `- firewall, nft backend, the kernel's grace periods (the host's ${RCU_EXPEDITED}: ${r.rcu}), from the kernel's notification of the flush (the first it causes: the jump is gone from then on) to that of island's jump (the outage): ${dist(r.nft.outage)}. Of which the kernel's hold, from the notification to \`iptables -F\` returning: ${dist(r.nft.hold)}; iptables-nft sends its flush and closes its netlink socket at once, and the kernel's release of that socket takes nf_tables' commit mutex and waits out an RCU grace period (the flushed rule's destruction): no nf_tables write of anyone commits before. Island's part, from \`iptables -F\` returning to the jump: ${dist(r.nft.fromReturn)} (negative: island's commit, queued on the mutex, went through before bash stamped the return). Default config: debounce 10 ms.`,
    `- firewall, nft floor, same rules and flush in another namespace, a process at the daemon's priority sending island's repair pre-built (its chain emptied, the jump, the chain's rules, each in island's kernel form: no read, no plan) the moment the flush's transaction is notified, checked equal to the daemon's last repair: outage ${dist(r.floor.outage)}; kernel's hold ${dist(r.floor.hold)}; from the return to the jump ${dist(r.floor.fromReturn)}.`,
    `- firewall, nft backend, the daemon's own repair passes (island's tables as the flush's notifications left the last look, or read over netlink; plan; one nf_tables transaction over netlink: no program; its "reconciled" lines): ${r.nft.passMs.length} passes, ${dist(r.nft.passMs)}; a pass includes its commit's wait for the kernel's hold.`,
    `- firewall, nft backend, expedited: the same daemon and flushes with \`[daemon] rcu_expedited = true\` in its file, then the same floor, right after the rows above. The daemon wrote 1 to ${RCU_EXPEDITED} (the bench checks it reads 1 before the first flush and after the floor; it was ${x.host} and is put back after the floor). The kernel's hold is the flushing socket's release waiting out an RCU grace period with nf_tables' commit mutex held; ${EXPEDITED_WHY}. Outage ${dist(x.outage)}; kernel's hold ${dist(x.hold)}; island's part ${dist(x.fromReturn)}; the daemon's repair passes ${dist(x.passMs)}. Floor, same setting: outage ${dist(x.floor.outage)}; kernel's hold ${dist(x.floor.hold)}; from the return to the jump ${dist(x.floor.fromReturn)}.`,
    `- firewall, legacy backend (poll 1 s, the default), from \`iptables-legacy -F\` returning to the first 20 ms read that shows the jump: ${dist(r.legacy.latency)}; repair passes ${dist(r.legacy.passMs)}.`,
    `- firewall, baseline (flannel-style \`iptables -C\` of each rule every 5 s, then delete and re-add the set), same flush and observer: ${dist(r.baseline.outage)}.`,
    `- firewall, idle CPU over ${r.idle.nft.secs.toFixed(1)} s, each process with its children: island nft ${r.idle.nft.cpu.toFixed(2)} s, island legacy ${r.idle.legacy.cpu.toFixed(2)} s (one iptables-legacy-save per second), baseline loop ${r.idle.baseline.cpu.toFixed(2)} s (three \`iptables -C\` every 5 s); resolution 0.01 s.`,
    `- firewall daemons' warnings and errors during the latency runs: ${warn.length ? warn.join('; ') : 'none'}.`,
  ];
}

/** Writes the firewall results between their own markers in docs/benchmarks.md. */
export function updateFirewallDoc(doc, m, r, mdTable) {
  const body = [
    '<!-- bench:firewall:start (written by `npm run bench`; everything up to the end marker is replaced) -->',
    '### Latest firewall results',
    '',
    `Machine: ${m.nproc} CPUs (${m.model}), Linux ${m.kernel}, Node ${m.node}; ${m.date}${m.commit ? `, island ${m.commit}` : ''}; 1-min load average ${m.load} (start → end of the whole run).`,
    '',
    mdTable(firewallRows(r)),
    '',
    ...firewallDetails(r),
    '<!-- bench:firewall:end -->',
  ].join('\n');
  let text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  const re = /<!-- bench:firewall:start[\s\S]*?<!-- bench:firewall:end -->/;
  text = re.test(text) ? text.replace(re, body) : `${text.trimEnd()}\n\n${body}\n`;
  writeFileSync(doc, text);
}
