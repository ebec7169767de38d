/** island graph's DOT, from the lab's one file and from a per-host file, without and with a daemon's live view. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { gatewayTunnels } from '../../src/graph/command.js';
import { COLOURS, graphDot, type LiveView } from '../../src/graph/dot.js';
import type { PeerStatus } from '../../src/health/health.js';
import { named } from '../../src/reconcile/object.js';
import { CLI, REPO } from '../helpers/island.js';
import { peerStatus, pmtuStatus } from '../helpers/peer.js';

const LAB = join(REPO, 'etc/examples/lab.toml');
const FULL = join(REPO, 'test/fixtures/good/full.toml');

function load(path: string, host?: string): { cfg: Config; text: string } {
  const text = readFileSync(path, 'utf8');
  const r = parseConfig(
    text,
    'lab.toml',
    host ? { identity: { host, addresses: [] } } : { anyHost: true, identity: { addresses: [] } },
  );
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return { cfg: r.config, text };
}

/** Every line a statement this builder writes; braces balanced; quotes paired on every line. */
function wellFormed(t: Test, dot: string) {
  const lines = dot.trimEnd().split('\n');
  t.match(lines[0], /^\/\/ /, 'a comment first');
  t.equal(lines[1], 'digraph island {');
  t.equal(lines.at(-1), '}');
  let depth = 0;
  for (const l of lines.slice(1)) {
    depth += (l.match(/\{$/) ? 1 : 0) - (l.trim() === '}' ? 1 : 0);
    const unescaped = l.replaceAll(/\\./g, '');
    t.equal((unescaped.match(/"/g) ?? []).length % 2, 0, `quotes paired: ${l}`);
    t.ok(
      /^\s*(\/\/|digraph |subgraph "|graph \[|node \[|edge \[|"[^"]*"( -> "[^"]*")?( \[.*\])?$|\}$)/.test(l),
      `a statement: ${l}`,
    );
  }
  t.equal(depth, 0, 'braces balanced');
}

const edge = (dot: string, from: string, to: string) =>
  dot.split('\n').find((l) => l.trim().startsWith(`"${from}" -> "${to}"`)) ?? '';
const node = (dot: string, id: string) => dot.split('\n').find((l) => l.trim().startsWith(`"${id}" [`)) ?? '';

t.test('the lab from any machine: sites, hosts, gateways, the tunnel with its VNI and ports, the NAT', async (t) => {
  const { cfg, text } = load(LAB);
  t.equal(cfg.island?.self, undefined, 'no host of the island: drawn all the same');
  const dot = graphDot({ path: 'lab.toml', cfg, gatewayTunnels: gatewayTunnels(cfg, text, 'lab.toml') });
  wellFormed(t, dot);
  t.match(dot, 'subgraph "cluster_site sopnode" {');
  t.match(dot, 'label="site r2lab\\n192.168.3.0/24", style="dashed,rounded"');
  t.match(node(dot, 'host sopnode-l1'), 'label="sopnode-l1\\n198.51.100.50\\ngateway, tcp 6443\\nvx0 10.3.1.2/24"');
  t.match(node(dot, 'host sopnode-l1'), 'penwidth=2', 'a gateway is drawn bold');
  t.match(node(dot, 'host sopnode-w2'), 'member, tcp 10250');
  t.match(node(dot, 'members r2lab'), 'route 198.51.100.0/24, 10.3.1.0/24\\nvia 192.168.3.100');
  t.match(node(dot, 'nat r2lab'), 'label="NAT\\noutside 203.0.113.2", shape=octagon');
  t.match(edge(dot, 'host sopnode-l1', 'nat r2lab'), 'label="vx0\\nvxlan vni 42\\nudp 5533 → 5533"');
  t.match(edge(dot, 'nat r2lab', 'host faraday'), 'label="faraday sends first\\nkeepalive 25 s"');
  t.match(edge(dot, 'nat r2lab', 'host faraday'), 'dir=both');
  t.notMatch(dot, /[ [](font)?color="#/, 'no live state, no colours');
  t.match(dot, '2 sites · 3 named hosts · 1 tunnel · pods 10.244.0.0/16 · services 10.96.0.0/12');
});

const peer = (o: Partial<PeerStatus>): PeerStatus =>
  peerStatus({ sent: 3, answered: 3, lost: 0, rttMs: 0.42, loss: 0, ...o });

const liveView = (o: Partial<LiveView>): LiveView => ({
  source: 'daemon pid 812',
  at: Date.UTC(2026, 10, 21, 12, 0, 0),
  objects: [
    { ...named({ type: 'link', name: 'vx0' }), state: 'ok' },
    { ...named({ type: 'route', dst: '198.51.100.0', dstLen: 24 }), state: 'ok' },
  ],
  peers: [peer({})],
  ...o,
});

t.test('on faraday with its daemon: this host marked, the tunnel coloured by its peer', async (t) => {
  const { cfg, text } = load(LAB, 'faraday');
  const tunnels = gatewayTunnels(cfg, text, 'lab.toml');
  const up = graphDot({ path: 'lab.toml', cfg, gatewayTunnels: tunnels, live: liveView({}) });
  wellFormed(t, up);
  t.match(node(up, 'host faraday'), '(this host)');
  t.match(node(up, 'host faraday'), 'peripheries=2');
  t.match(node(up, 'host faraday'), `color="${COLOURS.ok}"`, 'every object ok');
  t.match(edge(up, 'host sopnode-l1', 'nat r2lab'), `color="${COLOURS.up}"`);
  t.match(edge(up, 'host sopnode-l1', 'nat r2lab'), 'peer up, rtt 0.42 ms, 0% loss');
  t.match(edge(up, 'nat r2lab', 'host faraday'), `color="${COLOURS.up}"`, 'the whole chain takes the colour');
  t.match(up, 'live from daemon pid 812 at 2026-11-21T12:00:00Z');
  const small = graphDot({
    path: 'lab.toml',
    cfg,
    gatewayTunnels: tunnels,
    live: liveView({
      peers: [
        peer({
          pmtu: pmtuStatus(),
        }),
      ],
    }),
  });
  t.match(edge(small, 'host sopnode-l1', 'nat r2lab'), 'path mtu 1350 out, 1350 in (tunnel mtu 1450: too large)');

  const oneWay = graphDot({
    path: 'lab.toml',
    cfg,
    gatewayTunnels: tunnels,
    live: liveView({ peers: [peer({ state: 'one-way' })] }),
  });
  const e = edge(oneWay, 'host sopnode-l1', 'nat r2lab');
  t.match(e, `color="${COLOURS['one-way']}"`);
  t.match(e, 'dir=forward', 'faraday hears sopnode-l1: the arrow points at faraday only');
  t.match(e, 'style=dashed');
  t.match(e, 'one-way: its probes reach us, ours are lost');

  const down = graphDot({
    path: 'lab.toml',
    cfg,
    gatewayTunnels: tunnels,
    live: liveView({
      objects: [
        {
          ...named({ type: 'link', name: 'vx0' }),
          state: 'foreign',
          detail: 'a link named vx0 (dummy, ifindex 7) exists',
        },
        {
          ...named({ type: 'route', dst: '198.51.100.0', dstLen: 24 }),
          state: 'blocked',
          detail: 'waits for link vx0',
        },
      ],
      peers: [peer({ state: 'down', lost: 4, sent: 4, rttMs: undefined })],
    }),
  });
  const d = edge(down, 'host sopnode-l1', 'nat r2lab');
  t.match(d, `color="${COLOURS.foreign}"`, 'the worse of link and peer');
  t.match(d, 'link vx0 foreign');
  t.match(d, 'down: no answer to the last probes');
  t.match(node(down, 'host faraday'), 'link vx0: foreign\\nroute 198.51.100.0/24: blocked');
  t.match(node(down, 'host faraday'), `color="${COLOURS.foreign}"`);
});

t.test('on sopnode-l1, one-way: the arrow points at sopnode-l1', async (t) => {
  const { cfg, text } = load(LAB, 'sopnode-l1');
  const dot = graphDot({
    path: 'lab.toml',
    cfg,
    gatewayTunnels: gatewayTunnels(cfg, text, 'lab.toml'),
    live: liveView({ peers: [peer({ state: 'one-way', peer: '10.3.1.3' })] }),
  });
  t.match(edge(dot, 'host sopnode-l1', 'nat r2lab'), 'dir=back');
});

t.test('an unnamed member of r2lab: its node says this host', async (t) => {
  const { cfg } = load(LAB, 'r2lab');
  const dot = graphDot({ path: 'lab.toml', cfg, live: liveView({ peers: [] }) });
  t.match(node(dot, 'members r2lab'), 'this host (a member)');
  t.match(node(dot, 'members r2lab'), 'peripheries=2');
  t.match(edge(dot, 'host sopnode-l1', 'nat r2lab'), 'vxlan', 'no gateway tunnels given: the kind still shows');
});

t.test('a per-host file: this host, its links, each tunnel to its remote, its routes', async (t) => {
  const { cfg } = load(FULL);
  const dot = graphDot({ path: 'full.toml', cfg, notes: ['no live state: no island daemon runs here'] });
  wellFormed(t, dot);
  t.match(dot, 'subgraph "cluster_host" {');
  t.match(node(dot, 'link island0'), 'label="island0\\n10.3.1.3/24\\nlocal 192.168.3.100"');
  t.match(node(dot, 'remote island0'), 'label="138.96.245.50\\nremote of island0"');
  t.match(edge(dot, 'link island0', 'remote island0'), 'ipip (IP protocol 4)\\nmtu 1480, ttl 64\\nkeepalive 25 s');
  t.match(edge(dot, 'link vx1', 'remote vx1'), 'vxlan vni 334\\nudp 49152-49407 → 4789');
  t.match(edge(dot, 'link gre1', 'remote gre1'), 'gre (IP protocol 47, key 7)\\nttl 64');
  t.match(node(dot, 'remote vx0'), 'peer 10.30.30.1');
  t.match(edge(dot, 'link cni0', 'link vx1'), 'label=port');
  t.match(edge(dot, 'dev eth0', 'link vx0'), 'label=underlay');
  t.match(edge(dot, 'link island0', 'route 10.4.0.0/16 100'), 'label="via 10.3.1.1"');
  t.match(node(dot, 'route 10.4.0.0/16 100'), 'metric 100');
  t.match(
    edge(dot, 'link vx0', 'route fd00:4040::/64 1024'),
    'via fd00:3030::1',
    'the link whose subnet holds the gateway',
  );
  t.match(dot, 'one host: 6 links, 3 routes\\nno live state: no island daemon runs here');

  const live = graphDot({
    path: 'full.toml',
    cfg,
    live: liveView({
      objects: [
        { ...named({ type: 'link', name: 'island0' }), state: 'ok' },
        { ...named({ type: 'link', name: 'vx0' }), state: 'blocked', detail: 'underlay device eth0 does not exist' },
        { ...named({ type: 'route', dst: '10.4.0.0', dstLen: 16, metric: 100 }), state: 'ok' },
        { ...named({ type: 'route', dst: 'fd00:4040::', dstLen: 64, metric: 1024 }), state: 'blocked' },
      ],
      peers: [peer({ tunnel: 'island0', peer: '10.3.1.1', state: 'down', rttMs: undefined })],
    }),
  });
  t.match(node(live, 'link vx0'), `color="${COLOURS.blocked}"`);
  t.match(node(live, 'link vx0'), '\\nblocked"');
  t.match(node(live, 'route fd00:4040::/64 1024'), `color="${COLOURS.blocked}"`);
  t.match(node(live, 'route 10.4.0.0/16 100'), `color="${COLOURS.ok}"`);
  t.match(edge(live, 'link island0', 'remote island0'), `color="${COLOURS.down}"`);
  t.match(live, 'label="this host\\nlink vx0: blocked\\nroute fd00:4040::/64 metric 1024: blocked"');
});

t.test('quotes and backslashes in names cannot break out of a DOT string', async (t) => {
  const { cfg } = load(FULL);
  const dot = graphDot({ path: 'a "b" \\c.toml', cfg });
  wellFormed(t, dot);
  t.match(dot, 'island: a \\"b\\" \\\\c.toml');
});

t.test('the command: DOT on stdout without a daemon; one line when dot is missing or the format unknown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-graph-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [CLI, 'graph', '-c', LAB, ...args], {
      encoding: 'utf8',
      // no daemon answers here, and no dot on this PATH when the test says so
      env: { ...process.env, NODE_OPTIONS: '', ISLAND_RUNTIME_DIR: dir, ...env },
    });
  const ok = run([]);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^digraph island \{$/m);
  t.match(ok.stdout, 'no live state: no island daemon runs here');
  const missing = run(['--svg'], { PATH: dir });
  t.equal(missing.status, 1);
  t.equal(
    missing.stderr,
    "island: cannot render svg: Graphviz's dot is not installed (apt install graphviz); without --svg or -T, island graph prints DOT\n",
  );
  const gif = run(['-T', 'gif']);
  t.equal(gif.status, 1);
  t.equal(gif.stderr, 'island: -T gif: not a format island graph renders (dot, svg, png, pdf)\n');
  const both = run(['--svg', '-T', 'png']);
  t.equal(both.stderr, 'island: --svg and -T png disagree: give one of them\n');
});

t.test('--svg with Graphviz installed (scripts/setup test installs it): an SVG of the island', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-graph-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, NODE_OPTIONS: '', ISLAND_RUNTIME_DIR: dir };
  t.equal(spawnSync('dot', ['-V']).status, 0, "Graphviz's dot runs here (apt install graphviz)");
  const svg = spawnSync(process.execPath, [CLI, 'graph', '--svg', '-c', LAB], { encoding: 'utf8', env });
  t.equal(svg.status, 0, svg.stderr);
  t.equal(svg.stderr, '');
  t.match(svg.stdout, /^<\?xml /, 'SVG on stdout');
  t.match(svg.stdout, /<svg [^>]*>/);
  t.match(svg.stdout, /<title>island<\/title>/, 'the island graph, rendered');
  t.match(svg.stdout, />outside 203\.0\.113\.2</, "with the NAT's node");
  t.match(svg.stdout, />udp 5533 → 5533</, "and the tunnel's ports");
  // a reader that stops at once (`| head`): dot dies of SIGPIPE, which is not a failure of island's
  const piped = spawnSync(
    'bash',
    ['-c', `"${process.execPath}" "${CLI}" graph --svg -c "${LAB}" | true; echo "island exit \${PIPESTATUS[0]}"`],
    { encoding: 'utf8', env },
  );
  t.equal(piped.stdout, 'island exit 0\n', piped.stderr);
  t.equal(piped.stderr, '', 'and says nothing');
});
