/**
 * Routes on the real kernel, per-host files (issue 9, items 1 and 3):
 *
 * - a [[route]] over a device of the host (`dev = "eth9"`) or via a gateway on the host's own
 *   network is island's: `check` accepts it; `plan`, `apply` and `status` show it blocked with
 *   the reason while the device or the gateway's subnet is missing; the daemon adds it as soon
 *   as they are there; island never touches the device;
 * - a tunnel never carries itself: a route through the tunnel that covers the tunnel's own
 *   remote (the far site's subnet, holding the far gateway's underlay address) leaves the
 *   outer packets on the underlay: an IPv4 tunnel is bound to eth0, an IPv6 one gets a pin
 *   route along the host's own path, which follows that path when it changes. TCP crosses,
 *   to the far gateway's own underlay address too, and the tunnel counts no TX error (the
 *   kernel's "circular route").
 *
 *   a [eth0 10.1.0.2/24 fd00:1::2/64] ── r [10.1.0.1 fd00:1::1 fd00:1::3 │ 10.2.0.1 fd00:2::1] ── [eth0 10.2.0.2/24 fd00:2::2/64] b
 */
import t, { type Test } from 'tap';
import { runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { mustRun, type Netns, netns, veth } from '../helpers/netns.js';
import { checkTransfer, MB, nsEnd, tcpEachWay, tcpTransfer } from '../helpers/tcp.js';

const protoRoutes = async (ns: Netns, family: 4 | 6) =>
  (
    (await ns.ipJson([`-${family}`, 'route', 'show', 'proto', '149'])) as {
      dst: string;
      gateway?: string;
      dev: string;
    }[]
  )
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`)
    .sort();

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('routes over host devices: accepted, blocked with the reason until there, then kept', async (t) => {
  const ns = await netns(t, 'hroute');
  const peer = await netns(t, 'hroutep');
  const path = await writeConfig(
    t,
    `
[[route]]
to = "10.9.0.0/16"
dev = "eth9"

[[route]]
to = "192.168.3.0/24"
via = "198.51.100.50"
`,
  );
  const check = await runIsland(ns, ['check', '-c', path]);
  t.equal(check.code, 0, 'check accepts routes over devices island does not declare', { stderr: check.stderr });

  const reasons = [
    'route 10.9.0.0/16: blocked: device eth9 does not exist',
    'route 192.168.3.0/24: blocked: gateway 198.51.100.50 is on no connected subnet of this host',
  ];
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 3, 'plan --exit-code: 3, objects blocked');
  for (const r of reasons) t.match(plan.stdout, `! ${r}`, `plan: ${r}`);
  const apply = await runIsland(ns, ['apply', '-c', path]);
  t.equal(apply.code, 3, 'apply: exit 3, blocked', { stdout: apply.stdout, stderr: apply.stderr });
  t.match(apply.stdout, 'not converged: 2 blocked: the host does not match the file');
  const status = async () =>
    Object.fromEntries(
      (
        JSON.parse((await runIsland(ns, ['status', '--json', '-c', path])).stdout).objects as {
          object: string;
          state: string;
          detail?: string;
        }[]
      ).map((o) => [o.object, `${o.state}${o.detail ? `: ${o.detail}` : ''}`]),
    );
  t.same(
    await status(),
    {
      'route 10.9.0.0/16': 'blocked: device eth9 does not exist',
      'route 192.168.3.0/24': 'blocked: gateway 198.51.100.50 is on no connected subnet of this host',
    },
    'status: both blocked, with the reason',
  );
  t.same(await protoRoutes(ns, 4), [], 'nothing added');

  // the daemon adds each route as soon as what it needs is there
  const d = startDaemon(t, ns, path);
  await d.waitForLog((r) => r.msg === 'island daemon running');
  await veth('eth9', ns, 'eth9', peer);
  await ns.run(['ip', 'link', 'set', 'eth9', 'up']);
  await until(
    'the route over eth9',
    () => protoRoutes(ns, 4),
    (r) => r.includes('10.9.0.0/16 dev eth9'),
  );
  await veth('eth0', ns, 'eth0', peer);
  await ns.sh('ip addr add 198.51.100.52/24 dev eth0 && ip link set eth0 up');
  const both = await until(
    'the route via 198.51.100.50',
    () => protoRoutes(ns, 4),
    (r) => r.length === 2,
  );
  t.same(
    both,
    ['10.9.0.0/16 dev eth9', '192.168.3.0/24 via 198.51.100.50 dev eth0'],
    'both routes, island’s (proto 149)',
  );
  t.same(await status(), { 'route 10.9.0.0/16': 'ok', 'route 192.168.3.0/24': 'ok' }, 'status: ok');

  // a route deleted by hand comes back; the device is never island's
  await ns.run(['ip', 'route', 'del', '192.168.3.0/24']);
  await until(
    'healed',
    () => protoRoutes(ns, 4),
    (r) => r.length === 2,
  );
  t.pass('the route via the host’s gateway, deleted by hand, is back');
  await d.stop();
  const down = await runIsland(ns, ['down', '-c', path]);
  t.equal(down.code, 0, 'island down', { stderr: down.stderr });
  t.same(await protoRoutes(ns, 4), [], 'island down removes the routes');
  const eth9 = (await ns.ipJson(['link', 'show', 'eth9']))[0];
  t.ok(eth9?.flags?.includes('UP'), 'and leaves eth9 as it was, up');
  t.match(await ns.run(['ip', '-br', 'addr', 'show', 'eth0']), /198\.51\.100\.52\/24/, 'and eth0 with its address');
});

/** a and b, each on its own LAN behind the router r; IPv6 addresses without DAD */
async function twoSites(t: Test) {
  const [a, r, b] = await Promise.all([netns(t, 'rta'), netns(t, 'rtr'), netns(t, 'rtb')]);
  await veth('eth0', a, 'lana', r);
  await veth('eth0', b, 'lanb', r);
  const batch = (ns: Netns, lines: string[]) =>
    mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  await r.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  await batch(r, [
    'addr add 10.1.0.1/24 dev lana',
    'addr add fd00:1::1/64 dev lana nodad',
    'addr add fd00:1::3/64 dev lana nodad',
    'addr add 10.2.0.1/24 dev lanb',
    'addr add fd00:2::1/64 dev lanb nodad',
    'link set lana up',
    'link set lanb up',
  ]);
  for (const [ns, n] of [
    [a, 1],
    [b, 2],
  ] as const) {
    await batch(ns, [
      `addr add 10.${n}.0.2/24 dev eth0`,
      `addr add fd00:${n}::2/64 dev eth0 nodad`,
      'link set eth0 up',
      `route add default via 10.${n}.0.1`,
      `route add default via fd00:${n}::1`,
    ]);
  }
  return { a, r, b };
}

/** a's or b's file: the tunnel to the other, and the other's site through it (which covers its remote) */
const side = (me: 1 | 2, family: 4 | 6) => {
  const other = 3 - me;
  const under = (n: number) => (family === 4 ? `10.${n}.0.2` : `fd00:${n}::2`);
  return `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "${under(me)}"
remote = "${under(other)}"
port = 4789
addresses = ["10.30.30.${me}/30"${family === 6 ? `, "fd00:3030::${me}/126"` : ''}]

[[route]]
to = "${family === 4 ? `10.${other}.0.0/24` : `fd00:${other}::/64`}"
via = "${family === 4 ? `10.30.30.${other}` : `fd00:3030::${other}`}"
dev = "vx0"

[daemon]
debounce = "5ms"
`;
};

const txErrors = async (ns: Netns) =>
  ((await ns.ipJson(['-s', 'link', 'show', 'vx0'])) as { stats64?: { tx?: { errors?: number } } }[])[0]?.stats64?.tx
    ?.errors;

t.test('IPv4: a route through the tunnel covers its remote; the tunnel is bound to eth0 and carries TCP', async (t) => {
  const { a, b } = await twoSites(t);
  const da = startDaemon(t, a, await writeConfig(t, side(1, 4)));
  const db = startDaemon(t, b, await writeConfig(t, side(2, 4)));
  await Promise.all([da, db].map((d) => d.waitForLog((r) => r.msg === 'island daemon running')));
  for (const [ns, n] of [
    [a, 2],
    [b, 1],
  ] as const) {
    const vx = (await ns.ipJson(['-d', 'link', 'show', 'vx0']))[0];
    t.equal(vx?.linkinfo?.info_data?.link, 'eth0', `${ns.name}: vx0 bound to eth0, the device of its local address`);
    t.same(await protoRoutes(ns, 4), [`10.${n}.0.0/24 via 10.30.30.${n} dev vx0`], 'the route through vx0, no pin');
  }
  await tcpEachWay(t, { end: nsEnd(a), address: '10.30.30.1' }, { end: nsEnd(b), address: '10.30.30.2' });
  // the far end's own underlay address, through the tunnel (the route covers it)
  const route = await a.run(['ip', 'route', 'get', '10.2.0.2']);
  t.match(route, /via 10\.30\.30\.2 dev vx0/, `a routes b's underlay address through vx0: ${route.trim()}`);
  for (const [from, to, address, source] of [
    [a, b, '10.2.0.2', '10.30.30.1'],
    [b, a, '10.1.0.2', '10.30.30.2'],
  ] as const) {
    const r = await tcpTransfer({ from: nsEnd(from), to: nsEnd(to), address, bytes: 2 * MB });
    checkTransfer(t, r, { bytes: 2 * MB, source, what: `TCP to the far end's own underlay address ${address}` });
  }
  for (const ns of [a, b]) t.equal(await txErrors(ns), 0, `${ns.name}: no TX error on vx0 (no outer packet into it)`);
});

