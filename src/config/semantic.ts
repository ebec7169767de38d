/**
 * Checks that need more than one field or more than one entry: what the kernel would refuse
 * (or silently get wrong) at 3 a.m., caught when the file is saved instead.
 */
import { cidrRange, familyOf, inSubnet, networkOf } from '../netlink/ip.js';
import { formatKeyPath, type KeyPath } from './diagnostic.js';
import type { Reporter } from './report.js';
import type { BridgeView, LinkView, RouteView, TunnelView } from './sections.js';
import type { Cidr } from './types.js';

export interface Views {
  tunnels: TunnelView[];
  bridges: BridgeView[];
  routes: RouteView[];
}

export function checkSemantics(rep: Reporter, v: Views): void {
  for (const t of v.tunnels) checkTunnel(rep, t);
  const links: LinkView[] = [...v.tunnels, ...v.bridges];
  for (const l of links) checkMtu(rep, l);
  checkNames(rep, links);
  checkAddresses(rep, links);
  checkPorts(rep, v.tunnels, v.bridges);
  checkRoutes(rep, v.routes, links);
}

function label(l: LinkView): string {
  return l.name ?? l.rawName ?? formatKeyPath(l.path);
}

const at = (l: { path: KeyPath }, ...rest: (string | number)[]): KeyPath => [...l.path, ...rest];

function checkTunnel(rep: Reporter, t: TunnelView): void {
  if (t.local !== undefined && t.remote !== undefined) {
    if (t.local === t.remote) rep.error(at(t, 'remote'), `same address as local (${t.local}); remote must be the peer`);
    else if (t.kind === 'vxlan' && familyOf(t.local) !== familyOf(t.remote)) {
      rep.error(
        at(t, 'remote'),
        `${t.remote} is IPv${familyOf(t.remote)} but local ${t.local} is IPv${familyOf(t.local)}; ` +
          'both ends of a vxlan tunnel must use the same family',
      );
    }
  }
  if (t.dev !== undefined && t.dev === t.name) rep.error(at(t, 'dev'), 'a tunnel cannot run over itself');
  if (t.sourcePort !== undefined && !t.hasPort) {
    rep.warn(
      at(t, 'source_port'),
      `source_port is pinned but port is left at the default 4789; set port too if the peer listens elsewhere ` +
        `(e.g. port = ${t.sourcePort.low})`,
    );
  }
}

function checkMtu(rep: Reporter, l: LinkView): void {
  if (l.mtu === undefined || l.mtu >= 1280) return;
  const v6 = l.addresses.find((a) => a?.family === 6);
  if (v6) {
    rep.error(at(l, 'mtu'), `IPv6 needs an MTU of at least 1280, and ${label(l)} has ${v6.address}/${v6.prefixlen}`);
  }
}

/** Tunnels and bridges share the kernel's one namespace of link names. */
function checkNames(rep: Reporter, links: LinkView[]): void {
  const first = new Map<string, LinkView>();
  for (const l of links) {
    if (l.name === undefined) continue;
    const prev = first.get(l.name);
    if (!prev) {
      first.set(l.name, l);
      continue;
    }
    const line = rep.line(at(prev, 'name'));
    const msg =
      prev.what === l.what
        ? `duplicate ${l.what} name "${l.name}" (first at line ${line})`
        : `duplicate link name "${l.name}" (first at line ${line}, ${formatKeyPath(prev.path)})`;
    rep.error(at(l, 'name'), msg);
  }
}

interface Placed {
  link: LinkView;
  cidr: Cidr;
  path: KeyPath;
  /** the network's first and last address, computed once: n² overlap tests stay cheap at 500 tunnels */
  range: [bigint, bigint];
}

/** "line 3", or "line 3, column 14" when both sit on one line and the line alone would not tell them apart. */
function seenAt(rep: Reporter, first: KeyPath, now: KeyPath): string {
  const a = rep.pos(first);
  return a.line === rep.pos(now).line ? `line ${a.line}, column ${a.col}` : `line ${a.line}`;
}

