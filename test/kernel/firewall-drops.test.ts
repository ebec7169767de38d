/**
 * What kills the island's traffic on a real kernel (issue 10, items 7, 8, 9), in the firewall
 * lab (firewall-lab.ts: a pod behind island's bridge, TCP across island's vxlan to a peer):
 *
 * - another nftables table's base chain on the forward hook with policy drop: island cannot
 *   override it; the daemon notices it, logs it once, puts it in STATUS=, status shows it
 *   (--json, --check exits 1); the fix it names brings the traffic back;
 * - iptables-legacy's FORWARD policy DROP on a host whose island writes to nft: island keeps
 *   its accepts in both backends and says so;
 * - INPUT policy DROP (by hand, and `ufw enable`): island's ISLAND-INPUT lets the tunnel's own
 *   packets in, TCP crosses; with [forward] input = false, status names what drops the tunnel.
 *
 * "Traffic works" is TCP across the tunnel, sha256 on both ends; "dies" is a short transfer
 * that fails. Only addresses of the test's own namespaces are used.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { type Daemon, type LogRecord, noErrorLogged, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { natIsland, natTopology, ufw } from '../helpers/netns.js';
import { nsEnd, tcpEachWay } from '../helpers/tcp.js';
import {
  conf,
  INPUT_JUMP,
  islandPart,
  JUMP,
  type Lab,
  lab,
  plugPod,
  started,
  tcp,
  until,
  works,
} from './firewall-lab.js';

/** The same, expected to fail: it proves the drop is real. */
async function dead(t: Test, l: Lab, why: string): Promise<void> {
  await t.rejects(tcp(l, 3000), `no TCP across the island: ${why}`);
}

/** A daemon whose control socket the CLI reaches (status shows its live view). */
async function daemon(t: Test, l: Lab, text: string) {
  const runtime = await mkdtemp(join(tmpdir(), 'island-fwd-'));
  t.teardown(() => rm(runtime, { recursive: true, force: true }));
  const env = { ISLAND_RUNTIME_DIR: runtime };
  const path = await writeConfig(t, text);
  const d = startDaemon(t, l.host, path, { env });
  await d.waitForLog(started);
  await plugPod(l);
  const status = (...args: string[]) => runIsland(l.host, ['status', '-c', path, ...args], { env });
  return { d, path, status };
}

const warned = (d: Daemon, object: string) => d.logs.filter((r: LogRecord) => r.level === 40 && r.object === object);

