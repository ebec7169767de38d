/**
 * Checks that need more than one field or more than one entry: what the kernel would refuse
 * (or silently get wrong) at 3 a.m., caught when the file is saved instead.
 */

import { kindsOf } from '../kinds/index.js';
import type { KernelIdentity, Problem } from '../kinds/kind.js';
import { article, oneOf } from '../kinds/kind.js';
import { familyOf, inSubnet, networkOf } from '../netlink/ip.js';
import { formatKeyPath, type KeyPath } from './diagnostic.js';
import {
  type Bound,
  endpointProblems,
  gatewayProblem,
  kernelDeviceName,
  kernelMetric,
  prefixRange,
  prefixStart,
} from './kernel.js';
import type { Pos } from './locate.js';
import { minOverlapping } from './overlap.js';
import type { Reporter } from './report.js';
import type { BridgeView, LinkTableView, LinkView, RouteView, TunnelView } from './sections.js';
import { sysctlName, sysctlTokens } from './sysctl.js';
import type { Cidr, Family } from './types.js';

export interface Views {
  tunnels: TunnelView[];
  bridges: BridgeView[];
  links: LinkTableView[];
  routes: RouteView[];
}

// Loops over a file's entries are indexed, not for-of, here: in a one-shot command's interpreted
// code each step of the iterator protocol is an object, a few hundred KB for a 500-tunnel file.

export function checkSemantics(rep: Reporter, v: Views): void {
  for (let i = 0; i < v.tunnels.length; i++) checkTunnel(rep, v.tunnels[i] as TunnelView);
  for (let i = 0; i < v.links.length; i++) checkLink(rep, v.links[i] as LinkTableView);
  const links: LinkView[] = [...v.tunnels, ...v.bridges, ...v.links];
  const byName = firstByName(links);
  checkMtus(rep, links, byName);
  checkParents(rep, v, byName);
  checkNames(rep, links);
  checkTunnelIdentity(rep, v.tunnels);
  checkAddresses(rep, links);
  checkPorts(rep, v.tunnels, v.bridges);
  checkUnderlays(rep, v.tunnels, v.bridges);
  checkRoutes(rep, v.routes, links);
}

function label(l: LinkView): string {
  return l.name ?? l.rawName ?? formatKeyPath(l.path);
}

const at = (l: { path: KeyPath }, ...rest: (string | number)[]): KeyPath => [...l.path, ...rest];

function checkTunnel(rep: Reporter, t: TunnelView): void {
  if (t.local !== undefined && t.remote !== undefined && t.local === t.remote)
    rep.error(at(t, 'remote'), `same address as local (${t.local}); remote must be the peer`);
  if (t.dev !== undefined && t.dev === t.name) rep.error(at(t, 'dev'), 'a tunnel cannot run over itself');
  const ends = endpointProblems(t);
  for (let i = 0; i < ends.length; i++) {
    const p = ends[i] as (typeof ends)[number];
    rep.error(at(t, p.key), p.message);
  }
  const problems = t.kind?.check?.(t.declared);
  for (let i = 0; problems && i < problems.length; i++) {
    const p = problems[i] as Problem;
    if (p.warning) rep.warn(at(t, p.key), p.message);
    else rep.error(at(t, p.key), p.message);
  }
}

function checkLink(rep: Reporter, l: LinkTableView): void {
  if (l.parent !== undefined && l.parent === l.name) rep.error(at(l, 'parent'), 'a link cannot sit on itself');
  for (const p of l.kind?.check?.(l.declared) ?? []) {
    if (p.warning) rep.warn(at(l, p.key), p.message);
    else rep.error(at(l, p.key), p.message);
  }
}

/**
 * IPv6 needs an MTU of 1280: ipv6_add_dev() refuses an address on a smaller link (EINVAL) and
 * a link lowered below it loses them. Also where the MTU follows from the file: an auto tunnel
 * over a declared dev (its mtu less the headers), a bridge at its smallest port's, a [[link]] at
 * its parent's.
 */