const cidrText = (c: Cidr): string => `${c.address}/${c.prefixlen}`;
const netText = (c: Cidr): string => `${networkOf(c.address, c.prefixlen)}/${c.prefixlen}`;

/** Two prefixes either nest or are disjoint: they overlap when their ranges meet. */
function overlaps(a: Placed, b: Placed): boolean {
  return a.cidr.family === b.cidr.family && a.range[0] <= b.range[1] && b.range[0] <= a.range[1];
}

/** fe80::/64 is on every IPv6 link by design; overlap between links is meaningless there. */
function linkLocal(c: Cidr): boolean {
  return c.family === 6 && inSubnet(c.address, 'fe80::', 10);
}

function checkAddresses(rep: Reporter, links: LinkView[]): void {
  const placed: Placed[] = [];
  for (const link of links) {
    link.addresses.forEach((cidr, i) => {
      if (cidr)
        placed.push({ link, cidr, path: at(link, 'addresses', i), range: cidrRange(cidr.address, cidr.prefixlen) });
    });
  }
  // report each conflict once, at whichever of the two comes later in the file
  const order = (p: Placed): [number, number] => {
    const pos = rep.pos(p.path);
    return [pos.line, pos.col];
  };
  placed.sort((a, b) => {
    const [al, ac] = order(a);
    const [bl, bc] = order(b);
    return al - bl || ac - bc;
  });
  placed.forEach((b, j) => {
    for (let i = 0; i < j; i++) {
      const a = placed[i] as Placed;
      if (a.link === b.link && cidrText(a.cidr) === cidrText(b.cidr)) {
        rep.error(b.path, `duplicate address ${cidrText(b.cidr)} (first at ${seenAt(rep, a.path, b.path)})`);
        return;
      }
      if (!overlaps(a, b)) continue;
      if (a.link !== b.link && linkLocal(a.cidr) && linkLocal(b.cidr)) continue;
      rep.error(
        b.path,
        `${netText(b.cidr)} on ${label(b.link)} overlaps ${netText(a.cidr)} on ${label(a.link)} (${seenAt(rep, a.path, b.path)})`,
      );
      return;
    }
  });
}

function checkPorts(rep: Reporter, tunnels: TunnelView[], bridges: BridgeView[]): void {
  const tunnelByName = new Map<string, TunnelView>();
  for (const t of tunnels) if (t.rawName !== undefined && !tunnelByName.has(t.rawName)) tunnelByName.set(t.rawName, t);
  const bridgeNames = new Set(bridges.map((b) => b.rawName));
  const portOf = new Map<string, { bridge: BridgeView; path: KeyPath }>();
  for (const b of bridges) {
    b.ports.forEach((port, i) => {
      if (port === undefined) return;
      const path = at(b, 'ports', i);
      const t = tunnelByName.get(port);
      if (!t) {
        const why = bridgeNames.has(port)
          ? `"${port}" is a bridge; only tunnels can be bridge ports`
          : `"${port}" is not a tunnel declared in this file; island only enslaves links it owns`;
        rep.error(path, why);
        return;
      }
      if (t.kind === 'ipip') {
        rep.error(
          path,
          `"${port}" is an ipip tunnel, which is layer 3 and cannot be a bridge port; use kind = "vxlan"`,
        );
        return;
      }
      const prev = portOf.get(port);
      if (prev) {
        const where =
          prev.bridge === b
            ? 'listed twice'
            : `already a port of bridge ${label(prev.bridge)} (line ${rep.line(prev.path)})`;
        rep.error(path, `"${port}" is ${where}; a link can be a port of only one bridge`);
        return;
      }
      portOf.set(port, { bridge: b, path });
      if (t.addresses.length > 0) {
        rep.warn(
          at(t, 'addresses'),
          `${port} is a port of bridge ${label(b)}, so its addresses go unused; put them on ${label(b)}`,
        );
      }
    });
  }
}

