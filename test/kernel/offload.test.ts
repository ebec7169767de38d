/**
 * TX checksum offload of island's vxlan links, checked as a user would, with `ethtool -k`
 * inside the test's namespace: off from the pass that creates the link, left as the kernel
 * has it with tx_checksum_offload = true, shown by `plan` and `status` when someone turns it
 * on, turned off again by a running daemon within milliseconds (through the link event the
 * change raises: the resync is an hour here), and a second apply changes nothing.
 */
import t from 'tap';
import { type LogRecord, noErrorLogged, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type Netns, netns } from '../helpers/netns.js';

const conf = (extra = '') => `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "192.0.2.2"
port = 5533
addresses = ["10.30.30.1/30"]
${extra}
[daemon]
resync = "1h"
debounce = "5ms"
`;

/** `ethtool -k vx0`: the feature `tx off` clears on a vxlan device, and its group's summary line */
async function tx(ns: Netns): Promise<{ generic?: string; group?: string; all: string }> {
  const all = await ns.run(['ethtool', '-k', 'vx0']);
  const value = (name: string) => new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(all)?.[1];
  return { generic: value('tx-checksum-ip-generic'), group: value('tx-checksumming'), all };
}

const ifindex = async (ns: Netns): Promise<number | undefined> =>
  (await ns.ipJson(['link', 'show', 'vx0']))[0]?.ifindex;

const HEAL = '~ link vx0: tx checksum offload on → off';

t.test('apply creates vx0 with tx checksum offload off in the same pass; a second apply changes nothing', async (t) => {
  const ns = await netns(t, 'offl');
  // the tunnel's local address is on this host: otherwise island reports it blocked
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
  const path = await writeConfig(t, conf());
  const first = await runIsland(ns, ['apply', '-c', path]);
  t.equal(first.code, 0, `apply exits 0 ${first.stderr}`);
  t.match(first.stdout, /^\+ link vxlan vx0 \(.*, tx checksum offload off\)$/m, 'the create line says so');
  const after = await tx(ns);
  t.equal(after.generic, 'off', 'ethtool -k: tx-checksum-ip-generic: off');
  t.equal(after.group, 'off', 'ethtool -k: tx-checksumming: off');
  const index = await ifindex(ns);

  const again = await runIsland(ns, ['apply', '-c', path]);
  t.equal(again.code, 0, `apply again exits 0 ${again.stderr}`);
  t.equal(again.stdout, 'no changes\n', 'apply again: no changes');
  t.equal((await tx(ns)).all, after.all, 'every feature as it was');
  t.equal(await ifindex(ns), index, 'same link');
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 0, 'plan --exit-code: nothing pending');
});

t.test('tx_checksum_offload = true leaves the kernel default alone, and unmanaged', async (t) => {
  const ns = await netns(t, 'offl');
  // the tunnel's local address is on this host: otherwise island reports it blocked
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
  const path = await writeConfig(t, conf('tx_checksum_offload = true'));
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 0, `apply exits 0 ${r.stderr}`);
  t.notMatch(r.stdout, /offload/, 'nothing said about it');
  t.equal((await tx(ns)).generic, 'on', "the kernel's default for a vxlan device");
  await ns.run(['ethtool', '-K', 'vx0', 'tx', 'off']);
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 0, `turned off by hand: not island's business (${plan.stdout.trim()})`);
});

t.test('ethtool -K vx0 tx on: plan and status show it; a running daemon turns it off at once', async (t) => {
  const ns = await netns(t, 'offl');
  // the tunnel's local address is on this host: otherwise island reports it blocked
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
  const path = await writeConfig(t, conf());
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0, 'apply exits 0');
  const index = await ifindex(ns);
  await ns.run(['ethtool', '-K', 'vx0', 'tx', 'on']);
  t.equal((await tx(ns)).generic, 'on', 'turned on by hand');

  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 2, 'plan --exit-code: a change is pending');
  t.equal(plan.stdout, `${HEAL}\n`, 'an in-place change, no re-create');
  const status = await runIsland(ns, ['status', '--json', '-c', path]);
  t.match(
    JSON.parse(status.stdout).objects,
    [{ object: 'link vx0', state: 'drifted', detail: 'tx checksum offload on → off' }],
    'status --json: link vx0 drifted',
  );

  const d = startDaemon(t, ns, path);
  await d.waitForLog((r) => r.msg === HEAL && r.trigger === 'start');
  await d.waitForLog((r) => r.msg === 'island daemon running');
  t.equal((await tx(ns)).generic, 'off', 'healed at start');

  const heals: number[] = [];
  for (let i = 0; i < 3; i++) {
    const seen = new Set(d.logs);
    const t0 = Date.now();
    await ns.run(['ethtool', '-K', 'vx0', 'tx', 'on']);
    const rec: LogRecord = await d.waitForLog((r) => !seen.has(r) && r.msg === HEAL, 10_000);
    const ms = Date.parse(rec.time) - t0;
    heals.push(ms);
    t.match(rec.trigger, /^link new vx0$/, 'triggered by the link event the change raises, not by the resync');
    t.equal((await tx(ns)).generic, 'off', `off again, ${ms} ms after ethtool -K was started`);
  }
  t.ok(Math.max(...heals) < 2000, `healed within ${Math.max(...heals)} ms each time (resync is 1h)`);
  t.comment(`heal after ethtool -K vx0 tx on (from starting ethtool to island's log line): ${heals.join(', ')} ms`);
  t.equal(await ifindex(ns), index, 'never re-created');
  noErrorLogged(t, d);
  t.equal((await d.stop()).code, 0, 'the daemon exits 0 on SIGTERM');
});
