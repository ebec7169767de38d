/**
 * Benchmark plumbing: processes, network namespaces that always get deleted,
 * statistics, and the `ip -ts monitor` reader used to time heals.
 *
 * Every namespace is named `isl-bench-<tag>-<pid>-<rand>` (test/helpers/namespace.mjs)
 * and created here; nothing runs in the host's own network namespace except
 * `ip netns add/del/pids` and the nsid `ip netns set/list-id` follow a deletion by.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { deleteNamespaceSync, namespaceName } from '../test/helpers/namespace.mjs';
import { statusKb } from '../test/helpers/proc.mjs';
import { execTimed } from '../test/helpers/spawn.mjs';

export class BenchError extends Error {}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ------------------------------------------------------------------ processes */

/** Children we started that may still be running: killed (by pid) on any exit. */
const children = new Set();

/**
 * Run argv (no shell): test/helpers/spawn.mjs's exec, with every child tracked for the exit
 * hooks. Resolves { code, signal, stdout, stderr, ms, timedOut } where ms is the wall time
 * from spawn to the process' exit; never rejects on a non-zero exit, only when it cannot run.
 * @param {string[]} argv
 * @param {{ timeoutMs?: number, input?: string }} [opts]
 */
export async function exec(argv, { timeoutMs = 60_000, input } = {}) {
  const r = await execTimed(argv, {
    timeoutMs,
    input,
    onSpawn: (child) => {
      children.add(child);
      child.on('close', () => children.delete(child));
    },
  });
  if (r.code === -1) throw new BenchError(`cannot run ${argv.join(' ')}: ${r.stderr.trim()}`);
  return r;
}

/** Like exec, but a non-zero exit is a BenchError carrying the command and its output. */
export async function run(argv, opts) {
  const r = await exec(argv, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts?.timeoutMs ?? 60_000} ms` : `exited ${r.code}`;
    const tail = `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new BenchError(`\`${argv.join(' ')}\` ${why}${tail ? `:\n${tail}` : ''}`);
  }
  return r;
}

/** A long-running child whose stdout lines are handed to onLine; `stdin`: a pipe to write to (child.stdin). */
export function startProcess(argv, onLine, { stdin = false } = {}) {
  const [file, ...args] = argv;
  const child = spawn(file, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  children.add(child);
  const stderr = [];
  child.stderr.on('data', (b) => {
    stderr.push(b);
  });
  createInterface({ input: child.stdout }).on('line', onLine);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (e) => {
      children.delete(child);
      resolve({ code: -1, signal: null, error: e });
    });
  });
  return {
    child,
    exited,
    stderr: () => Buffer.concat(stderr).toString(),
    /** SIGTERM, then SIGKILL after graceMs; resolves with the exit status */
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/**
 * argv run under SCHED_FIFO when the machine allows it: for the tiny processes
 * that take timestamps (ip monitor, the bash that stamps a deletion), so a busy
 * CPU delays the stamp as little as possible. They use next to no CPU.
 */
let rtPrefix;
export function realtime(argv) {
  if (rtPrefix === undefined) {
    try {
      execFileSync('chrt', ['-f', '50', 'true'], { stdio: 'ignore' });
      rtPrefix = ['chrt', '-f', '50'];
    } catch {
      rtPrefix = [];
    }
  }
  return [...rtPrefix, ...argv];
}

/* ------------------------------------------------------------------ namespaces */

const namespaces = new Set();

function deleteOurNamespaceSync(name) {
  deleteNamespaceSync(name);
  namespaces.delete(name);
}

/** Kill our children, delete our namespaces and put back what we changed on the host, synchronously (safe in 'exit' handlers). */
export function cleanupSync() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  for (const n of [...namespaces]) deleteOurNamespaceSync(n);
  for (const restore of [...restores]) {
    try {
      restore();
    } catch (e) {
      process.stderr.write(`\nbench: ${e.message}\n`);
    }
  }
}

