/**
 * The island as a Graphviz DOT graph, after Kilo's `kgctl graph`: each site a dashed cluster
 * with its hosts, the gateway drawn bold, the tunnels between gateways with their kind, VNI and
 * ports; unlike Kilo, the NAT a gateway sits behind (its outside address, which end sends
 * first) and, when the daemon answered, live state as colours: peers up / one-way / down,
 * objects blocked or foreign. A per-host file draws that host, its links, their remotes and its
 * routes. Pure: the CLI side (command.ts) gathers the file and the daemon's view.
 */
import type { Cidr, Config, TunnelConfig } from '../config/types.js';
import { type DesiredRoute, desiredState } from '../desired.js';
import { describePathMtu, describePeer } from '../health/describe.js';
import type { PeerStatus } from '../health/health.js';
import { BRIDGE, kindOf } from '../kinds/index.js';
import { networkOf } from '../netlink/ip.js';
import { linkKey, type ObjectState, type ObjectStatus, routeKey } from '../reconcile/plan.js';

/** What the daemon on this host said: its objects and peers after its last pass. */
export interface LiveView {
  /** "daemon pid 812" */
  source: string;
  /** when it was asked (ms since the epoch) */
  at: number;
  objects: ObjectStatus[];
  peers: PeerStatus[];
}

export interface GraphInput {
  /** the file, as named on the command line */
  path: string;
  cfg: Config;
  /** one-file island: each gateway's own tunnels (what it derives: vni, ports, keepalive, remote) */
  gatewayTunnels?: Map<string, TunnelConfig[]>;
  live?: LiveView;
  /** said under the title: why there is no live state, a daemon running another file... */
  notes?: string[];
}

export const COLOURS = {
  ok: '#2e7d32',
  up: '#2e7d32',
  'one-way': '#ef6c00',
  down: '#c62828',
  pending: '#757575',
  drifted: '#ef6c00',
  missing: '#ef6c00',
  blocked: '#c62828',
  foreign: '#c62828',
  stale: '#757575',
} as const;

type Health = keyof typeof COLOURS;
/** worse last: a tunnel whose link is blocked is red whatever its peer says */
const RANK: Health[] = ['ok', 'up', 'stale', 'pending', 'drifted', 'missing', 'one-way', 'down', 'blocked', 'foreign'];
const worse = (a: Health | undefined, b: Health | undefined): Health | undefined =>
  a === undefined ? b : b === undefined ? a : RANK.indexOf(a) >= RANK.indexOf(b) ? a : b;

/** A DOT ID or string: always quoted, backslashes and quotes escaped. */
export const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
/** A multi-line label: DOT's \n between the lines. */
const label = (lines: string[]) =>
  `"${lines.map((l) => l.replaceAll('\\', '\\\\').replaceAll('"', '\\"')).join('\\n')}"`;

type Attrs = Record<string, string | number | undefined>;
const attrs = (a: Attrs) => {
  const parts = Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `${k}=${typeof v === 'number' || /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(v)) ? v : String(v).startsWith('"') ? v : quote(String(v))}`,
    );
  return parts.length ? ` [${parts.join(', ')}]` : '';
};

