/**
 * [daemon] rcu_expedited as the daemon keeps it (daemon/rcu.ts), on a directory laid out as
 * /sys/kernel is: written only when it reads otherwise, each problem said once. The kernel's own
 * file is written by test/kernel/rcu.test.ts and, under island.service, by test/qemu.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { RcuExpedited } from '../../src/daemon/rcu.js';
import { logger } from '../helpers/log.js';

/** A /sys/kernel of the test's own with the two files, as the kernel prints them. */
function kernelDir(t: Test, expedited: string, normal: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'island-rcu-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'rcu_expedited'), `${expedited}\n`);
  writeFileSync(join(dir, 'rcu_normal'), `${normal}\n`);
  return dir;
}

const expedited = (dir: string) => readFileSync(join(dir, 'rcu_expedited'), 'utf8');

t.test('asked for: written once, when it reads otherwise; not asked for: never touched', async (t) => {
  const dir = kernelDir(t, '0', '0');
  const { log, records } = logger();
  const rcu = new RcuExpedited(log, dir);
  rcu.keep(undefined);
  rcu.keep(false);
  t.equal(expedited(dir), '0\n', 'absent or false: left as it is');
  rcu.keep(true);
  t.equal(expedited(dir), '1\n');
  t.match(records, [{ level: 30, object: 'rcu_expedited', msg: `~ ${dir}/rcu_expedited = 1 (was 0)` }]);
  rcu.keep(true);
  t.equal(records.length, 1, 'already 1: nothing written, nothing said');
  writeFileSync(join(dir, 'rcu_expedited'), '0\n');
  rcu.keep(true);
  t.equal(expedited(dir), '1\n', "an admin's 0 is set back at the next pass");
  t.equal(records.length, 2);
  writeFileSync(join(dir, 'rcu_expedited'), '0\n');
  rcu.keep(false);
  t.equal(expedited(dir), '0\n', 'the key removed: the value stays as it is');
});

t.test('rcu_normal = 1 overrides it: said once, and again once it comes back', async (t) => {
  const dir = kernelDir(t, '0', '1');
  const { log, records } = logger();
  const rcu = new RcuExpedited(log, dir);
  rcu.keep(true);
  rcu.keep(true);
  const warned = () => records.filter((r) => r.level === 40).map((r) => r.msg);
  t.same(warned(), [
    `${dir}/rcu_normal is 1, which turns every expedited grace period into a normal one: [daemon] rcu_expedited has no effect`,
  ]);
  writeFileSync(join(dir, 'rcu_normal'), '0\n');
  rcu.keep(true);
  writeFileSync(join(dir, 'rcu_normal'), '1\n');
  rcu.keep(true);
  t.equal(warned().length, 2, 'gone, then back: said again');
});

t.test("a file it cannot write (a container's read-only /sys): one warning naming the file", async (t) => {
  const dir = kernelDir(t, '0', '0');
  rmSync(join(dir, 'rcu_expedited'));
  // a directory where the file should be fails the write as the kernel's read-only /sys would fail it
  mkdirSync(join(dir, 'rcu_expedited'));
  const { log, records } = logger();
  const rcu = new RcuExpedited(log, dir);
  rcu.keep(true);
  rcu.keep(true);
  t.equal(records.length, 1);
  t.match(records[0], {
    level: 40,
    msg: `[daemon] rcu_expedited: ${dir}/rcu_expedited: EISDIR: illegal operation on a directory`,
  });
});