let hooked = false;
function hook() {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupSync);
  /** @type {[NodeJS.Signals, number][]} */
  const signals = [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ];
  for (const [sig, n] of signals) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up namespaces\n`);
      cleanupSync();
      process.exit(128 + n);
    });
  }
}

/**
 * A fresh network namespace with lo up and an underlay veth pair
 * (ul0 10.9.0.1/24 <-> ul1), both up. Traffic never leaves it.
 */
export async function createNetns(tag) {
  hook();
  const name = namespaceName(`bench-${tag}`);
  await run(['ip', 'netns', 'add', name]);
  namespaces.add(name);
  const ip = (...a) => run(['ip', '-n', name, ...a]);
  await ip('link', 'set', 'lo', 'up');
  await ip('link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
  await ip('addr', 'add', '10.9.0.1/24', 'dev', 'ul0');
  await ip('link', 'set', 'ul0', 'up');
  await ip('link', 'set', 'ul1', 'up');
  return {
    name,
    ip,
    async ipJson(...a) {
      const r = await run(['ip', '-n', name, '-j', ...a]);
      return r.stdout.trim() ? JSON.parse(r.stdout) : [];
    },
    /** argv inside the namespace (ip netns exec execs it: the child pid is the command's own) */
    argv: (cmd) => ['ip', 'netns', 'exec', name, ...cmd],
    /** delete it and wait for the kernel's teardown (deleteAndWait) */
    destroy: () => deleteAndWait(name),
  };
}

/** How long each deletion waited for the kernel's teardown, ms, in the order of the deletions. */
export const teardowns = [];

/** Whether a kworker is running an item of the kernel's "netns" workqueue: its comm reads `kworker/u8:4+netns` meanwhile. */
function netnsWorkRunning() {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').includes('+netns')) return true;
    } catch {
      // ended meanwhile
    }
  }
  return false;
}

/**
 * Deletes a namespace of ours and resolves once the kernel has torn it down. `ip netns del` only
 * drops the last reference: the kernel's cleanup_net (its devices unregistered, their RCU grace
 * periods waited out, its sockets and routes freed: ~0.25 s for 500 vxlans, ~0.06 s for a veth
 * pair, on an idle machine) runs afterwards on its "netns" workqueue, and would overlap the next
 * timed run. Two signals tell when it is done: an nsid the host's namespace holds for it
 * (assigned just before the deletion: nothing else of the host changes) is removed as its
 * cleanup_net starts (unhash_nsid), and the kworker that runs cleanup_net shows `+netns` in its
 * comm until it returns. The queue is ordered, so once no kworker does after the nsid went, ours
 * is done; a teardown that starts meanwhile (another user's namespace) is waited for too, up to
 * 20 s. A namespace whose teardown does not start within 20 s is still held by something: an error.
 * @param {string} name
 */
async function deleteAndWait(name) {
  const list = async () => (await run(['ip', 'netns', 'list-id'])).stdout;
  let id;
  for (let i = 0; i < 5 && id === undefined; i++) {
    const want = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    // taken by another namespace: draw again
    if ((await exec(['ip', 'netns', 'set', name, String(want)])).code === 0) id = want;
  }
  if (id === undefined) throw new BenchError(`cannot give ${name} an nsid to follow its deletion by`);
  const t0 = performance.now();
  deleteOurNamespaceSync(name);
  const held = new RegExp(`^nsid ${id}\\b`, 'm');
  while (held.test(await list())) {
    if (performance.now() - t0 > 20_000)
      throw new BenchError(
        `the kernel did not start tearing ${name} down within 20 s of ip netns del: something holds it`,
      );
    await sleep(5);
  }
  while (netnsWorkRunning()) {
    if (performance.now() - t0 > 20_000) {
      process.stderr.write(`bench: the kernel's netns teardowns still run 20 s after deleting ${name}; going on\n`);
      break;
    }
    await sleep(5);
  }
  teardowns.push(performance.now() - t0);
}

/** Run fn(ns) in a fresh namespace that is deleted afterwards, whatever happens, once the kernel has torn it down. */
export async function withNetns(tag, fn) {
  const ns = await createNetns(tag);
  try {
    return await fn(ns);
  } finally {
    await ns.destroy();
  }
}

/* ------------------------------------------------------------------ the host's RCU */