function checkMtus(rep: Reporter, links: LinkView[], byName: Map<string, LinkView>): void {
  const known = new Map<LinkView, { mtu: number; why?: string; from?: string } | undefined>();
  const mtuOf = (l: LinkView | undefined): { mtu: number; why?: string; from?: string } | undefined => {
    if (!l) return undefined;
    if (l.mtu !== undefined) return { mtu: l.mtu };
    if (known.has(l)) return known.get(l);
    known.set(l, undefined); // a loop (refused elsewhere) has no MTU to tell
    let got: { mtu: number; why?: string; from?: string } | undefined;
    if (l.what === 'tunnel') {
      const t = l as TunnelView;
      const under = t.dev === undefined ? undefined : mtuOf(byName.get(t.dev));
      if (under && t.kind && t.local !== undefined) {
        const headers = t.kind.overhead(familyOf(t.local) === 6 ? 6 : 4, t.declared.options);
        got = {
          mtu: under.mtu - headers,
          why: `${t.dev}'s mtu ${under.mtu} less the ${t.kind.kind} headers, ${headers}`,
          from: t.dev,
        };
      }
    } else if (l.what === 'bridge') {
      for (const p of (l as BridgeView).ports) {
        const port = p === undefined ? undefined : mtuOf(byName.get(p));
        if (port && (!got || port.mtu < got.mtu)) got = { mtu: port.mtu, why: `the mtu of its port ${p}`, from: p };
      }
    } else {
      const parent = (l as LinkTableView).parent;
      const under = parent === undefined ? undefined : mtuOf(byName.get(parent));
      if (under) got = { mtu: under.mtu, why: `the mtu of its parent ${parent}`, from: parent };
    }
    known.set(l, got);
    return got;
  };
  // byName's values in its order: each name's first link, in the file's order
  for (let k = 0; k < links.length; k++) {
    const l = links[k] as LinkView;
    if (l.name === undefined || byName.get(l.name) !== l) continue;
    let i = -1;
    for (let a = 0; a < l.addresses.length && i < 0; a++) if (l.addresses[a]?.family === 6) i = a;
    const v6 = l.addresses[i];
    const m = i < 0 ? undefined : mtuOf(l);
    if (!v6 || !m || m.mtu >= 1280) continue;
    if (m.why === undefined)
      rep.error(at(l, 'mtu'), `IPv6 needs an MTU of at least 1280, and ${label(l)} has ${v6.address}/${v6.prefixlen}`);
    else
      rep.error(
        at(l, 'addresses', i),
        `IPv6 needs an MTU of at least 1280, and ${label(l)}'s would be ${m.mtu} (${m.why}): the kernel refuses IPv6 addresses on it; raise ${m.from}'s mtu`,
      );
  }
}

/**
 * A [[link]] sits on an Ethernet device that no bridge holds: macvlan and ipvlan refuse lo or a
 * layer 3 tunnel (EINVAL), a bridge port or a parent another kind already sits on (EBUSY: one
 * receive handler per device), and an mtu above the parent's (EINVAL).
 */