function checkRoutes(rep: Reporter, routes: RouteView[], links: LinkView[]): void {
  const byName = new Map<string, LinkView>();
  for (const l of links) if (l.rawName !== undefined && !byName.has(l.rawName)) byName.set(l.rawName, l);
  const seen = new Map<string, RouteView>();
  for (const r of routes) {
    if (!r.hasVia && !r.hasDev) rep.error(r.path, 'needs "via", "dev", or both', rep.pos(r.path));
    // a dev that is not declared here is a device of the host (eth0): only that host can tell
    // whether it exists, so plan and status report it, not check
    const dev = r.dev === undefined ? undefined : byName.get(r.dev);
    if (r.to) {
      const key = `${cidrText(r.to)} metric ${r.metric ?? 'default'}`;
      const prev = seen.get(key);
      if (prev) {
        rep.error(
          at(r, 'to'),
          `duplicate route to ${cidrText(r.to)} with the same metric (first at line ${rep.line(at(prev, 'to'))})`,
        );
      } else seen.set(key, r);
    }
    if (r.via === undefined) continue;
    const fam = familyOf(r.via);
    if (r.to && r.to.family !== fam) {
      rep.error(
        at(r, 'via'),
        `gateway ${r.via} is IPv${fam} but the destination ${cidrText(r.to)} is IPv${r.to.family}`,
      );
      continue;
    }
    if (dev) {
      if (dev.name !== undefined) checkGateway(rep, r, r.via, [dev]);
    } else if (r.dev === undefined) ownAddress(rep, r, r.via, links);
  }
  checkSelfCarry(rep, routes, links);
}

function ownAddress(rep: Reporter, r: RouteView, via: string, links: LinkView[]): boolean {
  const l = links.find((x) => x.addresses.some((a) => a?.address === via));
  if (l) rep.error(at(r, 'via'), `gateway ${via} is island's own address on ${label(l)}; use the peer's address`);
  return l !== undefined;
}

/**
 * A host route to a tunnel's own remote through the island would carry the tunnel's outer
 * packets into the tunnel. A wider route is fine: island pins the remote to the underlay.
 */
function checkSelfCarry(rep: Reporter, routes: RouteView[], links: LinkView[]): void {
  const tunnels = links.filter((l): l is TunnelView => l.what === 'tunnel');
  const islandLinks = new Set(links.map((l) => l.rawName));
  for (const r of routes) {
    if (!r.to || r.to.prefixlen !== (r.to.family === 4 ? 32 : 128)) continue;
    const through =
      (r.dev !== undefined && islandLinks.has(r.dev)) ||
      (r.dev === undefined &&
        r.via !== undefined &&
        links.some((l) => l.addresses.some((a) => a && inSubnet(r.via as string, a.address, a.prefixlen))));
    if (!through) continue;
    const t = tunnels.find((x) => x.remote === r.to?.address);
    if (t) {
      rep.error(
        at(r, 'to'),
        `${cidrText(r.to)} is the remote of tunnel ${label(t)}: routed through the island, the tunnel would carry its own packets; ` +
          'route a wider prefix (island then pins the remote to the underlay) or leave it out',
      );
    }
  }
}

/** The kernel refuses a gateway it has no connected route to; say which addresses were considered. */
function checkGateway(rep: Reporter, r: RouteView, via: string, candidates: LinkView[]): void {
  // a broken address could have been the one that reaches it: stay quiet rather than guess
  if (candidates.some((l) => l.addresses.includes(undefined))) return;
  const fam = familyOf(via);
  if (ownAddress(rep, r, via, candidates)) return;
  const reach = candidates.some((l) =>
    l.addresses.some((a) => a && a.family === fam && inSubnet(via, a.address, a.prefixlen)),
  );
  if (reach) return;
  const onLinks = candidates
    .map((l) => {
      const mine = l.addresses.filter((a): a is Cidr => a !== undefined && a.family === fam);
      return mine.length > 0 ? `on ${label(l)}: ${mine.map(cidrText).join(', ')}` : '';
    })
    .filter((s) => s !== '');
  const where =
    onLinks.length > 0
      ? onLinks.join('; ')
      : candidates.length === 1
        ? `${label(candidates[0] as LinkView)} has no IPv${fam} address`
        : `island declares no IPv${fam} address`;
  rep.error(at(r, 'via'), `gateway ${via} is not reachable from any address island declares (${where})`);
}
