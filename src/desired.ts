/** Config → the set of kernel objects that must exist. Pure. */
import { lineOf } from './config/declared.js';
import { defaultMetric, kernelMetric, routeIdentity } from './config/kernel.js';
import type { Config, HostEntry, TunnelConfig } from './config/types.js';
import { desiredFirewall, forwardingSysctls } from './firewall/render.js';
import type { DesiredFirewall } from './firewall/types.js';
import { desiredPeers, type PeerChoice } from './health/target.js';
import { BRIDGE, kindOf } from './kinds/index.js';
import type { Features, Spec } from './kinds/kind.js';
import { familyOf, networkOf, PrefixIndex } from './netlink/ip.js';

export interface DesiredLink {
  name: string;
  kind: string;
  spec: Spec;
  mtu?: number;
  /** bridge this link is a port of */
  master?: string;
  /** underlay device that must exist before the link can */
  underlay?: string;
  /** the device it sits on, given to the kernel as IFLA_LINK (a [[link]]'s parent: a macvlan's lower device) */
  parent?: string;
  /**
   * Bind the tunnel to the device that holds its local address (plan() finds it). A route
   * through the island covers the remote: the kernel then looks the outer packets' route up
   * on that device only, so they never enter the tunnel (IPv4; IPv6 lookups are not strict
   * about the device, so an IPv6 remote gets a pin route instead).
   */
  bindLocal?: boolean;
  /** ethtool features kept at these values, decided by the kind module; absent: none managed */
  features?: Features;
  /** the file line that declared it (its table's header), for messages about it */
  line?: number;
  /**
   * It declares no IPv6 address, so it is made without an IPv6 link-local one: a link that has
   * one sends router solicitations and MLD reports as it comes up, and through a tunnel those
   * reach a NAT before the far end's first packet and block its mapping (a gre or vxlan link
   * on the public side: measured in the QEMU guests).
   */
  noLinkLocal6?: true;
  /**
   * A tunnel without a fixed mtu (`mtu = "auto"` or none): its mtu is its underlay's less
   * `overhead`, and at most `pathMtu` when the daemon measured less (reconcile/mtu.ts).
   */
  mtuAuto?: { overhead: number; local: string; remote: string; dev?: string; pathMtu?: number };
}

export interface DesiredAddress {
  link: string;
  family: 4 | 6;
  address: string;
  prefixlen: number;
  /** the file line that declared it */
  line?: number;
}

export interface DesiredRoute {
  family: 4 | 6;
  dst: string;
  dstLen: number;
  via?: string;
  dev?: string;
  /** as the kernel reports it: IPv6 routes default to 1024, IPv4 to 0 */
  metric: number;
  /**
   * A host route to a tunnel's remote that some declared route through the island covers:
   * plan() points it along the host's own (non-island) route to the remote, so the
   * tunnel's outer packets never enter the tunnel. via and dev come from that route.
   */
  pin?: { tunnel: string; dev?: string };
  /** the island link it goes through (its dev, or the declared link whose subnet holds its gateway); none: a host route */
  link?: string;
  /** the file line that declared it (none for a pin, which island derives) */
  line?: number;
}

export interface DesiredState {
  /** the file it came from, for messages that name a line of it */
  file?: string;
  /** bridges first, so that ports find their master */
  links: DesiredLink[];
  addresses: DesiredAddress[];
  routes: DesiredRoute[];
  sysctls: Record<string, string>;
  /** island's chains and jump; disabled (nothing of island's may stay) without [forward] */
  firewall: DesiredFirewall;
  /** tunnels whose peer island probes: keepalive or peer set */
  peers: DesiredPeer[];
  /** island's lines in /etc/hosts; [] removes them */
  hosts: HostEntry[];
}

export interface DesiredPeer extends PeerChoice {
  tunnel: string;
  /** UDP port on both ends */
  port: number;
  intervalMs: number;
  /** the interval is the tunnel's keepalive (rather than [daemon] health_interval) */
  keepalive: boolean;
  /** send only while the peer is heard: it is behind a NAT that our first packet would poison */
  waitForPeer: boolean;
}

// one place for the kernel's metric default, shared with check: config/kernel.ts
export { defaultMetric };

/** The island link a route goes through (its dev, or the link whose subnet holds its gateway), if any. */
function islandLinks(cfg: Config): (r: { family: 4 | 6; via?: string; dev?: string }) => string | undefined {
  const links = [...cfg.tunnels, ...cfg.bridges, ...cfg.links];
  const names = new Set(links.map((l) => l.name));
  // the first link (in this order) whose subnet holds the gateway; made for the first route
  // that names no dev (a file whose routes all do, as a hub's 500 tunnels': never)
  let subnets: PrefixIndex<number> | undefined;
  const indexed = (): PrefixIndex<number> => {
    if (!subnets) {
      subnets = new PrefixIndex<number>();
      for (let i = 0; i < links.length; i++)
        for (const a of (links[i] as (typeof links)[number]).addresses) subnets.add(a.address, a.prefixlen, i);
    }
    return subnets;
  };
  return (r) => {
    if (r.dev !== undefined) return names.has(r.dev) ? r.dev : undefined;
    if (r.via === undefined || familyOf(r.via) !== r.family) return undefined;
    const i = Math.min(...indexed().holding(r.via));
    return links[i]?.name;
  };
}