function checkParents(rep: Reporter, v: Views, parents: Map<string, LinkView>): void {
  // a [[link]]'s parent is looked up: no tables at all for a file without one
  if (v.links.length === 0) return;
  const tunnels = new Map<string, TunnelView>();
  for (const t of v.tunnels) if (t.name !== undefined && !tunnels.has(t.name)) tunnels.set(t.name, t);
  const bridgeOf = new Map<string, BridgeView>();
  for (const b of v.bridges) for (const p of b.ports) if (p !== undefined && !bridgeOf.has(p)) bridgeOf.set(p, b);
  const kindOn = new Map<string, LinkTableView>();
  for (const l of v.links) {
    const p = l.parent;
    if (p === undefined || p === l.name || !l.kind) continue;
    const kind = l.kind.kind;
    const t = tunnels.get(p);
    const bridge = bridgeOf.get(p);
    const other = kindOn.get(p);
    if (p === 'lo')
      rep.error(at(l, 'parent'), `the kernel puts ${article(kind)} ${kind} on an Ethernet device only, not on lo`);
    else if (t?.kind && !t.kind.ethernet)
      rep.error(
        at(l, 'parent'),
        `${p} is ${article(t.kind.kind)} ${t.kind.kind} tunnel (layer 3, no Ethernet): the kernel puts ${article(kind)} ${kind} on an Ethernet device only`,
      );
    else if (bridge)
      rep.error(
        at(l, 'parent'),
        `${p} is a port of bridge ${label(bridge)} (line ${rep.line(at(bridge, 'name'))}), which holds its traffic: the kernel refuses ${article(kind)} ${kind} on it (busy); put it on ${label(bridge)}`,
      );
    else if (other && other.kind?.kind !== kind)
      rep.error(
        at(l, 'parent'),
        `${other.kind?.kind} ${label(other)} (line ${rep.line(at(other, 'name'))}) already sits on ${p}: the kernel takes one kind of link on a parent (busy)`,
      );
    if (!kindOn.has(p)) kindOn.set(p, l);
    const parentMtu = parents.get(p)?.mtu;
    if (l.mtu !== undefined && parentMtu !== undefined && l.mtu > parentMtu)
      rep.error(
        at(l, 'mtu'),
        `${l.mtu} is above ${p}'s mtu ${parentMtu}; the kernel refuses ${article(kind)} ${kind} larger than its parent`,
      );
  }
}

/**
 * [sysctl] disable_ipv6 on a link of the file that has IPv6 addresses (or on all, or default,
 * which island's new links take): the kernel refuses the addresses ("IPv6 is disabled on this
 * device") or removes them, and island would add them back at every pass.
 */
export function checkSysctlLinks(rep: Reporter, links: LinkView[], sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const n = sysctlName(key);
    if (n.generic !== 'net.ipv6.conf.<if>.disable_ipv6' || sysctlTokens(value).every((t) => Number(t) === 0)) continue;
    const hit = links.find(
      (l) =>
        (n.ifname === 'all' || n.ifname === 'default' || l.name === n.ifname) &&
        l.addresses.some((a) => a?.family === 6),
    );
    const v6 = hit?.addresses.find((a) => a?.family === 6);
    if (!hit || !v6) continue;
    rep.error(
      ['sysctl', key],
      `disables IPv6 on ${n.ifname === hit.name ? hit.name : `${n.ifname === 'all' ? 'every link' : 'new links'}, ${label(hit)} among them`}, ` +
        `which has ${v6.address}/${v6.prefixlen} (line ${rep.line(at(hit, 'name'))}): the kernel refuses its IPv6 addresses; set 0 or leave them out`,
    );
  }
}

/** Each name's first link, in the file's order: what a dev, a port or a parent names. */
function firstByName(links: LinkView[]): Map<string, LinkView> {
  const byName = new Map<string, LinkView>();
  for (let k = 0; k < links.length; k++) {
    const l = links[k] as LinkView;
    if (l.name !== undefined && !byName.has(l.name)) byName.set(l.name, l);
  }
  return byName;
}