class Dot {
  private readonly lines: string[] = [];
  private depth = 1;
  line(s: string) {
    this.lines.push(`${'  '.repeat(this.depth)}${s}`);
  }
  node(id: string, a: Attrs) {
    this.line(`${quote(id)}${attrs(a)}`);
  }
  edge(from: string, to: string, a: Attrs) {
    this.line(`${quote(from)} -> ${quote(to)}${attrs(a)}`);
  }
  cluster(id: string, a: Attrs, body: () => void) {
    this.line(`subgraph ${quote(`cluster_${id}`)} {`);
    this.depth++;
    this.line(`graph${attrs(a)}`);
    body();
    this.depth--;
    this.line('}');
  }
  text(header: string[]): string {
    return `${header.join('\n')}\n${this.lines.join('\n')}\n}\n`;
  }
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const cidrText = (c: Cidr) => `${c.address}/${c.prefixlen}`;
const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** its kind's words ("vxlan vni 42", "udp 5533 → 5533"), then mtu and ttl */
export function tunnelWords(t: TunnelConfig): string[] {
  const out: string[] = [];
  out.push(...kindOf(t.kind).graphWords(t));
  const extra = [t.mtu === undefined ? '' : `mtu ${t.mtu}`, t.ttl === undefined ? '' : `ttl ${t.ttl}`].filter(Boolean);
  if (extra.length) out.push(extra.join(', '));
  return out;
}

function header(input: GraphInput, what: string): string[] {
  const title = [`island: ${input.path}`, what];
  const { live } = input;
  if (live) {
    const at = new Date(live.at).toISOString().replace(/\.\d+Z$/, 'Z');
    title.push(`live from ${live.source} at ${at}: green ok/up, orange one-way/drifted, red down/blocked/foreign`);
  }
  title.push(...(input.notes ?? []));
  return [
    `// island graph ${input.path.replaceAll(/[\r\n]/g, ' ')}: render with dot -Tsvg (apt install graphviz), or island graph --svg`,
    'digraph island {',
    `  graph [label=${label(title)}, labelloc=t, fontname="Helvetica", fontsize=12, rankdir=LR, outputorder=nodesfirst, overlap=false, nodesep=0.35, ranksep=0.9]`,
    '  node [fontname="Helvetica", fontsize=11, shape=box, style=rounded]',
    '  edge [fontname="Helvetica", fontsize=10]',
  ];
}

/** The live state of an object ("link vx0"), when the daemon reported it. */
const stateOf = (live: LiveView | undefined, object: string): ObjectState | undefined =>
  live?.objects.find((o) => o.object === object)?.state;

const peerOf = (live: LiveView | undefined, tunnel: string): PeerStatus | undefined =>
  live?.peers.find((p) => p.tunnel === tunnel);

/** A peer's state in a few words for an edge label: "up, rtt 0.42 ms, 0% loss". */
function peerWords(p: PeerStatus, now: number): string {
  if (p.state === 'up') {
    const loss = p.loss === undefined ? '' : `, ${Math.round(p.loss * 100)}% loss`;
    return `peer up, rtt ${p.rttMs === undefined ? '?' : p.rttMs < 10 ? p.rttMs.toFixed(2) : Math.round(p.rttMs)} ms${loss}`;
  }
  if (p.state === 'one-way') return 'one-way: its probes reach us, ours are lost';
  if (p.state === 'pending') return 'peer pending (no probe answered yet)';
  // "down: no answer to the last probes, nothing heard from it for 2 min": its first clause
  return describePeer(p, now).split(',')[0] ?? 'down';
}

/** The objects of this host that are not ok, one line each (at most five). */
function troubles(live: LiveView | undefined): { lines: string[]; worst?: Health } {
  if (!live) return { lines: [] };
  const bad = live.objects.filter((o) => o.state !== 'ok' && o.state !== 'stale');
  const lines = bad.slice(0, 5).map((o) => `${o.object}: ${o.state}`);
  if (bad.length > 5) lines.push(`and ${bad.length - 5} more (island status)`);
  const worst = bad.reduce<Health | undefined>((w, o) => worse(w, o.state), live.objects.length ? 'ok' : undefined);
  return { lines, worst };
}

/**
 * The tunnel's edge attributes from its link's state and its peer's: colour, a dashed line
 * for one-way with the arrow on the side that hears, and the words.
 */
function tunnelLive(
  live: LiveView | undefined,
  name: string,
  selfIsTail: boolean,
): { colour?: string; words: string[]; dir?: string; style?: string; penwidth?: number } {
  if (!live) return { words: [] };
  const link = stateOf(live, linkKey(name));
  const peer = peerOf(live, name);
  const words: string[] = [];
  if (link && link !== 'ok') words.push(`link ${name} ${link}`);
  if (peer) words.push(peerWords(peer, live.at));
  // "path mtu 1350 out, 1350 in (tunnel mtu 1450: too large)", once measured
  const mtu = peer && describePathMtu(peer);
  if (mtu && mtu.state !== 'pending') words.push(mtu.detail);
  const state = worse(link, peer?.state);
  if (!state) return { words };
  return {
    colour: COLOURS[state],
    words,
    penwidth: 2,
    // one-way: only the far end's probes arrive, so traffic is drawn flowing towards this host
    ...(peer?.state === 'one-way' ? { dir: selfIsTail ? 'back' : 'forward', style: 'dashed' } : {}),
    ...(state === 'down' || state === 'blocked' || state === 'foreign' ? { style: 'dashed' } : {}),
  };
}

/** A one-file island: sites, hosts, gateways, tunnels, NATs, and this host's live state. */
export function islandDot(input: GraphInput): string {
  const { cfg, live } = input;
  const m = cfg.island;
  if (!m) throw new Error('islandDot: not a one-file island');
  const self = m.self;
  const range = [
    m.pods.length ? `pods ${m.pods.map(cidrText).join(', ')}` : '',
    m.services.length ? `services ${m.services.map(cidrText).join(', ')}` : '',
  ].filter(Boolean);
  const dot = new Dot();
  const isGateway = (host: string) => m.sites.some((s) => s.gateway.toLowerCase() === host.toLowerCase());
  const hostId = (name: string) => `host ${name}`;
  const natId = (site: string) => `nat ${site}`;
  const gatewayHost = (site: string) => {
    const g = m.sites.find((s) => s.name === site)?.gateway.toLowerCase();
    return m.hosts.find((h) => h.name.toLowerCase() === g);
  };
  const isSelf = (host: string) => self?.host !== undefined && self.host.toLowerCase() === host.toLowerCase();
  const mine = troubles(live);
  const siteOf = (name: string) => m.sites.find((s) => s.name === name) as (typeof m.sites)[number];

  for (const site of m.sites) {
    const gw = gatewayHost(site.name);
    dot.cluster(
      `site ${site.name}`,
      { label: label([`site ${site.name}`, cidrText(site.subnet)]), style: '"dashed,rounded"', fontname: 'Helvetica' },
      () => {
        for (const h of m.hosts.filter((x) => x.site === site.name)) {
          const gateway = isGateway(h.name);
          const lines = [h.name, h.address];
          const role = [gateway ? 'gateway' : 'member', h.tcp.length ? `tcp ${h.tcp.join(', ')}` : ''].filter(Boolean);
          lines.push(role.join(', '));
          if (gateway)
            for (const t of m.tunnels)
              for (const e of t.ends) if (e.site === site.name) lines.push(`${t.name} ${cidrText(e.inner)}`);
          const me = isSelf(h.name);
          if (me) lines.push('(this host)', ...mine.lines);
          dot.node(hostId(h.name), {
            label: label(lines),
            penwidth: gateway ? 2 : undefined,
            peripheries: me ? 2 : undefined,
            color: me && mine.worst ? COLOURS[mine.worst] : undefined,
          });
        }
        // the site's other hosts need no entry: one node stands for all of them
        const members = `members ${site.name}`;
        // what a member routes via its gateway: each far site, each tunnel's subnet
        const routes = new Set<string>();
        for (const t of m.tunnels) {
          if (!t.ends.some((e) => e.site === site.name)) continue;
          for (const e of t.ends) if (e.site !== site.name) routes.add(cidrText(siteOf(e.site).subnet));
          routes.add(`${networkOf(t.ends[0].inner.address, t.ends[0].inner.prefixlen)}/${t.ends[0].inner.prefixlen}`);
        }
        const selfMember = self && !self.host && self.site === site.name;
        dot.node(members, {
          label: label([
            selfMember ? 'this host (a member)' : 'other members',
            ...(gw ? [`route ${[...routes].join(', ')}`, `via ${gw.address}`] : []),
            ...(selfMember ? mine.lines : []),
          ]),
          style: '"rounded,dashed"',
          peripheries: selfMember ? 2 : undefined,
          color: selfMember && mine.worst ? COLOURS[mine.worst] : undefined,
        });
        // left to right: the first site's members before its gateway, the others' after theirs,
        // so that gateways (and the NATs beside them) face each other across the tunnels
        const first = site === m.sites[0];
        const join = (member: string, gateway: string) =>
          first
            ? dot.edge(member, gateway, { style: 'dotted', dir: 'none' })
            : dot.edge(gateway, member, { style: 'dotted', dir: 'none' });
        for (const h of m.hosts.filter((x) => x.site === site.name && !isGateway(x.name)))
          if (gw) join(hostId(h.name), hostId(gw.name));
        if (gw) join(members, hostId(gw.name));
        if (gw?.public) {
          dot.node(natId(site.name), {
            label: label(['NAT', `outside ${gw.public}`]),
            shape: 'octagon',
            style: 'filled',
            fillcolor: '#fff8e1',
          });
        }
      },
    );
  }

  for (const t of m.tunnels) {
    const [a, b] = t.ends;
    const ga = gatewayHost(a.site);
    const gb = gatewayHost(b.site);
    if (!ga || !gb) continue;
    // what the gateways derive: vni, ports, keepalive (the end behind the NAT)
    const ta = input.gatewayTunnels?.get(ga.name)?.find((x) => x.name === t.name);
    const tb = input.gatewayTunnels?.get(gb.name)?.find((x) => x.name === t.name);
    const words = [t.name, ...((ta ?? tb) ? tunnelWords((ta ?? tb) as TunnelConfig) : [t.kind])];
    const selfIsTail = self?.host !== undefined && isSelf(ga.name);
    const selfIsEnd = self?.host !== undefined && (isSelf(ga.name) || isSelf(gb.name));
    const state = selfIsEnd ? tunnelLive(live, t.name, selfIsTail) : { words: [] };
    const style = {
      dir: state.dir ?? 'both',
      color: state.colour,
      fontcolor: state.colour,
      penwidth: state.penwidth ?? 1.5,
      style: state.style,
    };
    // the chain from a's gateway to b's, through the NAT a gateway sits behind
    const chain: { id: string; host?: (typeof m.hosts)[number]; tunnel?: TunnelConfig }[] = [
      { id: hostId(ga.name), host: ga, tunnel: ta },
      ...(ga.public ? [{ id: natId(a.site) }] : []),
      ...(gb.public ? [{ id: natId(b.site) }] : []),
      { id: hostId(gb.name), host: gb, tunnel: tb },
    ];
    for (let i = 0; i + 1 < chain.length; i++) {
      const from = chain[i] as (typeof chain)[number];
      const to = chain[i + 1] as (typeof chain)[number];
      // the segment behind the NAT: the inside gateway sends first and keeps the mapping open
      const inside = from.host?.public ? from : to.host?.public ? to : undefined;
      const segment = inside
        ? [
            `${inside.host?.name} sends first`,
            ...(inside.tunnel?.keepaliveMs ? [`keepalive ${seconds(inside.tunnel.keepaliveMs)}`] : []),
          ]
        : [...words, ...state.words];
      dot.edge(from.id, to.id, { ...style, label: label(segment) });
    }
  }
  const counted = [
    plural(m.sites.length, 'site'),
    plural(m.hosts.length, 'named host'),
    plural(m.tunnels.length, 'tunnel'),
  ];
  return dot.text(header(input, [...counted, ...range].join(' · ')));
}

/** A per-host file: this host's links, each tunnel's remote, its routes. */
export function hostDot(input: GraphInput): string {
  const { cfg, live } = input;
  const dot = new Dot();
  const want = desiredState(cfg);
  const linkId = (n: string) => `link ${n}`;
  const mine = troubles(live);
  const colourOf = (object: string) => {
    const s = stateOf(live, object);
    return s ? COLOURS[s] : undefined;
  };
  const devices = new Set<string>();
  for (const r of want.routes) if (!r.pin && r.dev && !r.link) devices.add(r.dev);
  for (const t of cfg.tunnels) if (t.dev) devices.add(t.dev);
  for (const l of cfg.links) devices.add(l.parent);

  dot.cluster(
    'host',
    {
      label: label(['this host', ...mine.lines]),
      style: '"rounded"',
      color: mine.worst ? COLOURS[mine.worst] : undefined,
    },
    () => {
      for (const b of cfg.bridges) {
        const s = stateOf(live, linkKey(b.name));
        dot.node(linkId(b.name), {
          label: label([
            b.name,
            ...BRIDGE.graphWords(b),
            ...b.addresses.map(cidrText),
            ...(b.mtu ? [`mtu ${b.mtu}`] : []),
            ...(s && s !== 'ok' ? [s] : []),
          ]),
          color: colourOf(linkKey(b.name)),
        });
      }
      for (const t of cfg.tunnels) {
        const s = stateOf(live, linkKey(t.name));
        dot.node(linkId(t.name), {
          label: label([t.name, ...t.addresses.map(cidrText), `local ${t.local}`, ...(s && s !== 'ok' ? [s] : [])]),
          penwidth: 2,
          color: colourOf(linkKey(t.name)),
        });
      }
      for (const l of cfg.links) {
        const s = stateOf(live, linkKey(l.name));
        dot.node(linkId(l.name), {
          label: label([
            l.name,
            ...kindOf(l.kind).graphWords(l),
            ...l.addresses.map(cidrText),
            ...(l.mtu ? [`mtu ${l.mtu}`] : []),
            ...(s && s !== 'ok' ? [s] : []),
          ]),
          color: colourOf(linkKey(l.name)),
        });
      }
      for (const d of devices) dot.node(`dev ${d}`, { label: label([d, 'host device']), style: '"rounded,dashed"' });
      for (const b of cfg.bridges)
        for (const p of b.ports) dot.edge(linkId(b.name), linkId(p), { style: 'dotted', label: 'port', dir: 'none' });
      for (const t of cfg.tunnels)
        if (t.dev) dot.edge(`dev ${t.dev}`, linkId(t.name), { style: 'dotted', dir: 'none', label: 'underlay' });
      for (const l of cfg.links)
        dot.edge(`dev ${l.parent}`, linkId(l.name), { style: 'dotted', dir: 'none', label: 'parent' });
    },
  );

  for (const t of cfg.tunnels) {
    const remote = `remote ${t.name}`;
    const peer = peerOf(live, t.name);
    dot.node(remote, {
      label: label([
        t.remote,
        `remote of ${t.name}`,
        ...((t.peer ?? peer?.peer) ? [`peer ${t.peer ?? peer?.peer}`] : []),
      ]),
      shape: 'ellipse',
      style: 'solid',
    });
    const state = tunnelLive(live, t.name, true);
    const keepalive = t.keepaliveMs
      ? [`keepalive ${seconds(t.keepaliveMs)}: sends first, keeps a NAT mapping open`]
      : [];
    dot.edge(linkId(t.name), remote, {
      label: label([...tunnelWords(t), ...keepalive, ...state.words]),
      dir: state.dir ?? 'both',
      color: state.colour,
      fontcolor: state.colour,
      penwidth: state.penwidth ?? 1.5,
      style: state.style,
    });
  }

  for (const r of want.routes.filter((x): x is DesiredRoute => !x.pin)) {
    const dst = `${r.dst}/${r.dstLen}`;
    const key = routeKey(r);
    const s = stateOf(live, key);
    const id = `route ${dst} ${r.metric}`;
    dot.node(id, {
      label: label([
        dst,
        ...(r.metric && r.metric !== 1024 ? [`metric ${r.metric}`] : []),
        ...(s && s !== 'ok' ? [s] : []),
      ]),
      shape: 'note',
      style: 'solid',
      color: colourOf(key),
    });
    const through = r.link;
    const from = through ? linkId(through) : r.dev ? `dev ${r.dev}` : undefined;
    if (from) dot.edge(from, id, { style: 'dashed', label: r.via ? `via ${r.via}` : '', color: colourOf(key) });
    else {
      // via a gateway on the host's own network, device found by the kernel
      dot.node('host network', { label: label(['host network']), style: '"rounded,dashed"' });
      dot.edge('host network', id, { style: 'dashed', label: r.via ? `via ${r.via}` : '', color: colourOf(key) });
    }
  }
  const n = cfg.tunnels.length + cfg.bridges.length + cfg.links.length;
  const routes = want.routes.filter((r) => !r.pin).length;
  return dot.text(header(input, `one host: ${plural(n, 'link')}, ${plural(routes, 'route')}`));
}

/** The graph of whatever the file is. */
export function graphDot(input: GraphInput): string {
  return input.cfg.island ? islandDot(input) : hostDot(input);
}
