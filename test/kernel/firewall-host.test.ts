/**
 * island's FORWARD rules on the real kernel, around the nft repairs of
 * firewall.test.ts: the legacy backend's poll, foreign rules untouched by
 * apply, daemon and down (IPv4, IPv6, legacy, nat), removal with [forward],
 * automatic backend choice, and check's warning.
 */
import { writeFile } from 'node:fs/promises';
import t from 'tap';
import { runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { netns } from '../helpers/netns.js';
import { conf, foreignPart, islandPart, JUMP, lab, plugPod, same, started, survive, until } from './firewall-lab.js';

t.test('legacy backend: a flush is noticed by the poll and undone', async (t) => {
  const l = await lab(t, 'fwl');
  const d = startDaemon(t, l.host, await writeConfig(t, conf({ backend: 'legacy', poll: '250ms' })));
  await d.waitForLog(started);
  await plugPod(l);
  await d.waitForLog((r) => /^firewall: legacy backend .*every 250 ms/.test(r.msg));
  const save = 'iptables-legacy-save';
  const before = await islandPart(l.host, save);
  t.equal(before[0], `FORWARD #1: ${JUMP}`, 'the jump is in the legacy table');
  t.strictSame(await islandPart(l.host), [], 'and nothing in nft');
  const opts = { save, tool: 'iptables-legacy' };
  // A pass that a late link event of the pod's veths starts (under load, after the poll began) can
  // repair the flush before the poll sees it: that is a repair too, but not the poll's; flush again.
  const triggers: string[] = [];
  for (let attempt = 0; attempt < 3 && !triggers.some((x) => x.startsWith('firewall poll:')); attempt++) {
    const n = d.logs.length;
    const ms = await survive(t, l, d, before, 'iptables-legacy -w -F FORWARD', opts);
    t.ok(ms < 2000, `repaired within the poll interval and a pass: ${ms} ms`);
    const rec = await d.waitForLog((r) => d.logs.indexOf(r) >= n && r.object === 'firewall ipv4 FORWARD jump');
    triggers.push(String(rec.trigger));
  }
  t.match(
    triggers.at(-1),
    /^firewall poll: firewall ipv4 FORWARD jump missing$/,
    `the poll noticed: ${triggers.join('; ')}`,
  );
  await survive(t, l, d, before, 'iptables-legacy -w -F ISLAND-FORWARD', opts);
  await survive(t, l, d, before, 'iptables-legacy -w -I FORWARD -j ACCEPT', opts);
  t.match(await l.host.run(['iptables-legacy', '-S', 'FORWARD']), /^-A FORWARD -j ACCEPT$/m, 'a foreign rule stays');
});

t.test('foreign chains and rules: untouched by apply, the daemon and down', async (t) => {
  const l = await lab(t, 'fwf', { ipv6: true });
  const foreign4 = [
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    '-A POSTROUTING -o eth0 -j MASQUERADE',
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':FOO - [0:0]',
    '-A INPUT -p tcp --dport 22 -j ACCEPT',
    '-A FORWARD -i eth0 -j FOO',
    '-A FORWARD -m comment --comment "someone else" -j ACCEPT',
    '-A FOO -s 10.99.0.0/16 -j DROP',
    'COMMIT',
    '',
  ].join('\n');
  const foreign6 = ['*filter', ':FORWARD ACCEPT [0:0]', '-A FORWARD -i eth0 -j DROP', 'COMMIT', ''].join('\n');
  await l.host.run(['iptables-nft-restore'], { input: foreign4 });
  await l.host.run(['ip6tables-nft-restore'], { input: foreign6 });
  await l.host.run(['iptables-legacy', '-w', '-A', 'OUTPUT', '-j', 'ACCEPT']);
  const snap = async () => ({
    v4: await foreignPart(l.host, 'iptables-nft-save'),
    v6: await foreignPart(l.host, 'ip6tables-nft-save'),
    legacy: await foreignPart(l.host, 'iptables-legacy-save'),
  });
  const original = await snap();
  const path = await writeConfig(t, conf({ ipv6: true }));

  const plan = await runIsland(l.host, ['plan', '-c', path]);
  t.match(plan.stdout, /^\+ firewall ipv4 chain ISLAND-FORWARD \(5 rules\)$/m, 'plan shows the firewall actions');
  t.match(plan.stdout, /^\+ firewall ipv6 FORWARD jump \(→ ISLAND-FORWARD, first in FORWARD\)$/m);

  const apply = await runIsland(l.host, ['apply', '-c', path]);
  t.equal(apply.code, 0, apply.stderr);
  t.strictSame(await snap(), original, 'apply: foreign rules identical');
  const v4 = await islandPart(l.host);
  const v6 = await islandPart(l.host, 'ip6tables-nft-save');
  t.equal(v6[0], `FORWARD #1: ${JUMP}`, 'IPv6 used: ip6tables has island too');
  t.equal((await l.host.run(['sysctl', '-n', 'net.ipv6.conf.all.forwarding'])).trim(), '1');

  const d = startDaemon(t, l.host, path);
  await d.waitForLog(started);
  await l.host.sh('iptables-nft -D FORWARD -m comment --comment island -j ISLAND-FORWARD');
  await l.host.sh('ip6tables-nft -F ISLAND-FORWARD');
  await until(
    'both families repaired',
    async () => [await islandPart(l.host), await islandPart(l.host, 'ip6tables-nft-save')],
    (p) => same(p, [v4, v6]),
  );
  t.strictSame(await snap(), original, 'daemon repairs: foreign rules identical');
  await d.stop();

  // status, the way a user reads it
  await l.host.run(['iptables-nft', '-I', 'FORWARD', '-j', 'FOO']);
  const status = await runIsland(l.host, ['status', '-c', path]);
  t.match(status.stdout, /^firewall backend +ok +nft: set in the file/m, 'status names the backend');
  t.match(status.stdout, /^firewall ipv4 chain ISLAND-FORWARD +ok +5 rules$/m);
  t.match(
    status.stdout,
    /^firewall ipv4 FORWARD jump +drifted +at position 2 of 4, behind FOO$/m,
    'and the jump position',
  );
  t.match(status.stdout, /^firewall ipv6 FORWARD jump +ok +position 1 of 2$/m);
  await l.host.run(['iptables-nft', '-D', 'FORWARD', '-j', 'FOO']);

  const down = await runIsland(l.host, ['down', '-c', path]);
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /^- firewall ipv4 FORWARD jump \(island down, nft backend\)$/m);
  t.match(down.stdout, /^- firewall ipv6 chain ISLAND-FORWARD \(island down, nft backend\)$/m);
  t.strictSame(await islandPart(l.host), [], 'no island chain or jump left (IPv4)');
  t.strictSame(await islandPart(l.host, 'ip6tables-nft-save'), [], '(IPv6)');
  t.strictSame(await snap(), original, 'down: exactly the foreign rules remain');
});