/** Tunnels, bridges and links share the kernel's one namespace of link names, with the kernel's own devices. */
function checkNames(rep: Reporter, links: LinkView[]): void {
  const first = new Map<string, LinkView>();
  for (let k = 0; k < links.length; k++) {
    const l = links[k] as LinkView;
    if (l.name === undefined) continue;
    const taken = kernelDeviceName(l.name);
    if (taken) {
      rep.error(at(l, 'name'), taken);
      continue;
    }
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

/**
 * Two tunnels that are one kernel object: the second create fails with EEXIST, after the
 * first has been made. Each kind says what its kernel object is (its identity()).
 */
function checkTunnelIdentity(rep: Reporter, tunnels: TunnelView[]): void {
  const seen = new Map<string, { t: TunnelView; id: KernelIdentity }[]>();
  for (let k = 0; k < tunnels.length; k++) {
    const t = tunnels[k] as TunnelView;
    if (t.name === undefined) continue;
    const id = t.kind?.identity?.(t.declared);
    if (!id) continue;
    const same = seen.get(id.id);
    const prev = same?.find((o) => identityClash(o.id, id))?.t;
    if (!prev) {
      if (same) same.push({ t, id });
      else seen.set(id.id, [{ t, id }]);
      continue;
    }
    rep.error(at(t, id.key), id.message(`${label(prev)} (line ${rep.line(at(prev, 'name'))})`));
  }
}

/** Two links of one identity are one kernel object, unless both are kept apart and by different values. */
export const identityClash = (a: KernelIdentity, b: KernelIdentity): boolean =>
  a.id === b.id && (a.apart === undefined || b.apart === undefined || a.apart === b.apart);

/** "line 3", or "line 3, column 14" when both sit on one line and the line alone would not tell them apart. */
function seenAt(rep: Reporter, first: KeyPath, now: KeyPath): string {
  const a = rep.pos(first);
  return a.line === rep.pos(now).line ? `line ${a.line}, column ${a.col}` : `line ${a.line}`;
}

const cidrText = (c: Cidr): string => `${c.address}/${c.prefixlen}`;
const netText = (c: Cidr): string => `${networkOf(c.address, c.prefixlen)}/${c.prefixlen}`;

/** fe80::/64 is on every IPv6 link by design; overlap between links is meaningless there. */
function linkLocal(c: Cidr): boolean {
  return c.family === 6 && inSubnet(c.address, 'fe80::', 10);
}

interface Placed {
  link: LinkView;
  cidr: Cidr;
  /** in its link's addresses */
  index: number;
  /** where its entry is written */
  line: number;
  col: number;
  /** rank in the file (line, then column) */
  rank: number;
  lo: Bound;
  hi: Bound;
}

/**
 * Each address against every earlier one in the file, reported once at the later of two
 * that overlap, naming the earliest it meets. Sorted and swept (overlap.ts), not compared
 * pair by pair: link-local addresses meet only those of their own link, and any other address.
 */
function checkAddresses(rep: Reporter, links: LinkView[]): void {
  // one object per address, ranked in place once sorted: indexed loops, no closure per link
  const placed: Placed[] = [];
  for (let k = 0; k < links.length; k++) {
    const link = links[k] as LinkView;
    const addrs = link.addresses;
    // an entry's addresses are written in its own table, in order: the entry's position and an
    // address's index place it in the file, without a position asked for each address
    let p: Pos | undefined;
    for (let index = 0; index < addrs.length; index++) {
      const cidr = addrs[index];
      if (!cidr) continue;
      p ??= rep.pos(link.path);
      const span = spanOf(cidr);
      placed.push({ link, cidr, index, line: p.line, col: p.col, rank: 0, lo: span[0], hi: span[1] });
    }
  }
  const before = (a: Placed, b: Placed): number => a.line - b.line || a.col - b.col || a.index - b.index;
  // tables written section by section are in file order already: a comparator call per address saved
  let sorted = true;
  for (let k = 1; k < placed.length && sorted; k++) sorted = before(placed[k - 1] as Placed, placed[k] as Placed) < 0;
  if (!sorted) placed.sort(before);
  for (let k = 0; k < placed.length; k++) (placed[k] as Placed).rank = k;
  // the common file: each address starts after the one before it in its family ends, so no two
  // overlap (a chain of disjoint spans, in order) and there is nothing to sweep for
  const ends: Partial<Record<Family, Bound>> = {};
  let apart = true;
  for (let k = 0; k < placed.length && apart; k++) {
    const p = placed[k] as Placed;
    const end = ends[p.cidr.family];
    apart = end === undefined || p.lo > end;
    ends[p.cidr.family] = p.hi;
  }
  if (apart) return;
  const INF = Number.POSITIVE_INFINITY;
  const earliest: number[] = new Array(placed.length).fill(INF);
  const sweep = (group: Placed[], weight: (p: Placed) => number, asks: (p: Placed) => boolean): void => {
    const mins = minOverlapping(
      group,
      group.map((p) => weight(p)),
    );
    group.forEach((p, i) => {
      if (asks(p)) earliest[p.rank] = Math.min(earliest[p.rank] as number, mins[i] as number);
    });
  };
  const isLL = new Set(placed.filter((p) => linkLocal(p.cidr)));
  for (const family of [4, 6]) {
    const all = placed.filter((p) => p.cidr.family === family);
    // any address meets any other, except a link-local one that of another link
    sweep(
      all,
      (p) => p.rank,
      (p) => !isLL.has(p),
    );
    if (!all.some((p) => isLL.has(p))) continue;
    sweep(
      all,
      (p) => (isLL.has(p) ? INF : p.rank),
      (p) => isLL.has(p),
    );
  }
  const ll = new Map<LinkView, Placed[]>();
  for (const p of isLL) ll.set(p.link, [...(ll.get(p.link) ?? []), p]);
  for (const group of ll.values())
    sweep(
      group,
      (p) => p.rank,
      () => true,
    );

  for (const b of placed) {
    const e = earliest[b.rank] as number;
    if (e >= b.rank) continue;
    const a = placed[e] as Placed;
    const [aPath, bPath] = [at(a.link, 'addresses', a.index), at(b.link, 'addresses', b.index)];
    if (a.link === b.link && cidrText(a.cidr) === cidrText(b.cidr)) {
      rep.error(bPath, `duplicate address ${cidrText(b.cidr)} (first at ${seenAt(rep, aPath, bPath)})`);
    } else {
      rep.error(
        bPath,
        `${netText(b.cidr)} on ${label(b.link)} overlaps ${netText(a.cidr)} on ${label(a.link)} (${seenAt(rep, aPath, bPath)})`,
      );
    }
  }
}

function checkPorts(rep: Reporter, tunnels: TunnelView[], bridges: BridgeView[]): void {
  // the tunnels are looked up by the bridges' ports: no table for a file without a bridge
  if (bridges.length === 0) return;
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
      if (t.kind && !t.kind.ethernet) {
        const ethernet = kindsOf('tunnel').filter((k) => k.ethernet);
        rep.error(
          path,
          `"${port}" is ${article(t.kind.kind)} ${t.kind.kind} tunnel, which is layer 3 and cannot be a bridge port; use kind = ${oneOf(ethernet.map((k) => k.kind))}`,
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

/**
 * Links stacked on each other: a tunnel over its dev, a bridge over its ports. The kernel
 * refuses a loop (netdev_upper_dev_link(): EBUSY), which a tunnel whose dev is the bridge it is
 * a port of makes; and a vxlan over a declared link takes that link's MTU less its headers.
 */
function checkUnderlays(rep: Reporter, tunnels: TunnelView[], bridges: BridgeView[]): void {
  // both checks start from a tunnel's dev: nothing to build for a file whose tunnels have none
  let anyDev = false;
  for (let k = 0; k < tunnels.length && !anyDev; k++) anyDev = (tunnels[k] as TunnelView).dev !== undefined;
  if (!anyDev) return;
  const links = new Map<string, LinkView>();
  for (const l of [...tunnels, ...bridges]) if (l.name !== undefined && !links.has(l.name)) links.set(l.name, l);
  // lower links of each link: a tunnel's dev, a bridge's ports
  const lower = new Map<string, { name: string; path: KeyPath }[]>();
  for (const t of tunnels) {
    if (t.name !== undefined && t.dev !== undefined && t.dev !== t.name && links.has(t.dev))
      lower.set(t.name, [{ name: t.dev, path: at(t, 'dev') }]);
  }
  for (const b of bridges) {
    if (b.name === undefined) continue;
    const ports = b.ports.flatMap((p, i) =>
      p !== undefined && links.has(p) ? [{ name: p, path: at(b, 'ports', i) }] : [],
    );
    lower.set(b.name, [...(lower.get(b.name) ?? []), ...ports]);
  }
  // a loop, found from each tunnel's dev: is the tunnel below its own underlay? (said once per loop)
  const looped = new Set<string>();
  for (const t of tunnels) {
    if (t.name === undefined || t.dev === undefined || !links.has(t.dev) || t.dev === t.name) continue;
    if (looped.has(t.name)) continue;
    const chain = below(t.dev, t.name, lower);
    if (chain) {
      for (const n of [t.dev, ...chain]) looped.add(n);
      const stack = [t.name, t.dev, ...chain].join(' over ');
      const bridge = links.get(t.dev)?.what === 'bridge' && chain.length === 1;
      rep.error(
        at(t, 'dev'),
        bridge
          ? `${t.dev} is the bridge ${t.name} is a port of: a tunnel cannot run over its own bridge (the kernel refuses the loop)`
          : `${t.name} would sit over itself (${stack}); the kernel refuses the loop`,
      );
    }
  }
  for (const t of tunnels) {
    if (!t.kind?.underlayMtu || t.mtu === undefined || t.dev === undefined || t.local === undefined) continue;
    const dev = links.get(t.dev);
    if (dev?.mtu === undefined) continue;
    const max = dev.mtu - t.kind.overhead(familyOf(t.local) === 6 ? 6 : 4);
    if (t.mtu > max)
      rep.error(
        at(t, 'mtu'),
        `${t.mtu} is above ${max}, ${t.dev}'s mtu ${dev.mtu} less the ${t.kind.kind} headers: the kernel would lower it at creation and refuse to raise it`,
      );
  }
}

/** The chain of links from `top` down to `target`, if `target` is below `top`. */
function below(top: string, target: string, lower: Map<string, { name: string }[]>): string[] | undefined {
  const seen = new Set<string>();
  const walk = (name: string): string[] | undefined => {
    if (seen.has(name)) return undefined;
    seen.add(name);
    for (const l of lower.get(name) ?? []) {
      if (l.name === target) return [target];
      const rest = walk(l.name);
      if (rest) return [l.name, ...rest];
    }
    return undefined;
  };
  return walk(top);
}

/** First and last address of a declared prefix as integers, computed once per address. */
const spans = new WeakMap<Cidr, [Bound, Bound]>();
function spanOf(c: Cidr): [Bound, Bound] {
  let s = spans.get(c);
  if (!s) {
    s = prefixRange(c.address, c.prefixlen, c.family);
    spans.set(c, s);
  }
  return s;
}

/** Where each declared address's subnet is, to find a gateway's link or a link's own subnet in O(1) per prefix length. */
class Subnets {
  /** family * 256 + prefixlen (a number: no key string per address) → first address of the subnet → the first address declared in it */
  private readonly byLen = new Map<number, Map<Bound, { link: LinkView; cidr: Cidr }>>();

  constructor(links: LinkView[]) {
    for (let l = 0; l < links.length; l++) {
      const link = links[l] as LinkView;
      for (let a = 0; a < link.addresses.length; a++) {
        const cidr = link.addresses[a];
        if (!cidr) continue;
        const k = cidr.family * 256 + cidr.prefixlen;
        let m = this.byLen.get(k);
        if (!m) {
          m = new Map();
          this.byLen.set(k, m);
        }
        const lo = spanOf(cidr)[0];
        if (!m.has(lo)) m.set(lo, { link, cidr });
      }
    }
  }

  /** A declared address whose subnet holds `ip`. */
  holding(ip: string): { link: LinkView; cidr: Cidr } | undefined {
    const family = familyOf(ip);
    if (family === undefined) return undefined;
    const bits = family === 4 ? 32 : 128;
    const value = prefixStart(ip, bits, family);
    for (const [k, m] of this.byLen) {
      const f = k >> 8;
      const len = k & 255;
      if (f !== family) continue;
      const net =
        typeof value === 'number'
          ? Math.floor(value / 2 ** (bits - len)) * 2 ** (bits - len)
          : value & ~((1n << BigInt(bits - len)) - 1n);
      const hit = m.get(net);
      if (hit) return hit;
    }
    return undefined;
  }

  /** A declared address whose connected subnet is exactly `c`. */
  exactly(c: Cidr): { link: LinkView; cidr: Cidr } | undefined {
    const m = this.byLen.get(c.family * 256 + c.prefixlen);
    // a route's destination is asked once: its start, without a span kept for it
    return m?.get(prefixStart(c.address, c.prefixlen, c.family));
  }
}

function checkRoutes(rep: Reporter, routes: RouteView[], links: LinkView[]): void {
  const byName = new Map<string, LinkView>();
  const own = new Map<string, LinkView>();
  for (let k = 0; k < links.length; k++) {
    const l = links[k] as LinkView;
    if (l.rawName !== undefined && !byName.has(l.rawName)) byName.set(l.rawName, l);
    for (let i = 0; i < l.addresses.length; i++) {
      const a = l.addresses[i];
      if (a && !own.has(a.address)) own.set(a.address, l);
    }
  }
  const subnets = new Subnets(links);
  // the kernel's identity (routeIdentity(): family, table main, destination, metric as it
  // defaults it) as keys that need no string of their own per route: a destination's address
  // is its network already (prefix refuses host bits)
  const seen = new Map<number, Map<string, RouteView>>();
  for (let k = 0; k < routes.length; k++) {
    const r = routes[k] as RouteView;
    if (!r.hasVia && !r.hasDev) rep.error(r.path, 'needs "via", "dev", or both', rep.pos(r.path));
    // a dev that is not declared here is a device of the host (eth0): only that host can tell
    // whether it exists, so plan and status report it, not check
    const dev = r.dev === undefined ? undefined : byName.get(r.dev);
    if (r.to) {
      const metric = kernelMetric(r.to.family, r.metric);
      const group = (metric * 2 + (r.to.family === 6 ? 1 : 0)) * 256 + r.to.prefixlen;
      let same = seen.get(group);
      if (!same) {
        same = new Map();
        seen.set(group, same);
      }
      const prev = same.get(r.to.address);
      if (prev) {
        const line = rep.line(at(prev, 'to'));
        const written = (m: number | undefined): string => (m === undefined ? 'no metric' : `metric = ${m}`);
        const how =
          prev.metric === r.metric
            ? ' with the same metric'
            : `: ${written(prev.metric)} and ${written(r.metric)} are both metric ${metric} to the kernel`;
        rep.error(at(r, 'to'), `duplicate route to ${cidrText(r.to)}${how} (first at line ${line})`);
      } else same.set(r.to.address, r);
      connectedSubnet(rep, r, r.to, subnets);
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
    const bad = gatewayProblem(r.via);
    if (bad) {
      rep.error(at(r, 'via'), bad);
      continue;
    }
    if (dev) {
      if (dev.name !== undefined) checkGateway(rep, r, r.via, fam as Family, dev);
    } else if (r.dev === undefined) ownAddress(rep, r, r.via, own);
  }
  checkSelfCarry(rep, routes, links, subnets);
}

/**
 * The kernel routes each address's subnet itself (proto kernel, with the address as src). A
 * declared route to the same prefix either replaces that route (same metric: the src is lost)
 * or shadows it; either way it is the link's own subnet, which needs no route.
 */
function connectedSubnet(rep: Reporter, r: RouteView, to: Cidr, subnets: Subnets): void {
  // an IPv4 /32 gets no prefix route
  if (to.family === 4 && to.prefixlen === 32) return;
  const hit = subnets.exactly(to);
  if (!hit) return;
  const theirs = CONNECTED_METRIC[to.family];
  const mine = kernelMetric(to.family, r.metric);
  // IPv4's prefix route carries the address as its src; IPv6's carries none
  const src = to.family === 4 ? `, src ${hit.cidr.address}` : '';
  const what =
    mine === theirs
      ? `this is the same kernel route (metric ${mine}) and would replace it${src ? ', losing its src' : ''}`
      : `a second route to it (metric ${mine}) only competes with that one`;
  rep.error(
    at(r, 'to'),
    `${cidrText(to)} is the subnet of ${cidrText(hit.cidr)} on ${label(hit.link)}, which the kernel routes itself ` +
      `(metric ${theirs}${src}); ${what}: leave it out`,
  );
}

/** The metric of the prefix route the kernel adds for an address: IPv4 0, IPv6 256 (IP6_RT_PRIO_ADDRCONF). */
const CONNECTED_METRIC = { 4: 0, 6: 256 } as const;

function ownAddress(rep: Reporter, r: RouteView, via: string, own: Map<string, LinkView>): boolean {
  const l = own.get(via);
  if (l) rep.error(at(r, 'via'), ownAddressMessage(via, l));
  return l !== undefined;
}

const ownAddressMessage = (via: string, l: LinkView): string =>
  `gateway ${via} is island's own address on ${label(l)}; use the peer's address`;

/**
 * A host route to a tunnel's own remote through the island would carry the tunnel's outer
 * packets into the tunnel. A wider route is fine: island pins the remote to the underlay.
 */
function checkSelfCarry(rep: Reporter, routes: RouteView[], links: LinkView[], subnets: Subnets): void {
  // host routes only: most files have none, and need neither table below
  let byRemote: Map<string, TunnelView> | undefined;
  let islandLinks: Set<string | undefined> | undefined;
  for (let k = 0; k < routes.length; k++) {
    const r = routes[k] as RouteView;
    if (!r.to || r.to.prefixlen !== (r.to.family === 4 ? 32 : 128)) continue;
    if (!byRemote) {
      byRemote = new Map();
      for (const l of links) {
        if (
          l.what === 'tunnel' &&
          (l as TunnelView).remote !== undefined &&
          !byRemote.has((l as TunnelView).remote as string)
        )
          byRemote.set((l as TunnelView).remote as string, l as TunnelView);
      }
    }
    const t = byRemote.get(r.to.address);
    if (!t) continue;
    islandLinks ??= new Set(links.map((l) => l.rawName));
    const through =
      (r.dev !== undefined && islandLinks.has(r.dev)) ||
      (r.dev === undefined && r.via !== undefined && subnets.holding(r.via) !== undefined);
    if (!through) continue;
    rep.error(
      at(r, 'to'),
      `${cidrText(r.to)} is the remote of tunnel ${label(t)}: routed through the island, the tunnel would carry its own packets; ` +
        'route a wider prefix (island then pins the remote to the underlay) or leave it out',
    );
  }
}

/** The kernel refuses a gateway it has no connected route to; say which addresses were considered. */
function checkGateway(rep: Reporter, r: RouteView, via: string, fam: Family, dev: LinkView): void {
  const addrs = dev.addresses;
  // loops, not includes/some/filter: a closure and an array for each of a big file's routes
  // a broken address could have been the one that reaches it: stay quiet rather than guess
  for (let i = 0; i < addrs.length; i++) if (addrs[i] === undefined) return;
  for (let i = 0; i < addrs.length; i++) {
    if ((addrs[i] as Cidr).address === via) {
      rep.error(at(r, 'via'), ownAddressMessage(via, dev));
      return;
    }
  }
  for (let i = 0; i < addrs.length; i++) {
    const a = addrs[i] as Cidr;
    if (a.family === fam && inSubnet(via, a.address, a.prefixlen)) return;
  }
  const mine = (addrs as Cidr[]).filter((a) => a.family === fam);
  const where =
    mine.length > 0 ? `on ${label(dev)}: ${mine.map(cidrText).join(', ')}` : `${label(dev)} has no IPv${fam} address`;
  rep.error(at(r, 'via'), `gateway ${via} is not reachable from any address island declares (${where})`);
}
