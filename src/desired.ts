/** Config → the set of kernel objects that must exist. Pure. */
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_PORT } from './config/peers.js';
import type { Config, HostEntry } from './config/types.js';
import { desiredFirewall, forwardingSysctls } from './firewall/render.js';
import type { DesiredFirewall } from './firewall/types.js';
import { choosePeer, type PeerChoice } from './health/target.js';
import { kindOf } from './kinds/index.js';
import type { Spec } from './kinds/kind.js';
import { networkOf } from './netlink/ip.js';

export interface DesiredLink {
  name: string;
  kind: string;
  spec: Spec;
  mtu?: number;
  /** bridge this link is a port of */
  master?: string;
  /** underlay device that must exist before the link can */
  underlay?: string;
}

export interface DesiredAddress {
  link: string;
  family: 4 | 6;
  address: string;
  prefixlen: number;
}

export interface DesiredRoute {
  family: 4 | 6;
  dst: string;
  dstLen: number;
  via?: string;
  dev?: string;
  /** as the kernel reports it: IPv6 routes default to 1024, IPv4 to 0 */
  metric: number;
}

export interface DesiredState {
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
}

export function desiredState(cfg: Config): DesiredState {
  const masterOf = new Map<string, string>();
  for (const b of cfg.bridges) for (const p of b.ports) masterOf.set(p, b.name);

  const links: DesiredLink[] = [];
  const addresses: DesiredAddress[] = [];
  for (const b of cfg.bridges) {
    links.push({ name: b.name, kind: 'bridge', spec: kindOf('bridge').spec(b), mtu: b.mtu });
  }
  for (const t of cfg.tunnels) {
    links.push({
      name: t.name,
      kind: t.kind,
      spec: kindOf(t.kind).spec(t),
      mtu: t.mtu,
      master: masterOf.get(t.name),
      underlay: t.dev,
    });
  }
  for (const l of [...cfg.bridges, ...cfg.tunnels]) {
    for (const a of l.addresses) addresses.push({ link: l.name, ...a });
  }
  const routes = cfg.routes.map((r) => ({
    family: r.to.family,
    dst: networkOf(r.to.address, r.to.prefixlen),
    dstLen: r.to.prefixlen,
    via: r.via,
    dev: r.dev,
    metric: r.metric ?? (r.to.family === 6 ? 1024 : 0),
  }));
  // [forward] needs forwarding on; check already refused a file that sets it otherwise
  const sysctls = { ...cfg.sysctl, ...forwardingSysctls(cfg) };
  const hosts = cfg.hosts ?? [];
  const peers: DesiredPeer[] = [];
  for (const t of cfg.tunnels) {
    if (t.keepaliveMs === undefined && t.peer === undefined) continue;
    // check refused a file where this finds no peer
    const choice = choosePeer(t.peer, t.addresses, hosts);
    if (!choice) continue;
    peers.push({
      tunnel: t.name,
      ...choice,
      port: cfg.daemon.healthPort ?? DEFAULT_HEALTH_PORT,
      intervalMs: t.keepaliveMs ?? cfg.daemon.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
      keepalive: t.keepaliveMs !== undefined,
    });
  }
  return { links, addresses, routes, sysctls, firewall: desiredFirewall(cfg), peers, hosts };
}
