/** The path MTU search on a fake clock and a fake path: what it finds, what it costs; mtu auto's keeper; the words. */
import t from 'tap';
import { describePathMtu } from '../../src/health/describe.js';
import type { PeerStatus } from '../../src/health/health.js';
import { MtuKeeper } from '../../src/health/mtu-keeper.js';
import { MAX_PROBES, PMTU_FLOOR, PmtuSearch } from '../../src/health/pmtu.js';
import type { PmtuStatus } from '../../src/health/pmtu-probe.js';
import { peerStatus } from '../helpers/peer.js';

const GAP = 1000;
const RECHECK = 60_000;
const TIMEOUT = 500;

/** Runs the search against a path carrying `path` bytes (lossy: `drop(n)` loses the n-th probe) until it settles. */
function run(s: PmtuSearch, path: () => number, from: number, drop: (n: number) => boolean = () => false) {
  let now = from;
  let seq = 0;
  for (let i = 0; i < 5000; i++) {
    now += 100;
    s.tick(now);
    const size = s.due(now);
    if (size === undefined) {
      if (!s.snapshot().searching && s.snapshot().checkedAt !== undefined && s.snapshot().checkedAt! > from) break;
      continue;
    }
    seq++;
    s.sent(seq, size, now);
    if (size <= path() && !drop(seq)) s.ack(seq, now + 10);
  }
  return now;
}

t.test('an unchanged path: one probe at the ceiling', async (t) => {
  const s = new PmtuSearch(PMTU_FLOOR[4], GAP, RECHECK, TIMEOUT, 0);
  s.setCeiling(1480, 0);
  run(s, () => 1500, 0);
  t.match(s.snapshot(), { pathMtu: 1480, ceiling: 1480, probes: 1, bytes: 1480, searching: false });
});

t.test('a 1400 hop under ipip: 1380 to the byte, in a bounded number of probes', async (t) => {
  const s = new PmtuSearch(PMTU_FLOOR[4], GAP, RECHECK, TIMEOUT, 0);
  s.setCeiling(1480, 0);
  const end = run(s, () => 1380, 0);
  const snap = s.snapshot();
  t.equal(snap.pathMtu, 1380);
  // ceiling, floor, then bisection of 1200..1480 (9 steps), each lost size twice
  t.ok(snap.probes <= 2 + 9 * MAX_PROBES, `${snap.probes} probes`);
  t.ok(end < 40_000, `settled in ${end} ms`);
  // the re-check of an unchanged path: the ceiling (lost twice) and the result
  const before = snap.probes;
  run(s, () => 1380, end);
  t.equal(s.snapshot().pathMtu, 1380);
  t.equal(s.snapshot().probes - before, MAX_PROBES + 1);
});

t.test('a lost probe is not a smaller path', async (t) => {
  const s = new PmtuSearch(PMTU_FLOOR[4], GAP, RECHECK, TIMEOUT, 0);
  s.setCeiling(1450, 0);
  run(
    s,
    () => 1500,
    0,
    (n) => n === 1,
  );
  t.equal(s.snapshot().pathMtu, 1450);
  t.equal(s.snapshot().probes, 2);
});

t.test('the path grows back to the ceiling: the re-check sees it', async (t) => {
  const s = new PmtuSearch(PMTU_FLOOR[4], GAP, RECHECK, TIMEOUT, 0);
  s.setCeiling(1480, 0);
  let path = 1380;
  const end = run(s, () => path, 0);
  t.equal(s.snapshot().pathMtu, 1380);
  path = 1500;
  run(s, () => path, end);
  t.equal(s.snapshot().pathMtu, 1480);
  t.ok(s.snapshot().checkedAt! >= end + RECHECK, 'no sooner than the re-check interval');
});

t.test('a path below the floor, and a changed ceiling', async (t) => {
  const s = new PmtuSearch(PMTU_FLOOR[4], GAP, RECHECK, TIMEOUT, 0);
  s.setCeiling(1480, 0);
  const end = run(s, () => 1000, 0);
  t.match(s.snapshot(), { belowFloor: true, searching: false });
  t.equal(s.snapshot().pathMtu, undefined);
  s.setCeiling(1400, end);
  t.equal(s.due(end), 1400, 'a new ceiling is searched at once');
});

const status = (o: Partial<PmtuStatus>): PmtuStatus => ({
  floor: 1200,
  searching: false,
  probes: 0,
  bytes: 0,
  peerProbes: true,
  ...o,
});

t.test('mtu auto: lowered on the first smaller search, back up only after a trial carries the full mtu', async (t) => {
  const k = new MtuKeeper(() => 30_000);
  t.same(k.pathMtus(0), new Map(), 'nothing lowered');
  t.equal(k.onResult('vx0', status({ pathMtu: 1450, searchedUnder: 1450 }), 0), undefined, 'the path carries it');
  t.match(k.onResult('vx0', status({ pathMtu: 1350, searchedUnder: 1450 }), 1000), {
    from: 1450,
    to: 1350,
    words: 'lowered to what the path carries',
  });
  t.same(k.pathMtus(2000), new Map([['vx0', 1350]]));
  t.equal(
    k.onResult('vx0', status({ pathMtu: 1350, searchedUnder: 1350 }), 3000),
    undefined,
    'lowered, it fits: quiet',
  );
  t.equal(k.nextTrialAt(), 31_000);
  t.same(k.pathMtus(31_000), new Map(), 'the re-check is due: the trial runs at the full mtu');
  t.equal(
    k.onResult('vx0', status({ pathMtu: 1350, searchedUnder: 1350 }), 31_500),
    undefined,
    "the peer's figure during the trial, before a search ran under the full mtu: not the trial's result",
  );
  t.match(
    k.onResult('vx0', status({ pathMtu: 1350, searchedUnder: 1450 }), 33_000),
    { to: 1350, words: undefined },
    'failed: quietly back down',
  );
  t.same(k.pathMtus(34_000), new Map([['vx0', 1350]]));
  k.pathMtus(63_000);
  t.match(k.onResult('vx0', status({ pathMtu: 1450, searchedUnder: 1450 }), 64_000), {
    from: 1350,
    to: 1450,
    words: 'back up: the path carries it again',
  });
  t.same(k.pathMtus(65_000), new Map());
  t.same(k.current(), {});
});

t.test('path MTU in words', async (t) => {
  const p = (pmtu?: PmtuStatus, o: Partial<PeerStatus> = {}) => peerStatus({ ...(pmtu ? { pmtu } : {}), ...o });
  t.same(describePathMtu(p(status({ pathMtu: 1350, peerPathMtu: 1340, ceiling: 1450 }))), {
    state: 'warning',
    detail: 'path mtu 1350 out, 1340 in (tunnel mtu 1450: too large)',
  });
  t.same(describePathMtu(p(status({ pathMtu: 1450, ceiling: 1450 }))), {
    state: 'ok',
    detail: 'path mtu 1450 (tunnel mtu 1450: fits)',
  });
  t.match(describePathMtu(p(status({ belowFloor: true, ceiling: 1450 }))), {
    state: 'warning',
    detail: /path mtu < 1200/,
  });
  t.match(describePathMtu(p(status({ peerProbes: false }), { answeredBy: 'kernel' })), {
    state: 'pending',
    detail: /no island answers there/,
  });
  t.match(describePathMtu(p(status({ problem: 'no path MTU probes: the netlink addon is not island-patched' }))), {
    state: 'pending',
    detail: /not island-patched/,
  });
});
