/**
 * Path MTU truth on a real path: two gateways joined by a VXLAN tunnel across two routers whose
 * link has an MTU of 1400, a "pod" namespace with MTU 1500 behind each gateway.
 *
 *   podA ── a [eth0] ── r1 ══ 1400 ══ r2 ── [eth0] b ── podB
 *
 * island's VXLAN copies DF to the outer header: a full 1450-byte inner packet with DF does not
 * cross the 1400 hop. With ICMP, the router says so ("fragmentation needed"); in the black-hole
 * variant r1 and r2 drop that ICMP, as a badly configured firewall does, and big packets just
 * vanish. (VXLAN: this kernel has no ipip.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type Daemon, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { mustRun, type Netns, netns, veth } from '../helpers/netns.js';
import { checkTransfer, MB, nsEnd, tcpTransfer } from '../helpers/tcp.js';

/** what the 1400 hop carries inside VXLAN over IPv4: 1400 less 50 bytes of outer headers */
const PATH = 1350;
/** the tunnel's mtu over eth0 (1500) */
const TUNNEL = 1450;

interface Topo {
  a: Netns;
  b: Netns;
  r1: Netns;
  r2: Netns;
  podA: Netns;
  podB: Netns;
}

/** 20 MB from one pod to the other through the island, checked whole: sha256, and the sending pod's own address seen */
async function podToPod(t: Test, topo: Topo, from: 'A' | 'B', what: string): Promise<void> {
  const [src, dst, address, source] =
    from === 'A' ? [topo.podA, topo.podB, '10.61.2.2', '10.61.1.2'] : [topo.podB, topo.podA, '10.61.1.2', '10.61.2.2'];
  const r = await tcpTransfer({ from: nsEnd(src), to: nsEnd(dst), address, bytes: 20 * MB });
  checkTransfer(t, r, { bytes: 20 * MB, source, what });
}