t.test('another nftables table with policy drop on the forward hook: seen, said, and gone with the fix', async (t) => {
  const l = await lab(t, 'fdn');
  const { d, status } = await daemon(t, l, conf());
  await works(t, l, 'island alone');

  const object = 'nftables inet filter chain forward';
  const t0 = Date.now();
  await l.host.run(['nft', '-f', '-'], {
    input:
      'table inet filter {\n chain forward {\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n }\n}\n',
  });
  const w = await d.waitForLog((r) => r.level === 40 && r.object === object, 5000);
  t.comment(`the daemon logged it ${Date.parse(w.time) - t0} ms after the nft command started`);
  t.match(
    w.msg,
    /^nftables inet filter chain forward: hook forward, policy drop: drops forwarded traffic in cni0, out cni0, in vx0, out vx0, in eth0 from 203\.0\.113\.0\/24 \(policy drop\); island's accepts in iptables cannot override a drop there: accept island's traffic first in that chain \(nft 'insert rule inet filter forward iifname \{ "cni0", "vx0" \} accept'; .*\), or set its policy to accept$/,
    'the log names table, chain, hook, policy and the fix',
  );
  const fixes = [...w.msg.matchAll(/nft '([^']+)'/g)].map((m) => m[1] as string);
  t.equal(fixes.length, 3, `the fix in three commands: ${fixes.join(' | ')}`);
  await dead(t, l, "the foreign chain's policy drops it whatever island's iptables rules say");
  const s = await d.waitForLog((r) => r.msg === 'status' && /nftables inet filter chain forward/.test(r.status), 5000);
  t.match(
    s.status,
    /nftables inet filter chain forward \(hook forward, policy drop\) drops island's traffic: accept it in that chain, or policy accept/,
    `STATUS=: ${s.status}`,
  );

  const table = await status();
  t.match(
    table.stdout,
    /^nftables inet filter chain forward +blocked +hook forward, policy drop: drops /m,
    'status shows it',
  );
  t.match(table.stdout, /^firewall ipv4 FORWARD jump +ok /m, "while island's own rows are ok");
  const json = JSON.parse((await status('--json')).stdout) as { objects: { object: string; state: string }[] };
  t.ok(
    json.objects.some((o) => o.object === object && o.state === 'blocked'),
    '--json has it',
  );
  const check = await status('--check');
  t.equal(check.code, 1, '--check exits 1');
  t.match(check.stderr, /^island: nftables inet filter chain forward: hook forward, policy drop: /m);

  // the fix, run as the message words it
  for (const f of fixes) await l.host.run(['nft', f]);
  await d.waitForLog((r) => r.msg === `${object}: no longer drops island's traffic`, 5000);
  await works(t, l, 'with the accepts the message names');
  t.equal(warned(d, object).length, 1, 'logged once while it lasted');
  t.equal((await status('--check')).code, 0, '--check content again');
  t.notMatch((await status()).stdout, /nftables inet filter/, 'and status has no such row');

  // a drop rule by island's interface, in a chain with policy accept, in one transaction: three
  // commands left the flushed chain with its policy drop for a moment, which a loaded machine's
  // daemon saw as the same finding still there, and logged nothing new
  await l.host.run(['nft', '-f', '-'], {
    input:
      'flush chain inet filter forward\nadd chain inet filter forward { policy accept; }\nadd rule inet filter forward oifname "vx0" drop\n',
  });
  const rule = await d.waitForLog((r) => r.level === 40 && r.object === object && /policy accept/.test(r.msg), 5000);
  t.match(
    rule.msg,
    /drops forwarded traffic out vx0 \(oifname "vx0" drop \(handle \d+\)\)/,
    'the rule, with its handle',
  );
  await dead(t, l, 'the rule drops it');
  t.equal(warned(d, object).length, 2, 'a new appearance, logged once more');
  await l.host.run(['nft', 'delete', 'table', 'inet', 'filter']);
  await d.waitForLog(
    (r) => r.msg === `${object}: no longer drops island's traffic` && d.logs.indexOf(r) > d.logs.indexOf(rule),
    5000,
  );
  await works(t, l, 'the table gone');
  noErrorLogged(t, d);
});

