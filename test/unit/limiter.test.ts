import t from 'tap';
import { RepairLimiter } from '../../src/daemon/limiter.js';

t.test('a burst of repairs, then one per refill interval', async (t) => {
  let now = 0;
  const l = new RepairLimiter(3, 100, () => now);
  t.same([l.take('x'), l.take('x'), l.take('x'), l.take('x')], [true, true, true, false]);
  t.equal(l.waitMs('x'), 100);
  t.ok(l.take('y'), 'other objects keep their own budget');
  now = 99;
  t.notOk(l.take('x'));
  now = 100;
  t.ok(l.take('x'), 'one token back after one interval');
  t.notOk(l.take('x'));
  t.notOk(l.calm('x'));
  t.equal(l.calmInMs('x'), 300, 'three tokens short: calm in three intervals');
  now = 1000;
  t.ok(l.calm('x'), 'full again after a quiet spell');
});

t.test('a fight is paced: after the burst, one repair per interval, and a pause buys no new burst', async (t) => {
  let now = 0;
  const l = new RepairLimiter(10, 200, () => now);
  // the other side undoes every repair at once; the daemon asks every 10 ms
  const granted: number[] = [];
  for (now = 0; now < 5000; now += 10) if (l.take('x')) granted.push(now);
  t.strictSame(
    granted.slice(0, 11),
    [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 290],
    'the burst: 10 repairs as fast as asked, then the next one an interval after the last',
  );
  const perSecond = [1, 2, 3, 4].map((s) => granted.filter((at) => at >= s * 1000 && at < (s + 1) * 1000).length);
  t.strictSame(perSecond, [5, 5, 5, 5], 'then 5 per second, steadily');
  const gaps = granted.slice(11).map((at, i) => at - (granted[i + 10] as number));
  t.ok(
    gaps.every((g) => g === 200),
    `every gap after the burst is the refill interval: ${[...new Set(gaps)].join(', ')}`,
  );
  t.ok(l.contested('x'), 'contested while it lasts');

  // the other side pauses for 1 s (less than the 2 s that end a fight), then goes on
  const last = granted.at(-1) as number;
  now = last + 1000;
  t.ok(l.take('x'), 'one repair after the pause');
  t.notOk(l.take('x'), 'and not the five tokens a plain bucket would have saved up');
  t.equal(l.waitMs('x'), 200);
  t.equal(l.calmInMs('x'), 2000, 'calm once left alone for the time the burst takes to refill');
  now += 1999;
  t.notOk(l.calm('x'));
  now += 1;
  t.ok(l.calm('x'), 'the fight is over');
  t.notOk(l.contested('x'));
  t.equal(l.waitMs('x'), 0);
  const burst = Array.from({ length: 12 }, () => l.take('x')).filter(Boolean).length;
  t.equal(burst, 10, 'and the burst is back');
});

t.test('contested: a repair within 2 s of the one before, or a fight', async (t) => {
  let now = 0;
  const l = new RepairLimiter(10, 200, () => now);
  t.ok(l.take('x'));
  t.notOk(l.contested('x'), 'one repair is no fight');
  now = 3000;
  t.ok(l.take('x'));
  t.notOk(l.contested('x'), 'nor two, 3 s apart');
  now = 4500;
  t.ok(l.take('x'));
  t.ok(l.contested('x'), 'two within the 2 s that end a fight are');
  now = 6500;
  t.notOk(l.contested('x'), 'and 2 s later, no longer');
});

t.test('in a fight, a repair that comes late does not push the later ones back', async (t) => {
  let now = 0;
  const l = new RepairLimiter(3, 200, () => now);
  t.ok(l.take('x') && l.take('x') && l.take('x'));
  t.notOk(l.take('x'), 'the burst is spent');
  const at: number[] = [];
  // each pass takes 80 ms to read the host before it asks: the retry comes at the slot, the take 80 ms later
  for (let slot = 200; slot <= 2000; slot += 200) {
    now = slot + 80;
    if (l.take('x')) at.push(now);
    t.notOk(l.take('x'));
  }
  t.equal(at.length, 10, 'one per slot: 5 per second, not one per 280 ms');
  t.equal(l.waitMs('x'), 200 - 80, 'the next slot is on the grid');
  // a pause longer than an interval, shorter than the 600 ms that end this fight
  now = 2450;
  t.ok(l.take('x'), 'after a pause');
  now = 2649;
  t.notOk(l.take('x'), 'the grid starts again from that repair');
  now = 2650;
  t.ok(l.take('x'));
});