async function topology(t: Test, o: { blackHole?: boolean; dropFragments?: boolean }): Promise<Topo> {
  const [a, b, r1, r2, podA, podB] = await Promise.all(
    ['mta', 'mtb', 'mtr1', 'mtr2', 'mtpa', 'mtpb'].map((p) => netns(t, p)),
  );
  const all = [a, b, r1, r2, podA, podB] as Netns[];
  await Promise.all(
    all.map((ns) =>
      ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
    ),
  );
  await veth('eth0', a as Netns, 'r1a', r1 as Netns);
  await veth('r1r2', r1 as Netns, 'r2r1', r2 as Netns);
  await veth('r2b', r2 as Netns, 'eth0', b as Netns);
  await veth('eth0', podA as Netns, 'pod0', a as Netns);
  await veth('eth0', podB as Netns, 'pod0', b as Netns);
  const batch = (ns: Netns, lines: string[]) =>
    mustRun(['ip', '-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
  const topo = { a, b, r1, r2, podA, podB } as Topo;
  await Promise.all([
    batch(topo.a, [
      'addr add 198.18.1.1/24 dev eth0',
      'link set eth0 up',
      'route add default via 198.18.1.2',
      'addr add 10.61.1.1/24 dev pod0',
      'link set pod0 up',
    ]),
    batch(topo.r1, [
      'addr add 198.18.1.2/24 dev r1a',
      'link set r1a up',
      'addr add 198.18.2.1/24 dev r1r2',
      'link set r1r2 mtu 1400 up',
      'route add 198.18.3.0/24 via 198.18.2.2',
    ]),
    batch(topo.r2, [
      'addr add 198.18.2.2/24 dev r2r1',
      'link set r2r1 mtu 1400 up',
      'addr add 198.18.3.1/24 dev r2b',
      'link set r2b up',
      'route add 198.18.1.0/24 via 198.18.2.1',
    ]),
    batch(topo.b, [
      'addr add 198.18.3.2/24 dev eth0',
      'link set eth0 up',
      'route add default via 198.18.3.1',
      'addr add 10.61.2.1/24 dev pod0',
      'link set pod0 up',
    ]),
    batch(topo.podA, ['addr add 10.61.1.2/24 dev eth0', 'link set eth0 up', 'route add default via 10.61.1.1']),
    batch(topo.podB, ['addr add 10.61.2.2/24 dev eth0', 'link set eth0 up', 'route add default via 10.61.2.1']),
  ]);
  // the kernel keeps a path MTU learnt from ICMP for net.ipv4.route.mtu_expires (600 s): the
  // gateways forget it sooner here, so that the test sees the tunnel go back up in seconds
  for (const g of [topo.a, topo.b]) await g.run(['sysctl', '-qw', 'net.ipv4.route.mtu_expires=20']);
  for (const r of [topo.r1, topo.r2]) {
    await r.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // the black hole: the routers' own "fragmentation needed" never leaves them
    if (o.blackHole)
      await r.run(['iptables', '-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'fragmentation-needed', '-j', 'DROP']);
    // a firewall that drops fragments: what must be fragmented at the hop never arrives
    if (o.dropFragments) await r.run(['iptables', '-A', 'FORWARD', '-f', '-j', 'DROP']);
  }
  return topo;
}

const gateway = (o: {
  local: string;
  remote: string;
  me: string;
  peer: string;
  far: string;
  mtu?: string;
  dev?: boolean;
  forwardExtra?: string;
}) => `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 62
port = 4789
local = "${o.local}"
remote = "${o.remote}"
${o.dev === false ? '' : 'dev = "eth0"'}
addresses = ["${o.me}/30"]
peer = "${o.peer}"
${o.mtu ? `mtu = ${o.mtu}` : ''}

[[route]]
to = "${o.far}"
via = "${o.peer}"

[forward]
accept = ["vx0"]
${o.forwardExtra ?? ''}

[daemon]
health_interval = "1s"
`;

interface End {
  ns: Netns;
  daemon: Daemon;
  env: NodeJS.ProcessEnv;
  config: string;
}

async function islands(
  t: Test,
  topo: Topo,
  o: { mtu?: string; dev?: boolean; forwardExtra?: string } = {},
): Promise<{ a: End; b: End }> {
  const end = async (ns: Netns, name: string, text: string): Promise<End> => {
    const config = await writeConfig(t, text, `${name}.toml`);
    const dir = await mkdtemp(join(tmpdir(), `island-mtu-${name}-`));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const env = { ISLAND_RUNTIME_DIR: dir };
    return { ns, daemon: startDaemon(t, ns, config, { env }), env, config };
  };

  return {
    a: await end(
      topo.a,
      'a',
      gateway({
        local: '198.18.1.1',
        remote: '198.18.3.2',
        me: '10.62.0.1',
        peer: '10.62.0.2',
        far: '10.61.2.0/24',
        ...o,
      }),
    ),
    b: await end(
      topo.b,
      'b',
      gateway({
        local: '198.18.3.2',
        remote: '198.18.1.1',
        me: '10.62.0.2',
        peer: '10.62.0.1',
        far: '10.61.1.0/24',
        ...o,
      }),
    ),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: island status --json
type Json = any;

async function statusJson(e: End): Promise<Json> {
  const r = await runIsland(e.ns, ['status', '--json', '-c', e.config], { env: e.env });
  return JSON.parse(r.stdout);
}

/** Polls `island status --json` until the peer's path MTU figures satisfy `ok`; returns them. */
async function waitPathMtu(e: End, ok: (pmtu: Json) => boolean, timeoutMs: number): Promise<Json> {
  const end = Date.now() + timeoutMs;
  let last: Json;
  let whole: Json;
  while (Date.now() < end) {
    whole = await statusJson(e);
    last = whole.peers?.[0]?.pmtu;
    if (last && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `path MTU not as expected within ${timeoutMs} ms: ${JSON.stringify(last)}\n${JSON.stringify(whole, null, 1)}\n${e.daemon.lines.join('\n')}`,
  );
}

/** The hop's MTU (both ends): 1400, or 1500 when the test lifts it. */
async function setHop(topo: Topo, mtu: number): Promise<void> {
  await topo.r1.run(['ip', 'link', 'set', 'r1r2', 'mtu', String(mtu)]);
  await topo.r2.run(['ip', 'link', 'set', 'r2r1', 'mtu', String(mtu)]);
}

/** the link's mtu, undefined while it does not exist */
const linkMtu = async (ns: Netns, name = 'vx0'): Promise<number | undefined> => {
  const r = await ns.exec(['ip', '-j', 'link', 'show', name]);
  return r.code === 0 ? JSON.parse(r.stdout)[0]?.mtu : undefined;
};

/** `explain`: what the failure message adds, read when the wait has failed */
async function waitUntil(
  what: string,
  ok: () => Promise<boolean>,
  timeoutMs: number,
  explain?: () => Promise<string>,
): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await ok()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${explain ? `\n${await explain()}` : ''}`);
}

/** Each end's tunnel MTU, its path MTU figures (island status --json) and its daemon's log. */
async function ends(...es: End[]): Promise<string> {
  const one = async (e: End) =>
    `${e.ns.name}: vx0 mtu ${await linkMtu(e.ns)}; pmtu ${JSON.stringify((await statusJson(e)).peers?.[0]?.pmtu)}\n${e.daemon.lines.join('\n')}`;
  return (await Promise.all(es.map(one))).join('\n');
}

const both = (m: Json) => m.pathMtu !== undefined && m.peerPathMtu !== undefined && !m.searching;

t.setTimeout(480_000);

for (const blackHole of [false, true]) {
  const what = blackHole ? 'its ICMP dropped (black hole), no dev' : 'with ICMP';
  t.test(
    `mtu auto, a 1400 hop ${what}: lowered to the path, TCP from a 1500 pod whole, back up when the hop goes`,
    async (t) => {
      const topo = await topology(t, { blackHole });
      // without dev the kernel gives a vxlan 1500; auto takes eth0's (its route to the remote) less 50
      const { a, b } = await islands(t, topo, blackHole ? { dev: false } : {});
      const t0 = Date.now();
      await waitUntil(
        'both tunnels lowered to 1350',
        async () => (await linkMtu(a.ns)) === PATH && (await linkMtu(b.ns)) === PATH,
        120_000,
      );
      const lowerMs = Date.now() - t0;
      const lowered = await a.daemon.waitForLog((r) => r.tunnel === 'vx0' && r.to === PATH, 5000);
      t.equal(lowered.level, 30, 'said at info');
      t.match(lowered.msg, /^vx0: mtu 1450 → 1350 \(mtu auto\): lowered to what the path carries to 10\.62\.0\.2$/);
      const ma = await waitPathMtu(a, (m) => both(m) && m.ceiling === PATH, 30_000);
      t.match(ma, { pathMtu: PATH, peerPathMtu: PATH, ceiling: PATH }, 'a: 1350 out, 1350 in, the tunnel at 1350');
      const table = await runIsland(a.ns, ['status', '-c', a.config], { env: a.env });
      t.match(table.stdout, /^path mtu on vx0 +ok +path mtu 1350 out, 1350 in \(tunnel mtu 1350: fits\)$/m);
      t.match(table.stdout, /^link vx0 +ok/m, 'the lowered tunnel is not drifted');
      const plan = await runIsland(a.ns, ['plan', '-c', a.config], { env: a.env });
      t.notMatch(plan.stdout, /mtu 1350 → 1450/, 'island plan does not undo what the daemon measured');
      t.notOk(
        a.daemon.logs.some((r) => r.level >= 40 && r.tunnel === 'vx0' && r.pathMtu !== undefined),
        'no warning: auto lowered it',
      );
      t.comment(
        `lowered to ${PATH} ${lowerMs} ms after the daemons started; ${ma.probes} probes, ${ma.bytes} bytes so far`,
      );

      await podToPod(t, topo, 'A', 'pod (mtu 1500) → pod through the island');

      const t1 = Date.now();
      await setHop(topo, 1500);
      await waitUntil(
        'both tunnels back at 1450',
        async () => (await linkMtu(a.ns)) === TUNNEL && (await linkMtu(b.ns)) === TUNNEL,
        120_000,
      );
      const upMs = Date.now() - t1;
      const up = await a.daemon
        .waitForLog((x) => x.tunnel === 'vx0' && x.to === TUNNEL, 5000)
        .catch((e) => {
          throw new Error(`${e.message.split('\n')[0]}: ${a.daemon.lines.filter((l) => /mtu|vx0/.test(l)).join('\n')}`);
        });
      t.match(up.msg, /^vx0: mtu 1350 → 1450 \(mtu auto\): back up: the path carries it again/);
      const mb = await waitPathMtu(b, (m) => both(m) && m.pathMtu === TUNNEL, 30_000);
      t.match(mb, { pathMtu: TUNNEL, ceiling: TUNNEL });
      t.comment(
        `back up to ${TUNNEL} ${upMs} ms after the hop went to 1500 (re-check every 30 s at a 1 s probe interval); ${mb.probes} probes, ${mb.bytes} bytes in all`,
      );
    },
  );
}

t.test('a fixed mtu over a hop whose fragments a firewall drops: warned, both directions, not changed', async (t) => {
  const topo = await topology(t, { dropFragments: true });
  const { a, b } = await islands(t, topo, { mtu: '1450' });
  const ma = await waitPathMtu(a, both, 120_000);
  const mb = await waitPathMtu(b, both, 30_000);
  t.match(ma, { pathMtu: PATH, peerPathMtu: PATH, ceiling: TUNNEL }, 'a: 1350 out, 1350 in');
  t.match(mb, { pathMtu: PATH, peerPathMtu: PATH, ceiling: TUNNEL }, 'b: 1350 out, 1350 in');
  const json = await statusJson(a);
  t.equal(json.peers[0].pathMtu, PATH, '--json: pathMtu');
  const table = await runIsland(a.ns, ['status', '-c', a.config], { env: a.env });
  t.match(table.stdout, /^path mtu on vx0 +warning +path mtu 1350 out, 1350 in \(tunnel mtu 1450: too large\)$/m);
  const warn = await a.daemon.waitForLog((r) => r.tunnel === 'vx0' && r.pathMtu === PATH, 5000);
  t.equal(warn.level, 40, 'a warning in the log');
  t.match(warn.msg, /too large\): packets larger than the path are lost/);
  t.match(json.daemon.summary, /vx0 path mtu 1350 out, 1350 in \(tunnel mtu 1450: too large\)/, 'STATUS=');
  t.equal(await linkMtu(a.ns), TUNNEL, 'a fixed mtu is left as written');
});

t.test('TCP MSS clamping: a 1500 pod through a black hole whose gateway cannot tell it the MTU either', async (t) => {
  const topo = await topology(t, { blackHole: true });
  // the gateways' own "fragmentation needed" to their pods is dropped too (a pod network that
  // filters ICMP): only the MSS its SYN carries can keep the pod's segments small enough
  for (const g of [topo.a, topo.b])
    await g.run(['iptables', '-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'fragmentation-needed', '-j', 'DROP']);
  const { a, b } = await islands(t, topo);
  await waitUntil(
    'both tunnels lowered to 1350',
    async () => (await linkMtu(a.ns)) === PATH && (await linkMtu(b.ns)) === PATH,
    120_000,
  );
  const mangle = await a.ns.run(['iptables-save', '-t', 'mangle']);
  t.match(mangle, /^-A FORWARD -m comment --comment island -j ISLAND-MSS$/m, 'one jump, first in mangle FORWARD');
  t.match(
    mangle,
    /^-A ISLAND-MSS -o vx0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment island -j TCPMSS --clamp-mss-to-pmtu$/m,
  );
  const json = await statusJson(a);
  t.match(
    json.objects.filter((o: Json) => /ISLAND-MSS|mangle/.test(o.object)),
    [
      { object: 'firewall ipv4 chain ISLAND-MSS', state: 'ok', detail: '1 rule' },
      { object: /mangle FORWARD jump/, state: 'ok' },
    ],
    'status shows the chain and its jump',
  );
  await podToPod(t, topo, 'A', 'clamped: pod (mtu 1500) → pod');
  await podToPod(t, topo, 'B', 'clamped: and back');

  // the control: without the clamp the same transfer stalls at the first full-size segment
  await a.ns.run(['iptables', '-t', 'mangle', '-F', 'ISLAND-MSS']);
  await b.ns.run(['iptables', '-t', 'mangle', '-F', 'ISLAND-MSS']);
  // ... until island puts the rules back: it keeps the chain like FORWARD's
  await waitUntil(
    'ISLAND-MSS healed',
    async () => /TCPMSS/.test(await a.ns.run(['iptables-save', '-t', 'mangle'])),
    10_000,
  );
  t.pass('ISLAND-MSS flushed by hand is back');
  await a.daemon.stop();
  const down = await runIsland(a.ns, ['down', '-c', a.config], { env: a.env });
  t.equal(down.code, 0, down.stderr);
  t.notMatch(
    await a.ns.run(['iptables-save', '-t', 'mangle']),
    /ISLAND/,
    'island down removes ISLAND-MSS and its jump',
  );
});

t.test('without the clamp (clamp_mss = false) the same pod stalls: the control', async (t) => {
  const topo = await topology(t, { blackHole: true });
  for (const g of [topo.a, topo.b])
    await g.run(['iptables', '-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'fragmentation-needed', '-j', 'DROP']);
  const { a, b } = await islands(t, topo, { forwardExtra: 'clamp_mss = false' });
  await waitUntil(
    'both tunnels lowered to 1350',
    async () => (await linkMtu(a.ns)) === PATH && (await linkMtu(b.ns)) === PATH,
    120_000,
  );
  t.notMatch(await a.ns.run(['iptables-save', '-t', 'mangle']), /ISLAND-MSS/, 'no ISLAND-MSS');
  const stalled = await tcpTransfer({
    from: nsEnd(topo.podA),
    to: nsEnd(topo.podB),
    address: '10.61.2.2',
    bytes: 2 * MB,
    timeoutMs: 8000,
  }).then(
    (r) => `arrived: ${r.summary}`,
    (e: Error) => e.message,
  );
  t.match(
    stalled,
    /stalled|failed/,
    'a 1500 pod whose ICMP is filtered cannot send through a 1350 tunnel without the clamp',
  );
});

t.test('a path that shrinks under a running island: found at the next re-check, the tunnel lowered', async (t) => {
  const topo = await topology(t, { blackHole: true });
  await setHop(topo, 1500);
  const { a, b } = await islands(t, topo);
  await waitPathMtu(a, (m) => both(m) && m.pathMtu === TUNNEL, 60_000);
  const before = (await statusJson(a)).peers[0].pmtu;
  const t0 = Date.now();
  await setHop(topo, 1400);
  const ms = await waitUntil(
    'both tunnels lowered to 1350',
    async () => (await linkMtu(a.ns)) === PATH && (await linkMtu(b.ns)) === PATH,
    120_000,
    () => ends(a, b),
  );
  const after = (await statusJson(a)).peers[0].pmtu;
  t.ok(ms <= 30_000 + 40_000, `lowered ${ms} ms after the hop shrank (re-check every 30 s, then the search)`);
  t.comment(
    `a hop shrunk to 1400 (black hole): tunnels at 1350 ${Date.now() - t0} ms later; ${after.probes - before.probes} probes, ${after.bytes - before.bytes} bytes for it`,
  );
});
