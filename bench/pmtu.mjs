/**
 * What the path MTU probes cost a tunnel: probes and bytes per hour, against the health probes
 * they ride beside. The search (dist/health/pmtu.js) and its timers (dist/health/pmtu-probe.js)
 * run on a simulated clock for one hour against a path that carries `path` bytes: the same code
 * as the daemon, without sockets, so an hour takes milliseconds. The kernel test
 * (test/kernel/mtu.test.ts) measures the same search on a real 1400-byte hop: 15-16 probes,
 * ~21 kB, for the first search.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const HOUR = 3_600_000;
/** a probe and its reply on the underlay: 18 B payload + inner UDP/IP/Ethernet + VXLAN/UDP/IP */
const HEALTH_BYTES = 96;
/** an acknowledgement of a path MTU probe: the 18-byte datagram, inner headers (28) */
const ACK_BYTES = 46;

/**
 * One simulated hour of one tunnel: `path` what the path carries, `tunnel` the tunnel's MTU;
 * `auto`: the tunnel is lowered to the path and tries its full MTU again at every re-check.
 * @param {string} dist
 * @param {{ intervalMs: number, tunnel: number, path: number, auto?: boolean }} o
 */
export async function simulate(dist, { intervalMs, tunnel, path, auto }) {
  const { PmtuSearch, PMTU_FLOOR } = await import(pathToFileURL(join(dist, 'health', 'pmtu.js')).href);
  const { searchGapMs, recheckMs } = await import(pathToFileURL(join(dist, 'health', 'pmtu-probe.js')).href);
  const timeout = Math.min(intervalMs / 2, 2000);
  const s = new PmtuSearch(PMTU_FLOOR[4], searchGapMs(intervalMs), recheckMs(intervalMs), timeout, 0);
  s.setCeiling(tunnel, 0);
  let ceiling = tunnel;
  let lastCheck;
  let seq = 0;
  let acks = 0;
  const first = { probes: 0, bytes: 0, ms: 0 };
  for (let now = 0; now < HOUR; now += 100) {
    s.tick(now);
    const snap = s.snapshot();
    if (snap.checkedAt !== lastCheck) {
      lastCheck = snap.checkedAt;
      if (!first.ms) Object.assign(first, { probes: snap.probes, bytes: snap.bytes, ms: now });
      // auto: lowered to the path; back at its full mtu for the next re-check (the trial)
      if (auto && snap.pathMtu !== undefined && snap.pathMtu < ceiling) {
        ceiling = snap.pathMtu;
        s.setCeiling(ceiling, now);
      }
    }
    if (auto && ceiling < tunnel && snap.checkedAt !== undefined && now - snap.checkedAt >= recheckMs(intervalMs)) {
      ceiling = tunnel;
      s.setCeiling(ceiling, now);
    }
    const size = s.due(now);
    if (size === undefined) continue;
    s.sent(++seq, size, now);
    if (size <= path) {
      s.ack(seq, now + 1);
      acks++;
    }
  }
  const snap = s.snapshot();
  return {
    probes: snap.probes,
    bytes: snap.bytes + acks * ACK_BYTES,
    acks,
    first,
    health: { datagrams: (2 * HOUR) / intervalMs, bytes: ((2 * HOUR) / intervalMs) * HEALTH_BYTES },
  };
}

const SCENARIOS = [
  { what: 'path carries the tunnel (1450)', tunnel: 1450, path: 1450 },
  { what: 'fixed mtu 1450 over a 1350 path', tunnel: 1450, path: 1350 },
  { what: 'mtu auto, lowered to a 1350 path (a trial per re-check)', tunnel: 1450, path: 1350, auto: true },
];

/** @param {{ dist: string, log: (s: string) => void }} o */
export async function benchPmtu({ dist, log }) {
  const out = [];
  for (const intervalMs of [10_000, 25_000]) {
    for (const sc of SCENARIOS) {
      const r = await simulate(dist, { intervalMs, ...sc });
      out.push({ intervalMs, ...sc, ...r });
      log(`pmtu: ${sc.what}, interval ${intervalMs / 1000} s: ${r.probes} probes/h, ${r.bytes} B/h`);
    }
  }
  return out;
}

/** @param {number} b */
const kB = (b) => `${(b / 1000).toFixed(1)} kB`;

/** @typedef {Awaited<ReturnType<typeof benchPmtu>>} PmtuResult */

/** @param {PmtuResult} res */
export function pmtuRows(res) {
  return res.map((r) => [
    `path MTU probes per tunnel, ${r.what}, probe interval ${r.intervalMs / 1000} s (simulated hour)`,
    'per hour',
    `${r.probes} probes + ${r.acks} acks, ${kB(r.bytes)}`,
    `${r.health.datagrams} health datagrams, ${kB(r.health.bytes)}`,
    'a few a minute at most',
    r.probes + r.acks <= 3 * 60 ? 'OK' : 'MISSED',
  ]);
}

/** @param {PmtuResult} res */
export function pmtuDetails(res) {
  const [r] = res;
  return r
    ? [
        `- path MTU: the first search settles after ${r.first.probes} probes (${kB(r.first.bytes)}) when the path carries the tunnel; ` +
          `${res[1]?.first.probes} probes (${kB(res[1]?.first.bytes ?? 0)}) in ${Math.round((res[1]?.first.ms ?? 0) / 1000)} s on a 1350 path at a 10 s interval. ` +
          "Simulated with the daemon's own search and timers; test/kernel/mtu.test.ts measures 15-16 probes, ~21 kB on a real 1400-byte hop.",
      ]
    : [];
}