/** host-wide, not per namespace: every grace period of the machine is expedited while it reads 1 */
export const RCU_EXPEDITED = '/sys/kernel/rcu_expedited';
const RCU_NORMAL = '/sys/kernel/rcu_normal';

/** What a run changed on the host, put back by cleanupSync on any exit while the run lasts. */
const restores = new Set();

/** The host's /sys/kernel/rcu_expedited ("0" or "1"); a BenchError when it cannot be read. */
export function rcuExpedited() {
  try {
    return readFileSync(RCU_EXPEDITED, 'utf8').trim();
  } catch (e) {
    throw new BenchError(`cannot read ${RCU_EXPEDITED}: ${e.message}`);
  }
}

/**
 * Runs fn(before) and then puts the host's /sys/kernel/rcu_expedited back as it was before, however
 * fn ends (an exit or a signal meanwhile too): an island daemon with `[daemon] rcu_expedited = true`
 * writes 1 there and never writes 0, so what a benchmark's daemon set outlives it. The bench never
 * writes 1 itself; it only puts back the value it found, and fails when it cannot.
 * @template T
 * @param {(before: string) => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function keepingRcuExpedited(fn) {
  hook();
  const before = rcuExpedited();
  const restore = () => {
    restores.delete(restore);
    if (rcuExpedited() === before) return;
    try {
      writeFileSync(RCU_EXPEDITED, `${before}\n`);
    } catch (e) {
      throw new BenchError(`cannot put ${RCU_EXPEDITED} back to ${before}: ${e.message}: do it by hand`);
    }
    const now = rcuExpedited();
    if (now !== before)
      throw new BenchError(`${RCU_EXPEDITED} reads ${now} after writing ${before} back: put it back by hand`);
  };
  restores.add(restore);
  let result;
  try {
    result = await fn(before);
  } catch (e) {
    try {
      restore();
    } catch (r) {
      // the run's own error is the one thrown; this one is said beside it, never hidden
      process.stderr.write(`\nbench: ${r.message}\n`);
    }
    throw e;
  }
  restore();
  return result;
}

/**
 * Resolves once the host's grace periods are expedited (an island daemon with `[daemon]
 * rcu_expedited = true` writes 1 as it starts); a BenchError naming `what` after timeoutMs: rows
 * labelled expedited must not measure the kernel's default.
 * @param {string} what
 */
export async function expectRcuExpedited(what, timeoutMs = 2000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = rcuExpedited();
    if (v === '1') {
      // the kernel's rcu_normal turns every expedited grace period into a normal one
      if (readFileSync(RCU_NORMAL, 'utf8').trim() === '1')
        throw new BenchError(`${what}: ${RCU_NORMAL} reads 1: no grace period is expedited`);
      return;
    }
    if (performance.now() > deadline)
      throw new BenchError(`${what}: ${RCU_EXPEDITED} still reads ${v} after ${timeoutMs} ms, not 1`);
    await sleep(20);
  }
}

/**
 * A run with `[daemon] rcu_expedited = true` and then its floor, under the same setting: measure()
 * starts the daemon, which writes 1 (and must have been checked to), and never writes 0, so the
 * floor runs with 1 still there (checked before and after it); the host's value is put back after
 * the floor. Resolves with measure()'s result, its floor's and the value found on the host.
 * @template M, F
 * @param {() => Promise<M>} measure
 * @param {() => Promise<F>} floor
 * @returns {Promise<M & { floor: F, host: string }>}
 */
export function withExpeditedDaemon(measure, floor) {
  return keepingRcuExpedited(async (host) => {
    const r = await measure();
    await expectRcuExpedited('before the expedited floor', 0);
    const f = await floor();
    await expectRcuExpedited('after the expedited floor', 0);
    return { ...r, floor: f, host };
  });
}

/** Why the kernel's hold shrinks with expedited grace periods, and why island does not expedite them by default. */
export const EXPEDITED_WHY =
  'an expedited grace period is forced at once by an inter-processor interrupt to every CPU that is not idle, instead of waiting for each CPU to pass a quiescent state on its own. The setting is host-wide: every grace period of the machine then costs those interrupts, which is why island leaves it off by default';

/* ------------------------------------------------------------------ statistics */