t.test("mixed hosts: legacy's FORWARD policy DROP beside island's nft rules", async (t) => {
  const l = await lab(t, 'fdm');
  const { d, path, status } = await daemon(t, l, conf({ poll: '200ms' }));
  await works(t, l, 'nft only');
  t.strictSame(
    await islandPart(l.host, 'iptables-legacy-save'),
    [],
    'nothing of island in legacy while it drops nothing',
  );

  const t0 = Date.now();
  await l.host.run(['iptables-legacy', '-w', '-P', 'FORWARD', 'DROP']);
  const legacy = await until(
    "island's part in legacy",
    () => islandPart(l.host, 'iptables-legacy-save'),
    (p) => p[0] === `FORWARD #1: ${JUMP}`,
    3000,
  );
  t.comment(`island's accepts were in legacy ${Date.now() - t0} ms after its FORWARD policy became DROP`);
  t.ok(legacy.includes('-A ISLAND-FORWARD -i vx0 -m comment --comment island -j ACCEPT'), 'its chain with its rules');
  await works(t, l, 'with island in both backends');
  t.match(
    (await status()).stdout,
    /^firewall backend +ok +nft and legacy \(both hold FORWARD rules that could drop island's traffic\): nft: set in the file/m,
    'status says both',
  );
  t.match((await status()).stdout, /^firewall ipv4 FORWARD jump \(legacy\) +ok +position 1 of 1$/m);

  // without island's part in legacy, that backend's DROP kills the traffic: the test can tell
  d.signal('SIGSTOP');
  await l.host.run(['iptables-legacy', '-w', '-F', 'FORWARD']);
  await dead(t, l, "legacy's DROP, island's nft ACCEPT notwithstanding");
  d.signal('SIGCONT');
  await until(
    'legacy repaired by the poll',
    () => islandPart(l.host, 'iptables-legacy-save'),
    (p) => p[0] === `FORWARD #1: ${JUMP}`,
    3000,
  );
  await works(t, l, 'repaired');

  await d.stop();
  const down = await runIsland(l.host, ['down', '-c', path]);
  t.match(
    down.stdout,
    /^- firewall ipv4 FORWARD jump \(island down, legacy backend\)$/m,
    'down removes it from legacy',
  );
  t.strictSame(await islandPart(l.host, 'iptables-legacy-save'), []);
  noErrorLogged(t, d);
});

t.test(
  "INPUT policy DROP: island's ISLAND-INPUT lets the tunnel in; with input = false status says why not",
  async (t) => {
    const l = await lab(t, 'fdi');
    const text = conf();
    const { d, path, status } = await daemon(t, l, text);
    t.strictSame(
      (await islandPart(l.host)).filter((x) => /INPUT/.test(x)),
      [
        `INPUT #1: ${INPUT_JUMP}`,
        ':ISLAND-INPUT -',
        '-A ISLAND-INPUT -s 192.0.2.2/32 -p udp -m udp --dport 4789 -m comment --comment island -j ACCEPT',
      ],
      "the tunnel's own packets accepted first in INPUT",
    );
    await l.host.run(['iptables-nft', '-P', 'INPUT', 'DROP']);
    await works(t, l, 'INPUT policy DROP, island accepts the VXLAN packets from the peer');

    // healed like FORWARD
    await l.host.run(['iptables-nft', '-F', 'INPUT']);
    await until(
      'the INPUT jump back',
      () => islandPart(l.host),
      (p) => p.includes(`INPUT #1: ${INPUT_JUMP}`),
      3000,
    );

    await writeFile(path, text.replace('[forward]\n', '[forward]\ninput = false\n'));
    d.signal('SIGHUP');
    await d.waitForLog((r) => r.msg === 'configuration reloaded');
    t.notOk(
      (await islandPart(l.host)).some((x) => /INPUT/.test(x)),
      'input = false: no ISLAND-INPUT',
    );
    await dead(t, l, "INPUT drops the peer's VXLAN packets");
    const st = await status();
    t.match(
      st.stdout,
      /^firewall ipv4 INPUT +blocked +iptables-nft INPUT drops vx0's packets \(udp 4789 from 192\.0\.2\.2\) \(policy DROP\): the tunnel cannot carry anything; set \[forward\] input = true/m,
      'status names what drops the tunnel',
    );
    t.equal((await status('--check')).code, 1, '--check exits 1');
    const w = await d.waitForLog((r) => r.level === 40 && r.object === 'firewall ipv4 INPUT', 5000);
    t.match(w.msg, /iptables-nft INPUT drops vx0's packets/, 'and the daemon logged it');
  },
);

t.test('ufw enable: the tunnel works with island, and status names ufw’s INPUT without it', async (t) => {
  const l = await lab(t, 'fdu');
  const run = await ufw(t, l.host);
  const text = conf();
  const { path, status, d } = await daemon(t, l, text);
  await run('--force', 'enable');
  t.match(await l.host.run(['iptables-nft', '-S', 'INPUT']), /^-P INPUT DROP$/m, 'ufw: INPUT policy DROP');
  const part = await until(
    "island's jumps first again",
    () => islandPart(l.host),
    (p) => p[0] === `FORWARD #1: ${JUMP}` && p[1] === `INPUT #1: ${INPUT_JUMP}`,
    3000,
  );
  t.ok(part.length > 2, "island's jumps first in FORWARD and INPUT, ahead of ufw's");
  await works(t, l, "ufw's INPUT and FORWARD policies DROP, island's accepts first");

  await writeFile(path, text.replace('[forward]\n', '[forward]\ninput = false\n'));
  d.signal('SIGHUP');
  await d.waitForLog((r) => r.msg === 'configuration reloaded');
  await dead(t, l, "ufw's INPUT drops the VXLAN packets");
  t.match(
    (await status()).stdout,
    /^firewall ipv4 INPUT +blocked +iptables-nft INPUT drops vx0's packets \(udp 4789 from 192\.0\.2\.2\) \(policy DROP\)/m,
    "status names ufw's INPUT policy",
  );
  await run('allow', '4789/udp');
  await until(
    'the finding gone',
    () => status(),
    (r) => !/^firewall ipv4 INPUT +blocked/m.test(r.stdout),
    5000,
  );
  await works(t, l, 'after ufw allow 4789/udp');
});

t.test(
  'what the tunnel sends: OUTPUT policy DROP and an nft output chain are named, and the fix they name works',
  async (t) => {
    const l = await lab(t, 'fdo');
    const { d, status } = await daemon(t, l, conf());
    await works(t, l, 'island alone');

    // ufw's "default deny outgoing" in short: every packet the tunnel sends is dropped
    await l.host.run(['iptables-nft', '-P', 'OUTPUT', 'DROP']);
    await dead(t, l, "OUTPUT drops the tunnel's own packets");
    const object = 'firewall ipv4 OUTPUT';
    const w = await d.waitForLog((r) => r.level === 40 && r.object === object, 5000);
    t.match(
      w.msg,
      /^firewall ipv4 OUTPUT: iptables-nft OUTPUT drops vx0's packets out \(udp 4789 to 192\.0\.2\.2\) \(policy DROP\): the tunnel cannot carry anything; island keeps no accept in OUTPUT: accept them there \(iptables -I OUTPUT -d 192\.0\.2\.2 -p udp --dport 4789 -j ACCEPT\)$/,
      'the daemon logs it, with the fix',
    );
    t.match((await status()).stdout, /^firewall ipv4 OUTPUT +blocked +iptables-nft OUTPUT drops vx0's packets out/m);
    t.equal((await status('--check')).code, 1, '--check exits 1');
    const s = await d.waitForLog((r) => r.msg === 'status' && /OUTPUT/.test(r.status), 5000);
    t.match(s.status, /firewall ipv4 OUTPUT drops vx0's packets out: accept them in OUTPUT/, `STATUS=: ${s.status}`);
    const fix = /\((iptables -I OUTPUT [^)]+)\)$/.exec(w.msg)?.[1] as string;
    await l.host.run(['iptables-nft', ...fix.split(' ').slice(1)]);
    await d.waitForLog((r) => r.msg === `${object}: no longer drops island's traffic`, 5000);
    await works(t, l, 'with the accept the message names');
    await l.host.run(['iptables-nft', '-P', 'OUTPUT', 'ACCEPT']);

    // the same in another nftables table, on the output hook
    const chain = 'nftables inet filter chain output';
    await l.host.run(['nft', '-f', '-'], {
      input: 'table inet filter {\n chain output {\n  type filter hook output priority 0; policy drop;\n }\n}\n',
    });
    await dead(t, l, "another table's output chain drops the tunnel's own packets");
    const n = await d.waitForLog((r) => r.level === 40 && r.object === chain, 5000);
    t.match(
      n.msg,
      /^nftables inet filter chain output: hook output, policy drop: drops vx0's packets out \(udp 4789 to 192\.0\.2\.2\) \(policy drop\)/,
    );
    for (const f of [...n.msg.matchAll(/nft '([^']+)'/g)].map((m) => m[1] as string)) await l.host.run(['nft', f]);
    await d.waitForLog((r) => r.msg === `${chain}: no longer drops island's traffic`, 5000);
    await works(t, l, 'with the accept the nft message names');
    noErrorLogged(t, d);
  },
);

t.test(
  'a link [forward] accepts traffic in, with its own forwarding 0: TCP dies, and check refuses the file',
  async (t) => {
    const l = await lab(t, 'fdf');
    await daemon(t, l, conf());
    await works(t, l, 'island alone');
    // IPv4 forwards what comes in cni0 only while cni0's own forwarding is on, ip_forward at 1 or not
    await l.host.run(['sysctl', '-qw', 'net.ipv4.conf.cni0.forwarding=0']);
    await dead(t, l, "cni0's forwarding is 0");
    await l.host.run(['sysctl', '-qw', 'net.ipv4.conf.cni0.forwarding=1']);
    await works(t, l, "cni0's forwarding back at 1");
    const bad = await writeConfig(t, `${conf()}\n[sysctl]\n"net.ipv4.conf.cni0.forwarding" = "0"\n`);
    const c = await runIsland(l.host, ['check', '-c', bad]);
    t.equal(c.code, 1);
    t.match(
      c.stderr,
      /sysctl\."net\.ipv4\.conf\.cni0\.forwarding": is 0, but \[forward\] accepts traffic in cni0, which IPv4 forwards only while cni0's own forwarding is on/,
    );
  },
);

t.test(
  "ufw enable at both ends of a NAT'd island: ISLAND-INPUT lets the health probes in, the peer is up while TCP crosses",
  async (t) => {
    const n = await natTopology(t, { prefix: 'fdh' });
    // the lab's one file: the end behind the NAT probes (keepalive), the public end answers
    // and, facing a NAT, speaks only once spoken to
    const path = await writeConfig(
      t,
      natIsland(`
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 333
port = 5533
source_port = 5533
ends = { pub = "10.30.30.1/30", priv = "10.30.30.2/30" }
keepalive = "2s"

[daemon]
health_interval = "1s"
`),
    );
    const ends = { pub: n.pub, priv: n.priv };
    const env = { pub: { ISLAND_RUNTIME_DIR: '' }, priv: { ISLAND_RUNTIME_DIR: '' } };
    for (const side of ['pub', 'priv'] as const) {
      env[side].ISLAND_RUNTIME_DIR = await mkdtemp(join(tmpdir(), `island-fdh-${side}-`));
      t.teardown(() => rm(env[side].ISLAND_RUNTIME_DIR, { recursive: true, force: true }));
      // ufw's default deny incoming, the island's TCP allowed: what an admin of such a host writes
      const run = await ufw(t, ends[side]);
      await run('allow', 'proto', 'tcp', 'from', '10.30.30.0/30');
      await run('--force', 'enable');
      t.match(await ends[side].run(['iptables', '-S', 'INPUT']), /^-P INPUT DROP$/m, `${side}: ufw: INPUT policy DROP`);
    }
    const daemons = (['pub', 'priv'] as const).map((side) => startDaemon(t, ends[side], path, { env: env[side] }));
    await Promise.all(daemons.map((d) => d.waitForLog(started)));
    for (const side of ['pub', 'priv'] as const) {
      t.match(
        await ends[side].run(['iptables', '-S', 'ISLAND-INPUT']),
        /^-A ISLAND-INPUT -i vx0 -p udp -m udp --dport 5534 -m comment --comment island -j ACCEPT$/m,
        `${side}: ISLAND-INPUT accepts the probes out of vx0`,
      );
    }
    await tcpEachWay(
      t,
      { end: nsEnd(n.priv, { name: 'priv' }), address: '10.30.30.2' },
      { end: nsEnd(n.pub, { name: 'pub' }), address: '10.30.30.1' },
    );
    // before: the probes were dropped in ufw's INPUT, both ends said "down" while TCP crossed
    for (const [side, peer] of [
      ['pub', '10.30.30.2'],
      ['priv', '10.30.30.1'],
    ] as const) {
      const st = await until(
        `${side}: peer up`,
        () => runIsland(ends[side], ['status', '--check', '-c', path], { env: env[side] }),
        (r) => r.code === 0,
        10_000,
      ).catch((e: Error) => ({ code: -1, stdout: e.message, stderr: '' }));
      t.comment(`${side}: ${st.stdout.split('\n').find((l) => l.startsWith('peer ')) ?? st.stdout}`);
      t.equal(st.code, 0, `${side}: status --check exits 0`, { stdout: st.stdout, stderr: st.stderr });
      t.match(
        st.stdout,
        new RegExp(`^peer ${peer.replaceAll('.', '\\.')} on vx0 +up +rtt`, 'm'),
        `${side}: peer ${peer} up`,
      );
    }
    // healed like the rest (over netlink, once the daemon has seen the rule's kernel form)
    await n.pub.run(['iptables', '-F', 'ISLAND-INPUT']);
    await until(
      'the probes accepted again',
      () => n.pub.run(['iptables', '-S', 'ISLAND-INPUT']),
      (r) => r.includes('-A ISLAND-INPUT -i vx0 -p udp -m udp --dport 5534'),
      3000,
    );
    t.pass('pub: iptables -F ISLAND-INPUT: the accept for the probes is back');
    for (const d of daemons) noErrorLogged(t, d);
  },
);