t.test('IPv6: the covered remote gets a pin along the host path, which follows the path', async (t) => {
  const { a, b } = await twoSites(t);
  const da = startDaemon(t, a, await writeConfig(t, side(1, 6)));
  const db = startDaemon(t, b, await writeConfig(t, side(2, 6)));
  await Promise.all([da, db].map((d) => d.waitForLog((r) => r.msg === 'island daemon running')));
  t.same(
    await protoRoutes(a, 6),
    ['fd00:2::/64 via fd00:3030::2 dev vx0', 'fd00:2::2 via fd00:1::1 dev eth0'],
    "a: the route through vx0, and b's address pinned along a's own route",
  );
  await tcpEachWay(t, { end: nsEnd(a), address: '10.30.30.1' }, { end: nsEnd(b), address: '10.30.30.2' });

  // a's path to b moves to the router's other address: the pin follows it
  await a.run(['ip', '-6', 'route', 'replace', 'default', 'via', 'fd00:1::3']);
  await until(
    'the pin via fd00:1::3',
    () => protoRoutes(a, 6),
    (r) => r.includes('fd00:2::2 via fd00:1::3 dev eth0'),
  );
  t.pass('the pin follows the host path: fd00:2::2 via fd00:1::3 dev eth0');
  await tcpEachWay(
    t,
    { end: nsEnd(a), address: '10.30.30.1' },
    { end: nsEnd(b), address: '10.30.30.2' },
    {
      what: 'after the path moved',
    },
  );
  for (const ns of [a, b]) t.equal(await txErrors(ns), 0, `${ns.name}: no TX error on vx0`);
});
