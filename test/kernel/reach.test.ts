/**
 * `island test` on a real kernel: three namespaces on one bridge form a one-site island.
 *
 *   gw  [br0 10.66.0.1/24] ─┬─ [eth0 10.66.0.2/24] web   listens on OPEN, nothing on CLOSED
 *   (the gateway, runs      └─ [eth0 10.66.0.3/24] db    listens on OPEN
 *    island test)               ghost 10.66.0.9: nobody; gw's host route sends it to web,
 *                               which does not forward (every probe times out)
 *
 * The checks: ICMP rtt, an open port with its connect time, a closed port refused, a host
 * that does not answer timing out, the kernel's path (on-link and through a gateway), a
 * target that is this host's own address skipped as local, a host that finds itself by its
 * address (no --host), the exit code, --json, and one line for a file that is not a one-file
 * island.
 */
import t, { type Test } from 'tap';
import { runIsland, writeConfig } from '../helpers/island.js';
import { mustRun, type Netns, netns, veth } from '../helpers/netns.js';
import { tcpListen } from '../helpers/tcp.js';

const island = (o: { open: number; closed: number; ghost: boolean }) => `
[[site]]
name = "lab"
subnet = "10.66.0.0/24"
gateway = "gw"

[[host]]
name = "gw"
address = "10.66.0.1"

[[host]]
name = "web"
address = "10.66.0.2"
tcp = [${o.open}${o.ghost ? `, ${o.closed}` : ''}]

[[host]]
name = "db"
address = "10.66.0.3"
tcp = [${o.open}]
${
  o.ghost
    ? `
[[host]]
name = "ghost"
address = "10.66.0.9"
tcp = [${o.open}]
`
    : ''
}`;

async function lab(t: Test): Promise<{ gw: Netns; web: Netns; db: Netns }> {
  const [gw, web, db] = await Promise.all([netns(t, 'reachgw'), netns(t, 'reachweb'), netns(t, 'reachdb')]);
  // no IPv6: no RS, MLD or DAD packets in the way of the probes
  for (const ns of [gw, web, db])
    await ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await mustRun(['ip', '-n', gw.name, 'link', 'add', 'br0', 'type', 'bridge']);
  for (const [port, ns] of [
    ['pweb', web],
    ['pdb', db],
  ] as const) {
    await veth(port, gw, 'eth0', ns);
    await mustRun(['ip', '-n', gw.name, 'link', 'set', port, 'master', 'br0', 'up']);
  }
  const batch = (ns: Netns, lines: string[]) =>
    mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  await batch(gw, [
    'addr add 10.66.0.1/24 dev br0',
    'link set br0 up',
    // ghost through web, which does not forward: a path with a gateway, and silence
    'route add 10.66.0.9/32 via 10.66.0.2 dev br0',
  ]);
  await batch(web, ['addr add 10.66.0.2/24 dev eth0', 'link set eth0 up']);
  await batch(db, ['addr add 10.66.0.3/24 dev eth0', 'link set eth0 up']);
  t.equal((await web.sh('cat /proc/sys/net/ipv4/ip_forward')).stdout.trim(), '0', 'web does not forward');
  return { gw, web, db };
}

