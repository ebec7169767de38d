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
import { mustRun, type Netns, netns } from '../helpers/netns.js';

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

async function topology(t: Test, o: { blackHole: boolean }): Promise<Topo> {
  const [a, b, r1, r2, podA, podB] = await Promise.all(
    ['mta', 'mtb', 'mtr1', 'mtr2', 'mtpa', 'mtpb'].map((p) => netns(t, p)),
  );
  const all = [a, b, r1, r2, podA, podB] as Netns[];
  await Promise.all(
    all.map((ns) =>
      ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
    ),
  );
  const veth = (x: string, nx: Netns, y: string, ny: Netns) =>
    mustRun(['ip', 'link', 'add', x, 'netns', nx.name, 'type', 'veth', 'peer', 'name', y, 'netns', ny.name]);
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
  for (const r of [topo.r1, topo.r2]) {
    await r.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // the black hole: the routers' own "fragmentation needed" never leaves them
    if (o.blackHole)
      await r.run(['iptables', '-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'fragmentation-needed', '-j', 'DROP']);
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

[daemon]
health_interval = "1s"
`;

interface End {
  ns: Netns;
  daemon: Daemon;
  env: NodeJS.ProcessEnv;
  config: string;
}

async function islands(t: Test, topo: Topo, mtu?: string): Promise<{ a: End; b: End }> {
  const end = async (ns: Netns, name: string, text: string): Promise<End> => {
    const config = await writeConfig(t, text, `${name}.toml`);
    const dir = await mkdtemp(join(tmpdir(), `island-mtu-${name}-`));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const env = { ISLAND_RUNTIME_DIR: dir };
    return { ns, daemon: startDaemon(t, ns, config, { env }), env, config };
  };
  const m = mtu === undefined ? {} : { mtu };
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
        ...m,
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
        ...m,
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

for (const blackHole of process.env.MTU_ONLY ? [false] : [false, true]) {
  t.test(`a 1400 hop${blackHole ? ', its ICMP dropped (black hole)' : ''}: path MTU both ways`, async (t) => {
    const topo = await topology(t, { blackHole });
    const { a, b } = await islands(t, topo);
    const t0 = Date.now();
    const measured = (m: Json) => m.pathMtu !== undefined && m.peerPathMtu !== undefined && !m.searching;
    const ma = await waitPathMtu(a, measured, Number(process.env.MTU_WAIT) || 90_000);
    const detectMs = Date.now() - t0;
    const mb = await waitPathMtu(b, measured, 30_000);
    t.match(ma, { pathMtu: PATH, peerPathMtu: PATH, ceiling: TUNNEL }, 'a: 1350 out, 1350 in');
    t.match(mb, { pathMtu: PATH, peerPathMtu: PATH, ceiling: TUNNEL }, 'b: 1350 out, 1350 in');
    t.comment(
      `measured ${ma.pathMtu} out, ${ma.peerPathMtu} in, ${detectMs} ms after start; ${ma.probes} probes, ${ma.bytes} bytes`,
    );
    const json = await statusJson(a);
    t.equal(json.peers[0].pathMtu, PATH, '--json: pathMtu');
    const table = await runIsland(a.ns, ['status', '-c', a.config], { env: a.env });
    t.match(table.stdout, /^path mtu on vx0 +warning +path mtu 1350 out, 1350 in \(tunnel mtu 1450: too large\)$/m);
    const warn = await a.daemon.waitForLog((r) => r.tunnel === 'vx0' && r.pathMtu === PATH, 5000);
    t.equal(warn.level, 40, 'a warning in the log');
    t.match(json.daemon.summary, /vx0 path mtu 1350 out, 1350 in \(tunnel mtu 1450: too large\)/, 'STATUS=');
  });
}
