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