t.test('island test from the gateway of a one-site island', async (t) => {
  const { gw, web, db } = await lab(t);
  const open = (await tcpListen(t, web, 0)).port;
  await tcpListen(t, db, open);
  // a port nobody listens on in web: the kernel answers RST
  const closed = open === 65535 ? open - 1 : open + 1;
  const file = await writeConfig(t, island({ open, closed, ghost: true }));

  await t.test('the table: rtt, open with its connect time, refused, timeout, the path; exit 1', async (t) => {
    const t0 = Date.now();
    const r = await runIsland(gw, ['test', '-c', file, '--host', 'gw', '--timeout', '1s']);
    const took = Date.now() - t0;
    t.equal(r.code, 1, `exit 1: a check failed\n${r.stdout}${r.stderr}`);
    t.equal(r.stderr, '', 'nothing on stderr');
    const lines = r.stdout.trimEnd().split('\n');
    t.match(lines[0], /^HOST\s+ADDRESS\s+ICMP\s+TCP\s+PATH$/);
    t.match(
      lines[1],
      new RegExp(
        `^web\\s+10\\.66\\.0\\.2\\s+\\d+\\.\\d\\d ms\\s+${open} open [\\d.]+ ms, ${closed} refused\\s+dev br0$`,
      ),
    );
    t.match(lines[2], new RegExp(`^db\\s+10\\.66\\.0\\.3\\s+\\d+\\.\\d\\d ms\\s+${open} open [\\d.]+ ms\\s+dev br0$`));
    t.match(
      lines[3],
      new RegExp(`^ghost\\s+10\\.66\\.0\\.9\\s+timeout\\s+${open} timeout\\s+via 10\\.66\\.0\\.2 dev br0$`),
    );
    t.equal(lines[4], 'from gw: gateway of site lab (named gw): 3 hosts, 1 ok, 2 failed (web, ghost)');
    t.equal(lines.length, 5, 'no row for gw itself');
    // the connects, then the pings, each wave bounded by the timeout; plus node's start
    t.ok(took < 2 * 1000 + 3000, `done in ${took} ms with a 1 s timeout`);
  });

  await t.test('--json: the same, parsed', async (t) => {
    const r = await runIsland(gw, ['test', '-c', file, '--host', 'gw', '--timeout', '1s', '--json']);
    t.equal(r.code, 1);
    const j = JSON.parse(r.stdout);
    t.strictSame(j.summary, { ...j.summary, targets: 3, passed: 1, failed: 2, skipped: 0, ok: false });
    t.match(j.self, { host: 'gw', site: 'lab', role: 'gateway' });
    t.equal(j.timeoutMs, 1000);
    const [w, d, g] = j.targets;
    t.match(w, {
      name: 'web',
      address: '10.66.0.2',
      status: 'failed',
      icmp: { state: 'ok', rttMs: Number },
      path: { kind: 'route', text: 'dev br0', dev: 'br0', src: '10.66.0.1' },
    });
    t.strictSame(
      w.tcp.map((x: { port: number; state: string }) => [x.port, x.state]),
      [
        [open, 'open'],
        [closed, 'refused'],
      ],
    );
    t.ok(w.tcp[0].connectMs > 0 && w.tcp[0].connectMs < 1000, `connect time ${w.tcp[0].connectMs} ms`);
    t.match(d, { name: 'db', status: 'ok', gateway: false });
    t.match(g, {
      name: 'ghost',
      status: 'failed',
      icmp: { state: 'timeout' },
      tcp: [{ port: open, state: 'timeout' }],
      path: { kind: 'route', via: '10.66.0.2', dev: 'br0' },
    });
  });

  await t.test('all reachable: exit 0; a target that is this host is skipped as local', async (t) => {
    const good = await writeConfig(t, island({ open, closed, ghost: false }));
    const r = await runIsland(gw, ['test', '-c', good, '--host', 'gw', '--timeout', '1s']);
    t.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    t.match(r.stdout, /: 2 hosts, 2 ok\n$/);
    // no --host: web finds itself by its own address
    const fromWeb = await runIsland(web, ['test', '-c', good, '--timeout', '1s']);
    t.equal(fromWeb.code, 0, `${fromWeb.stdout}${fromWeb.stderr}`);
    t.match(fromWeb.stdout, /^gw\s+10\.66\.0\.1\s+[\d.]+ ms\s+-\s+dev eth0$/m);
    t.match(fromWeb.stdout, /^from web: member of site lab \(address 10\.66\.0\.2\): 2 hosts, 2 ok$/m);
    // told it is db while it runs in gw: gw's address is its own
    const as = await runIsland(gw, ['test', '-c', good, '--timeout', '1s'], { env: { ISLAND_HOST: 'db' } });
    t.equal(as.code, 0, `${as.stdout}${as.stderr}`);
    t.match(as.stdout, /^gw\s+10\.66\.0\.1\s+skipped\s+-\s+local$/m);
    t.match(as.stdout, /^web\s+10\.66\.0\.2\s+[\d.]+ ms\s+\d+ open/m);
    t.notMatch(as.stdout, /^db\s/m);
    t.match(as.stdout, /^from db: member of site lab \(.*\): 2 hosts, 1 ok, 1 skipped \(an address of this host\)$/m);
  });

  await t.test('a file that is not a one-file island: one line, exit 1', async (t) => {
    const plain = await writeConfig(t, '[[bridge]]\nname = "cni0"\naddresses = ["10.128.0.1/24"]\n');
    const r = await runIsland(gw, ['test', '-c', plain]);
    t.equal(r.code, 1);
    t.equal(r.stdout, '');
    t.equal(
      r.stderr,
      `island: ${plain}: not a one-file island (no [[site]]): island test checks the [[host]]s of one\n`,
    );
    const unknown = await runIsland(gw, ['test', '-c', file, '--host', 'nobody']);
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /"nobody" is neither a \[\[host\]\] nor a \[\[site\]\]/);
    t.notMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
  });
});
