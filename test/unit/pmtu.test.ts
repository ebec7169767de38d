/** The path MTU search on a fake clock and a fake path: what it finds, what it costs. */
import t from 'tap';
import { MAX_PROBES, PMTU_FLOOR, PmtuSearch } from '../../src/health/pmtu.js';

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