t.test('removing [forward] from the file removes the jump and the chain (reload, and apply)', async (t) => {
  const l = await lab(t, 'fwx');
  const path = await writeConfig(t, conf());
  const d = startDaemon(t, l.host, path);
  await d.waitForLog(started);
  t.equal((await islandPart(l.host))[0], `FORWARD #1: ${JUMP}`);
  await l.host.run(['iptables-nft', '-A', 'FORWARD', '-j', 'ACCEPT']);
  await writeFile(path, conf().replace(/\[forward\][\s\S]*?(?=\[daemon\])/, ''));
  d.signal('SIGHUP');
  await until(
    'island gone from iptables',
    () => islandPart(l.host),
    (p) => p.length === 0,
  );
  await d.waitForLog((r) => r.msg === '- firewall ipv4 chain ISLAND-FORWARD (no longer in the file)', 3000);
  t.pass('the removal is logged');
  t.match(await l.host.run(['iptables-nft', '-S', 'FORWARD']), /^-A FORWARD -j ACCEPT$/m, 'the foreign rule stays');
  await d.stop();

  // the same with one-shot commands: apply with [forward], then without
  await writeFile(path, conf());
  t.equal((await runIsland(l.host, ['apply', '-c', path])).code, 0);
  t.equal((await islandPart(l.host)).length, 10, 'the FORWARD and INPUT jumps, both chains and their 6 rules');
  await writeFile(path, conf().replace(/\[forward\][\s\S]*?(?=\[daemon\])/, ''));
  const r = await runIsland(l.host, ['apply', '-c', path]);
  t.match(r.stdout, /^- firewall ipv4 FORWARD jump \(no longer in the file\)$/m);
  t.strictSame(await islandPart(l.host), []);
});