/** Nearest-rank percentile (p in 0..100) of numbers. */
export function percentile(values, p) {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

export const sum = (v) => v.reduce((a, b) => a + b, 0);

export const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/* ------------------------------------------------------------------ heal watcher */

/**
 * Reads `ip -ts monitor link address route` (under SCHED_FIFO if allowed) inside a namespace and tracks one
 * tunnel: its link (up), one address and one route. Each notification carries
 * the microsecond wall-clock time at which `ip` received it. A heal starts at
 * the kernel's RTM_DELLINK notification for the tunnel (sent while `ip link
 * del` is still in the kernel, before it returns) and ends at the notification
 * that makes link-up + address + route all present again.
 */
export class HealWatcher {
  constructor(ns, { link, address, route, dev }) {
    this.ns = ns;
    this.link = link;
    /**
     * the tunnel's underlay device: deleting the tunnel makes the kernel announce a change of
     * the underlay first (~15-20 ms before the tunnel's RTM_DELLINK), and the outage starts there
     */
    this.dev = dev;
    this.armed = false;
    this.firstTs = undefined;
    /** @type {(() => void) | undefined} a responder called at the first notification (the heal floor) */
    this.onFirst = undefined;
    this.address = address; // "10.30.30.2/30"
    this.route = route; // "192.168.3.0/24"
    this.state = { link: false, address: false, route: false };
    this.delTs = undefined;
    this.waiters = [];
    this.markers = new Map();
    this.lines = 0;
    /**
     * every name `ip monitor` has shown for the link: island creates it under a token name
     * (island-xxxxxxxx) and renames it, and ip monitor keeps printing the first name it saw for
     * that ifindex in address and route lines
     */
    this.names = new Set([link]);
  }

  async start() {
    this.proc = startProcess(realtime(['ip', '-n', this.ns.name, '-ts', 'monitor', 'link', 'address', 'route']), (l) =>
      this.onLine(l),
    );
    // the monitor has subscribed once it reports a change we make after starting it
    await this.sync();
    return this;
  }

  /** Make a harmless change (an address on lo) and wait until the monitor reports it. */
  async sync(timeoutMs = 5000) {
    const seen = new Promise((resolve) => this.markers.set('127.0.0.2', resolve));
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      await this.ns.ip('addr', 'add', '127.0.0.2/8', 'dev', 'lo');
      await this.ns.ip('addr', 'del', '127.0.0.2/8', 'dev', 'lo');
      const ok = await Promise.race([seen.then(() => true), sleep(100).then(() => false)]);
      if (ok) return;
    }
    throw new BenchError(
      `ip monitor in ${this.ns.name} reported nothing within ${timeoutMs} ms:\n${this.proc.stderr()}`,
    );
  }

  stop() {
    return this.proc?.stop(1000);
  }

  static parseTs(s) {
    // 2026-11-21T15:55:14.608913 (local time)
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)$/.exec(s);
    if (!m) return Number.NaN;
    return Date.parse(m[1]) + Number(`0.${m[2]}`) * 1000;
  }

  onLine(line) {
    const m = /^\[([^\]]+)\] (.*)$/.exec(line);
    if (!m) return; // continuation line of a multi-line message
    this.lines++;
    const ts = HealWatcher.parseTs(m[1]);
    let body = m[2];
    const deleted = body.startsWith('Deleted ');
    if (deleted) body = body.slice(8);
    for (const [marker, resolve] of this.markers) {
      if (body.includes(` ${marker}/`)) {
        this.markers.delete(marker);
        resolve();
      }
    }
    const L = this.link;
    if (this.armed && this.firstTs === undefined && this.mentions(body)) {
      this.firstTs = ts;
      this.onFirst?.();
    }
    // a link being made under its token name: it is ours once renamed
    const token = /^\d+: (island-[0-9a-f]{8}): </.exec(body);
    if (token) this.names.add(token[1]);
    const names = [...this.names].map((n) => n.replaceAll('.', '\\.')).join('|');
    const linkMsg = new RegExp(`^\\d+: ${L}(@\\S+)?: <([^>]*)>`).exec(body);
    if (linkMsg) {
      if (deleted) {
        // the tunnel is gone: address and route went with it (the kernel does
        // not always announce the route flush)
        this.state = { link: false, address: false, route: false };
        this.delTs = ts;
        return;
      }
      this.state.link = linkMsg[2].split(',').includes('UP');
    } else if (new RegExp(`^\\d+: (${names})\\s+inet6? ${this.address.replaceAll('.', '\\.')} `).test(body)) {
      this.state.address = !deleted;
    } else if (body.startsWith(`${this.route} `) && new RegExp(` dev (${names}) `).test(body)) {
      this.state.route = !deleted;
    } else {
      return;
    }
    if (this.delTs !== undefined && this.complete()) {
      const start = Math.min(this.delTs, this.firstTs ?? this.delTs);
      const ev = { delTs: this.delTs, firstTs: start, healTs: ts, ms: ts - start, seenAt: performance.now() };
      this.delTs = undefined;
      this.armed = false;
      this.firstTs = undefined;
      for (const w of this.waiters.splice(0)) w(ev);
    }
  }

  /** a notification about the tunnel (any of its names) or its underlay */
  mentions(body) {
    const m = /^\d+: ([^:@\s]+)/.exec(body) ?? / dev (\S+)/.exec(body);
    return m !== null && (this.names.has(m[1]) || m[1] === this.dev);
  }

  complete() {
    return this.state.link && this.state.address && this.state.route;
  }

  /**
   * Resolves with { delTs, firstTs, healTs, ms, seenAt } for the next deletion that gets healed:
   * ms from the first notification about the tunnel or its underlay after this call (firstTs;
   * the RTM_DELLINK's delTs when nothing came earlier) to the heal (seenAt: performance.now()
   * when this process read the completing line).
   */
  nextHeal(timeoutMs) {
    this.armed = true;
    this.firstTs = undefined;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(
          new BenchError(
            `${this.link} was not healed within ${timeoutMs} ms (state ${JSON.stringify(this.state)}, deletion ${
              this.delTs === undefined ? 'not seen' : 'seen'
            })`,
          ),
        );
      }, timeoutMs);
      const done = (ev) => {
        clearTimeout(t);
        resolve(ev);
      };
      this.waiters.push(done);
    });
  }
}