/** Whether a route through the island covers a tunnel's remote: its outer packets would enter the tunnel. */
function swallows(routes: DesiredRoute[]): (t: TunnelConfig) => boolean {
  const island = new PrefixIndex<true>();
  for (const r of routes)
    if (r.link !== undefined && r.dstLen < (r.family === 4 ? 32 : 128)) island.add(r.dst, r.dstLen, true);
  // once per remote: a hub's tunnels mostly share theirs
  const byRemote = new Map<string, boolean>();
  return (t) => {
    let covered = byRemote.get(t.remote);
    if (covered === undefined) {
      covered = island.holding(t.remote).length > 0;
      byRemote.set(t.remote, covered);
    }
    return covered;
  };
}

/** IPv6 remotes that a route through the island covers get a host route along the host's own path. */
function pins(cfg: Config, swallowed: (t: TunnelConfig) => boolean): DesiredRoute[] {
  const out: DesiredRoute[] = [];
  for (const t of cfg.tunnels) {
    const family = familyOf(t.remote) as 4 | 6;
    const max = family === 4 ? 32 : 128;
    if (family === 4 || !swallowed(t) || out.some((p) => p.dst === t.remote)) continue;
    out.push({
      family,
      dst: t.remote,
      dstLen: max,
      metric: defaultMetric(family),
      pin: t.dev === undefined ? { tunnel: t.name } : { tunnel: t.name, dev: t.dev },
    });
  }
  return out;
}

/** What an auto mtu is worked out from (the underlay's mtu is read at each pass). */
function mtuAuto(t: TunnelConfig): NonNullable<DesiredLink['mtuAuto']> {
  const family = familyOf(t.local) === 6 ? 6 : 4;
  return {
    overhead: kindOf(t.kind).overhead(family, t),
    local: t.local,
    remote: t.remote,
    ...(t.dev === undefined ? {} : { dev: t.dev }),
  };
}

/** The file's [[route]]s as island keeps them, without the pins (island doctor's rp_filter check reads these alone). */
export function declaredRoutes(cfg: Config): DesiredRoute[] {
  const islandLinkOf = islandLinks(cfg);
  return cfg.routes.map((r): DesiredRoute => {
    const link = islandLinkOf({ family: r.to.family, via: r.via, dev: r.dev });
    return {
      family: r.to.family,
      dst: networkOf(r.to.address, r.to.prefixlen),
      dstLen: r.to.prefixlen,
      via: r.via,
      dev: r.dev,
      ...(link === undefined ? {} : { link }),
      // as the kernel stores it: IPv6 also turns metric 0 into 1024, so the two never flip
      metric: kernelMetric(r.to.family, r.metric),
      ...lineOf(r),
    };
  });
}

export function desiredState(cfg: Config): DesiredState {
  const masterOf = new Map<string, string>();
  for (const b of cfg.bridges) for (const p of b.ports) masterOf.set(p, b.name);

  const declared = declaredRoutes(cfg);
  const swallowed = swallows(declared);
  const links: DesiredLink[] = [];
  const addresses: DesiredAddress[] = [];
  for (const b of cfg.bridges) {
    links.push({ name: b.name, kind: BRIDGE.kind, spec: BRIDGE.spec(b), mtu: b.mtu, ...lineOf(b) });
  }
  for (const t of cfg.tunnels) {
    links.push({
      name: t.name,
      kind: t.kind,
      spec: kindOf(t.kind).spec(t),
      mtu: t.mtu,
      master: masterOf.get(t.name),
      underlay: kindOf(t.kind).underlay?.(t),
      ...(t.dev === undefined && familyOf(t.remote) === 4 && swallowed(t) ? { bindLocal: true } : {}),
      features: kindOf(t.kind).features?.(t),
      ...(t.mtu === undefined ? { mtuAuto: mtuAuto(t) } : {}),
      ...lineOf(t),
    });
  }
  for (const l of cfg.links) {
    const k = kindOf(l.kind);
    links.push({
      name: l.name,
      kind: l.kind,
      spec: k.spec(l),
      mtu: l.mtu,
      underlay: l.parent,
      parent: l.parent,
      ...lineOf(l),
    });
  }
  for (const l of [...cfg.bridges, ...cfg.tunnels, ...cfg.links]) {
    for (const a of l.addresses) addresses.push({ link: l.name, ...a, ...lineOf(a) });
  }
  const v6 = new Set(addresses.filter((a) => a.family === 6).map((a) => a.link));
  for (const l of links) if (!v6.has(l.name)) l.noLinkLocal6 = true;
  // pins first: the route that would swallow a remote must never be there without its pin;
  // one route per kernel identity (check refuses two in a file): a second would replace the first
  const seen = new Set<string>();
  const routes = [...pins(cfg, swallowed), ...declared].filter((r) => {
    const id = routeIdentity(r.family, r.dst, r.dstLen, r.metric);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  // [forward] needs forwarding on; check already refused a file that sets it otherwise
  const sysctls = { ...cfg.sysctl, ...forwardingSysctls(cfg) };
  const hosts = cfg.hosts ?? [];
  const peers = desiredPeers(cfg);
  return { file: cfg.path, links, addresses, routes, sysctls, firewall: desiredFirewall(cfg, peers), peers, hosts };
}