t.test('backend auto: follows the backend that holds the rules, and says why', async (t) => {
  const ns = await netns(t, 'fwb');
  const path = await writeConfig(t, '[forward]\naccept = ["eth0"]\n');
  await ns.run(['iptables-legacy', '-w', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
  await ns.run(['iptables-legacy', '-w', '-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT']);
  const apply = await runIsland(ns, ['apply', '-c', path]);
  t.equal(apply.code, 0, apply.stderr);
  t.equal((await islandPart(ns, 'iptables-legacy-save'))[0], `FORWARD #1: ${JUMP}`, 'written to legacy');
  t.strictSame(await islandPart(ns), [], 'nothing in nft');
  const status = await runIsland(ns, ['status', '--json', '-c', path]);
  const objects = JSON.parse(status.stdout).objects as { object: string; detail?: string }[];
  t.match(
    objects.find((o) => o.object === 'firewall backend')?.detail,
    /^legacy: iptables-legacy holds 5 rules, iptables-nft 0$/,
  );

  // kubelet's hint outweighs any count
  await ns.run(['iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
  const s2 = await runIsland(ns, ['status', '-c', path]);
  t.match(s2.stdout, /^firewall backend +ok +nft: kubelet's KUBE-IPTABLES-HINT chain is in iptables-nft$/m);
  t.match(s2.stdout, /^firewall ipv4 FORWARD jump +missing$/m, 'in nft, island has not written yet');
  const down = await runIsland(ns, ['down', '-c', path]);
  t.match(down.stdout, /\(island down, legacy backend\)/, 'down sweeps the backend the file no longer points at');
  t.strictSame(await islandPart(ns, 'iptables-legacy-save'), []);

  // a file without [forward] finds island's leftovers in either backend, and removes them
  await writeFile(path, '[forward]\naccept = ["eth0"]\nbackend = "legacy"\n');
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0);
  t.equal((await islandPart(ns, 'iptables-legacy-save')).length, 4, 'written to legacy, as the file says');
  await writeFile(path, '[sysctl]\n"net.ipv4.ip_forward" = 1\n');
  const sweep = await runIsland(ns, ['apply', '-c', path]);
  t.match(sweep.stdout, /^- firewall ipv4 chain ISLAND-FORWARD \(no longer in the file\)$/m, sweep.stderr);
  t.strictSame(await islandPart(ns, 'iptables-legacy-save'), [], 'legacy leftovers gone');
  t.strictSame(await islandPart(ns), [], 'and nothing in nft either');
});

t.test('check: a [forward] link neither declared nor on the host is warned about, with its line', async (t) => {
  const ns = await netns(t, 'fwc');
  const path = await writeConfig(t, '[forward]\naccept = ["lo", "cni9"]\n');
  await writeFile(path, '[forward]\naccept = ["lo", "cni9"]\n');
  const r = await runIsland(ns, ['check', '-c', path]);
  t.equal(r.code, 0, 'a warning, not an error');
  t.equal(
    r.stderr,
    `${path}:2:17: warning: forward.accept[1]: "cni9" is neither a tunnel or bridge of this file nor a link on this host (a typo?); its rules match nothing until such a link exists\n`,
  );
});
