/**
 * island's FORWARD rules on the real kernel, nft backend: each adversary of
 * the issue (flushes, deletes, docker's and kube-proxy's rewrites, nft flush
 * ruleset) is undone, leaving island's part of the ruleset exactly as before
 * and the pod's ping through a FORWARD policy DROP working; 100 flush cycles
 * leave no duplicate; a jump-deleting loop meets the limiter. The lab is
 * firewall-lab.ts; the other backend and the host-level behaviour are in
 * firewall-host.test.ts.
 */
import t from 'tap';
import { noErrorLogged, startDaemon, writeConfig } from '../helpers/island.js';
import {
  conf,
  cpuSeconds,
  INPUT_JUMP,
  islandPart,
  JUMP,
  lab,
  ping,
  plugPod,
  same,
  started,
  survive,
  until,
  works,
} from './firewall-lab.js';

t.test('nft backend: every adversary is undone, island first in FORWARD, the ping goes through', async (t) => {
  const l = await lab(t, 'fwn');
  const path = await writeConfig(t, conf());
  const d = startDaemon(t, l.host, path);
  await d.waitForLog(started);
  await plugPod(l);
  await d.waitForLog((r) => /^firewall: nft backend/.test(r.msg));

  const before = await islandPart(l.host);
  t.strictSame(before, [
    `FORWARD #1: ${JUMP}`,
    `INPUT #1: ${INPUT_JUMP}`,
    ':ISLAND-FORWARD -',
    ':ISLAND-INPUT -',
    '-A ISLAND-FORWARD -i cni0 -m comment --comment island -j ACCEPT',
    '-A ISLAND-FORWARD -o cni0 -m comment --comment island -j ACCEPT',
    '-A ISLAND-FORWARD -i vx0 -m comment --comment island -j ACCEPT',
    '-A ISLAND-FORWARD -o vx0 -m comment --comment island -j ACCEPT',
    '-A ISLAND-FORWARD -s 203.0.113.0/24 -i eth0 -m comment --comment island -j ACCEPT',
    '-A ISLAND-INPUT -s 192.0.2.2/32 -p udp -m udp --dport 4789 -m comment --comment island -j ACCEPT',
  ]);
  t.equal((await l.host.run(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1', 'forwarding switched on');

  await t.test('iptables -P FORWARD DROP: island rules first, nothing to repair', async (t) => {
    const n = d.logs.length;
    await l.host.run(['iptables-nft', '-P', 'FORWARD', 'DROP']);
    t.equal((await ping(l)).code, 0, 'the ping goes through island under policy DROP');
    await works(t, l, 'under policy DROP');
    t.strictSame(await islandPart(l.host), before);
    await new Promise((r) => setTimeout(r, 100));
    t.notOk(
      d.logs.slice(n).some((r) => /^[+~-] firewall/.test(r.msg)),
      'the policy is not island’s: no repair',
    );
    // and without island's rules the same ping would not pass: the test can tell
    d.signal('SIGSTOP');
    await l.host.run(['iptables-nft', '-F', 'FORWARD']);
    t.not((await ping(l)).code, 0, 'without the jump, policy DROP stops the ping');
    d.signal('SIGCONT');
    await until(
      'repaired',
      () => islandPart(l.host),
      (p) => same(p, before),
    );
  });

  await t.test('iptables -F FORWARD', async (t) => {
    const n = d.logs.length;
    await survive(t, l, d, before, 'iptables-nft -F FORWARD');
    const rec = await d.waitForLog(
      (r) => d.logs.indexOf(r) >= n && r.object === 'firewall ipv4 FORWARD jump' && /^\+ /.test(r.msg),
    );
    // (a pass still running when the flush lands runs once more, as "coalesced")
    t.match(rec.trigger, /^(nftables del rule FORWARD \(ipv4\)|coalesced)$/, 'the repair names the event behind it');
  });

  await t.test("iptables -F of island's chain", async (t) => {
    await survive(t, l, d, before, 'iptables-nft -F ISLAND-FORWARD');
  });

  await t.test('iptables -X after a flush', async (t) => {
    await survive(t, l, d, before, 'iptables-nft -F && iptables-nft -X', { stop: true });
  });

  await t.test('docker: policy DROP, DOCKER-USER and DOCKER-FORWARD jumps inserted first', async (t) => {
    const docker = [
      'iptables-nft -P FORWARD DROP',
      'iptables-nft -N DOCKER-USER',
      'iptables-nft -N DOCKER-FORWARD',
      'iptables-nft -A DOCKER-USER -j RETURN',
      'iptables-nft -A DOCKER-FORWARD -i docker0 -j ACCEPT',
      'iptables-nft -I FORWARD -j DOCKER-FORWARD',
      'iptables-nft -I FORWARD -j DOCKER-USER',
    ].join(' && ');
    await survive(t, l, d, before, docker, { stop: true });
    t.strictSame(
      (await l.host.run(['iptables-nft', '-S', 'FORWARD'])).trim().split('\n'),
      ['-P FORWARD DROP', JUMP, '-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-FORWARD'],
      "island's jump first, docker's after it in their order",
    );
    t.strictSame(
      (await l.host.run(['iptables-nft', '-S', 'DOCKER-FORWARD'])).trim().split('\n'),
      ['-N DOCKER-FORWARD', '-A DOCKER-FORWARD -i docker0 -j ACCEPT'],
      "docker's chains untouched",
    );
  });

  await t.test('kube-proxy: iptables-restore of the whole filter table without island (no --noflush)', async (t) => {
    const kube = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':KUBE-FORWARD - [0:0]',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
      'COMMIT',
      '',
    ].join('\n');
    const file = await writeConfig(t, kube, 'kube.rules');
    await survive(t, l, d, before, `iptables-nft-restore < ${file}`, { stop: true });
    t.match(
      await l.host.run(['iptables-nft', '-S', 'KUBE-FORWARD']),
      /-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP/,
      "kube-proxy's chain stays",
    );
  });

  await t.test('nft flush ruleset', async (t) => {
    await survive(t, l, d, before, 'nft flush ruleset');
  });

  await t.test('net.ipv4.ip_forward=0 comes back like any sysctl, at the next pass', async (t) => {
    await l.host.run(['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    // sysctls raise no event: any pass heals them (the resync at the latest); a foreign chain's event is one
    await l.host.run(['iptables-nft', '-N', 'SOMEONE']);
    await until(
      'ip_forward back to 1',
      () => l.host.run(['sysctl', '-n', 'net.ipv4.ip_forward']),
      (v) => v.trim() === '1',
    );
    await until(
      'the ping through island',
      () => ping(l),
      (x) => x.code === 0,
      3000,
    );
    t.pass('forwarding healed, ping through');
    await works(t, l, 'forwarding healed');
  });

  noErrorLogged(t, d);
});

t.test('100 flush and duplicate cycles end with exactly one jump and no duplicate rule', async (t) => {
  const l = await lab(t, 'fw100');
  const d = startDaemon(t, l.host, await writeConfig(t, conf()));
  await d.waitForLog(started);
  const before = await islandPart(l.host);
  // flushes, flushes of island's chain, and copies of island's jump, 100 of them as fast as they come
  const r = await l.host.sh(`
    for i in $(seq 1 100); do
      case $((i % 4)) in
        0) iptables-nft -F FORWARD ;;
        1) iptables-nft -I FORWARD -m comment --comment island -j ISLAND-FORWARD || true ;;
        2) iptables-nft -F ISLAND-FORWARD || true ;;
        3) iptables-nft -A FORWARD -m comment --comment island -j ISLAND-FORWARD || true ;;
      esac
    done`);
  t.equal(r.code, 0, r.stderr);
  const after = await until(
    "island's part back",
    () => islandPart(l.host),
    (p) => same(p, before),
    10_000,
  );
  t.strictSame(after, before, 'identical to before: one jump, first; each rule once, in order');
  const all = (await l.host.run(['iptables-nft-save', '-t', 'filter'])).split('\n').filter((x) => x.startsWith('-A'));
  t.equal(new Set(all).size, all.length, 'no rule twice anywhere in the table');
  // a repair built from a read that the hammering made stale is refused whole (and retried from a
  // fresh read, then by the next pass): that is the only failure allowed, and it changes nothing
  const errors = d.logs.filter((x) => x.level >= 50);
  t.ok(
    errors.every((x) => /line \d+ failed: .*\[island's line \d+: -D FORWARD /.test(x.error ?? '')),
    `only refused batches, raced by the adversary: ${errors.map((x) => x.error).join('\n')}`,
  );
  t.comment(`${errors.length} repairs refused because FORWARD changed under them, all retried`);
});

t.test('a process that deletes the jump in a loop meets rate-limited repairs and bounded CPU', async (t) => {
  const l = await lab(t, 'fwr');
  const d = startDaemon(t, l.host, await writeConfig(t, conf()));
  await d.waitForLog(started);
  const before = await islandPart(l.host);
  const cpu0 = await cpuSeconds(l.host, d.pid);
  const t0 = Date.now();
  // the adversary: for 4 s, delete the jump whenever it is there
  const r = await l.host.sh(`
    n=0; end=$((SECONDS+4))
    while [ $SECONDS -lt $end ]; do
      if iptables-nft -D FORWARD -m comment --comment island -j ISLAND-FORWARD 2>/dev/null; then n=$((n+1)); else sleep 0.005; fi
    done
    echo $n`);
  const secs = (Date.now() - t0) / 1000;
  const deleted = Number(r.stdout.trim());
  const key = 'firewall ipv4 FORWARD jump';
  const repairs = d.logs.filter((x) => x.object === key && /^\+ /.test(x.msg)).length;
  const budget = 10 + 5 * secs;
  t.ok(repairs <= budget + 2, `repairs bounded by the limiter (burst 10 + 5/s): ${repairs} for ${deleted} deletions`);
  const warn = d.logs.filter((x) => x.level === 40 && /keeps being undone by another process/.test(x.msg));
  const cpu = (await cpuSeconds(l.host, d.pid)) - cpu0;
  t.ok(cpu < 0.5 * secs + 0.5, `CPU stays bounded: ${cpu.toFixed(2)} s in ${secs.toFixed(1)} s`);
  await until(
    "island's part back",
    () => islandPart(l.host),
    (p) => same(p, before),
    10_000,
  );
  // on a machine so loaded that the adversary deletes no faster than the limiter refills, there is no fight to stop
  if (deleted > budget + 1) {
    t.equal(warn.filter((x) => x.object === key).length, 1, 'the fight is reported, once');
    await d.waitForLog((x) => x.msg === `${key} is no longer contested`, 10_000);
  } else t.comment(`only ${deleted} deletions in ${secs.toFixed(1)} s: within the limiter's budget`);
});
