/**
 * [daemon] rcu_expedited on the real kernel. /sys/kernel/rcu_expedited is the machine's, not a
 * namespace's: the test puts back the value it found, whatever happens. The daemon sets it, sets
 * it again after an admin's 0, and once the key is gone leaves it as it is. What it buys (a
 * heal or a firewall repair no longer waits out a normal grace period) is measured by
 * `npm run bench`; that island.service may write it, by test/qemu.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { startDaemon, writeConfig } from '../helpers/island.js';
import { netns } from '../helpers/netns.js';

const KNOB = '/sys/kernel/rcu_expedited';
const read = () => readFileSync(KNOB, 'utf8').trim();
const CONFIG = (key: string) => `
[[bridge]]
name = "br-rcu"

[daemon]
resync = "1s"
${key}
`;

t.test('the daemon keeps rcu_expedited at 1 while its file asks; without the key it leaves it', async (t) => {
  const found = read();
  t.teardown(() => writeFileSync(KNOB, `${found}\n`));
  writeFileSync(KNOB, '0\n');
  const ns = await netns(t, 'rcu');
  const config = await writeConfig(t, CONFIG('rcu_expedited = true'));
  const d = startDaemon(t, ns, config);
  const set = (r: { object?: string }) => r.object === 'rcu_expedited';
  const first = await d.waitForLog(set);
  t.equal(first.msg, `~ ${KNOB} = 1 (was 0)`, 'logged as a repair is');
  t.equal(read(), '1', `${KNOB} reads 1`);

  // an admin's (or a tuning profile's) 0: the next pass, a resync at the latest, sets it again
  writeFileSync(KNOB, '0\n');
  await d.waitForLog((r) => set(r) && r !== first, 5000);
  t.equal(read(), '1', 'set again after an admin wrote 0');

  // the key removed: the daemon never writes 0, nor sets it again
  writeFileSync(config, CONFIG(''));
  d.signal('SIGHUP');
  await d.waitForLog((r) => r.msg === 'configuration reloaded', 10_000);
  t.equal(read(), '1', 'reloaded without the key: left at 1');
  writeFileSync(KNOB, '0\n');
  // a pass the test can see: the bridge deleted, then made again
  await ns.exec(['ip', 'link', 'del', 'br-rcu']);
  await d.waitForLog((r) => r.msg === '+ link bridge br-rcu' && r.trigger !== 'start', 5000);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(read(), '0', 'an admin’s 0 stays after a repair pass and a resync');
  t.equal(d.logs.filter(set).length, 2, 'written twice in all');
});