/* ------------------------------------------------------------------ /proc */

/**
 * The CPU seconds a running process's threads have had, to the nanosecond: the sum of their
 * /proc/PID/task/TID/schedstat (/proc/PID/stat counts whole 10 ms clock ticks, the size of the
 * idle row's whole budget a minute). A thread that ended takes its count with it: the daemon's
 * live as long as it does.
 */
export function cpuSeconds(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}

/**
 * The environment units/island.service gives the daemon (its Environment= lines: NODE_OPTIONS,
 * ISLAND_CONFIG), as `env` arguments: every benchmark that starts `island daemon` starts it
 * this way, so that what it measures is what the unit runs.
 */
export function unitEnv() {
  const unit = readFileSync(new URL('../units/island.service', import.meta.url), 'utf8');
  const out = [];
  for (const m of unit.matchAll(/^Environment=(.*)$/gm)) {
    // systemd's syntax: one or more assignments, each whole or in double quotes
    for (const a of (m[1] ?? '').match(/"[^"]*"|\S+/g) ?? []) out.push(a.replace(/^"(.*)"$/, '$1'));
  }
  // the benchmarks name their own file
  return out.filter((a) => !a.startsWith('ISLAND_CONFIG='));
}

/**
 * VmRSS and VmHWM of a process, in MiB, and VmRSS's parts: RssAnon, the process' own memory, and
 * RssFile, the files it maps as far as they are in its page tables (node's binary, its libraries).
 */
export function memory(pid) {
  const kb = statusKb(pid, ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile']);
  return {
    rssMiB: kb.VmRSS / 1024,
    hwmMiB: kb.VmHWM / 1024,
    anonMiB: kb.RssAnon / 1024,
    fileMiB: kb.RssFile / 1024,
  };
}

/** CPU milliseconds of each run, whole: "68 63 67" */
export const eachMs = (ms) => ms.map((v) => v.toFixed(0)).join(' ');
