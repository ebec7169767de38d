/**
 * desired + live → the actions that make live equal desired, in dependency
 * order, and the status of every object. Pure: unit-tested without a kernel.
 */

import { routeIdentity } from '../config/kernel.js';
import { sameSysctl, sysctlTokens } from '../config/sysctl.js';
import type { DesiredAddress, DesiredLink, DesiredRoute, DesiredState } from '../desired.js';
import { planFirewall } from '../firewall/diff.js';
import type { FirewallAction } from '../firewall/types.js';
import { findKind } from '../kinds/index.js';
import { type Features, featureLabel, type Spec, specDiff } from '../kinds/kind.js';
import { inSubnet } from '../netlink/ip.js';
import type { RawRoute } from '../netlink/rtnl.js';
import { isLinkToken, ROUTE_PROTO } from '../ownership.js';
import type { LiveLink, LiveState } from './live.js';
import { named, type ObjectId, type ObjectStatus, objectName } from './object.js';

export type Action =
  | { op: 'set-sysctl'; key: string; value: string; from?: string }
  | { op: 'delete-route'; route: RawRoute; why: string }
  | { op: 'delete-link'; name: string; ifindex: number; why: string }
  | { op: 'create-link'; link: DesiredLink; why: string; replaces?: Replaced[] }
  | { op: 'set-link'; name: string; ifindex: number; change: LinkChange; why: string; line?: number }
  | { op: 'delete-address'; link: string; ifindex: number; family: 4 | 6; address: string; prefixlen: number }
  | { op: 'add-address'; address: DesiredAddress }
  | { op: 'replace-route'; route: DesiredRoute; why: string }
  | FirewallAction;

/**
 * An island link that a created one takes the place of (its own older self, or one removed
 * from the file that holds what the new one needs): deleted only once the new link exists,
 * or just before it is created when the kernel cannot hold both (`first`: the same VNI and
 * port, the same ipip endpoints).
 */
export interface Replaced {
  name: string;
  ifindex: number;
  first: boolean;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  /** bridge name, or null to release from any bridge */
  master?: string | null;
  /** ethtool features to set (only those that differ) */
  features?: Features;
  /** attributes of its kind the kernel changes in place (LinkKind.inPlace): the declared spec, and which of them differ */
  kindSpec?: { kind: string; spec: Spec; changed: string[] };
}

export type { ObjectId, ObjectState, ObjectStatus } from './object.js';

export interface Plan {
  actions: Action[];
  status: ObjectStatus[];
}

const linkId = (name: string): ObjectId => ({ type: 'link', name });
const addressId = (a: { address: string; prefixlen: number }, link: string): ObjectId => ({
  type: 'address',
  link,
  address: a.address,
  prefixlen: a.prefixlen,
});
const routeId = (r: { dst: string; dstLen: number; metric?: number; priority?: number }): ObjectId => ({
  type: 'route',
  dst: r.dst,
  dstLen: r.dstLen,
  metric: r.metric ?? r.priority,
});
const sysctlId = (key: string): ObjectId => ({ type: 'sysctl', key });

export const linkKey = (name: string) => objectName(linkId(name));
export const routeKey = (r: { dst: string; dstLen: number; metric?: number; priority?: number }) =>
  objectName(routeId(r));

/** The object an action repairs. */
export function actionId(a: Action): ObjectId {
  switch (a.op) {
    case 'set-sysctl':
      return sysctlId(a.key);
    case 'delete-route':
      return routeId(a.route);
    case 'replace-route':
      return routeId(a.route);
    case 'delete-link':
    case 'set-link':
      return linkId(a.name);
    case 'create-link':
      return linkId(a.link.name);
    case 'delete-address':
      return addressId(a, a.link);
    case 'add-address':
      return addressId(a.address, a.address.link);
    case 'firewall':
      return a.id;
  }
}

/** The object an action repairs, by name: for status, logs and the repair rate limit. */
export const actionObject = (a: Action): string => objectName(actionId(a));

// The kernel adds an IPv6 link-local address to most links by itself; it is
// not island's to remove.
const kernelOwned = (a: { family: number; address: string }) => a.family === 6 && /^fe[89ab]/i.test(a.address);

export function plan(want: DesiredState, live: LiveState): Plan {
  const actions: Action[] = [];
  const status: ObjectStatus[] = [];
  const liveByName = new Map(live.links.map((l) => [l.name, l]));
  const liveByIndex = new Map(live.links.map((l) => [l.ifindex, l]));
  const wanted = new Set(want.links.map((l) => l.name));

  // sysctls first: forwarding must be on before traffic is routed
  for (const [key, value] of Object.entries(want.sysctls)) {
    const have = live.sysctls[key];
    // compared as the kernel prints it back ("4096\t87380\t6291456" is "4096 87380 6291456")
    if (sameSysctl(have, value)) status.push({ ...named(sysctlId(key)), state: 'ok' });
    else {
      status.push({
        ...named(sysctlId(key)),
        state: have === undefined ? 'missing' : 'drifted',
        detail: `${have === undefined ? 'absent' : sysctlTokens(have).join(' ')} → ${value}`,
      });
      actions.push({
        op: 'set-sysctl',
        key,
        value,
        from: have === undefined ? undefined : sysctlTokens(have).join(' '),
      });
    }
  }

  // then island's ACCEPT rules, so forwarded traffic passes as soon as links and routes exist
  const fw = planFirewall(want.firewall, live.firewall);
  actions.push(...fw.actions);
  status.push(...fw.status);

  // links: decide, per declared link, keep / change / re-create / create / blocked
  /** links whose addresses and routes must all be (re)added: they are new */
  const fresh = new Set<string>();
  /** links that cannot be made now; their addresses and routes wait too */
  const blocked = new Map<string, string>();
  const creates: Action[] = [];
  const sets: Action[] = [];
  /** island's links no longer in the file; those under a token name are what an interrupted create left */
  const unwanted = live.links.filter((l) => l.owned && !wanted.has(l.name));
  const replaced = new Set<number>();

  for (const declared of want.links) {
    const key = named(linkId(declared.name));
    const l = liveByName.get(declared.name);
    if (l && !l.owned) {
      const why = `a link named ${declared.name} (${l.kind ?? 'device'}, ifindex ${l.ifindex}) exists and is not island's; remove or rename it`;
      status.push({ ...key, state: 'foreign', detail: why });
      blocked.set(declared.name, `${declared.name} is held by a foreign link`);
      continue;
    }
    // an underlay island creates in this same pass (a bridge, made first) is as good as present
    const under = declared.underlay;
    const underlayComing = under !== undefined && wanted.has(under) && !blocked.has(under);
    if (under && !liveByName.has(under) && !underlayComing) {
      const why = `${declared.parent === undefined ? 'underlay' : 'parent'} device ${under} does not exist`;
      status.push({ ...key, state: 'blocked', detail: why });
      blocked.set(declared.name, why);
      continue;
    }
    // a tunnel whose underlay address is gone (a DHCP renew to another address) sends nothing:
    // not ok, whatever else is; it is still made and kept, and works again when the address is back
    const local = declared.spec.local === undefined ? undefined : String(declared.spec.local);
    const waiting =
      local !== undefined && !localDevice(local, live, want, blocked)
        ? `local ${local} is not on this host`
        : undefined;
    const report = (s: ObjectStatus) => status.push(waiting ? { ...key, state: 'blocked', detail: waiting } : s);
    const d = declared.bindLocal ? bindToLocal(declared, live, want, blocked) : declared;
    if (typeof d === 'string') {
      status.push({ ...key, state: 'blocked', detail: d });
      blocked.set(declared.name, d);
      continue;
    }
    if (d.master && blocked.has(d.master)) {
      status.push({ ...key, state: 'blocked', detail: `bridge ${d.master} is not available` });
      blocked.set(d.name, `bridge ${d.master} is not available`);
      continue;
    }
    const immutable = l ? immutableDiff(d, l) : [];
    if (!l || immutable.length) {
      // what the kernel lets one link hold at a time: a foreign holder blocks; an island link
      // removed from the file that holds it is replaced
      const slot = slotOf(d.kind, d.spec);
      const holder =
        slot === undefined ? undefined : live.links.find((x) => x !== l && !x.owned && holdsSlot(x, d.kind, slot));
      if (holder) {
        const why = `${d.kind} ${holder.name} (ifindex ${holder.ifindex}, not island's) already holds ${slot}`;
        status.push({ ...key, state: 'blocked', detail: why });
        blocked.set(d.name, why);
        continue;
      }
      const replaces: Replaced[] = unwanted
        .filter((x) => slot !== undefined && !isLinkToken(x.name) && holdsSlot(x, d.kind, slot))
        .map((x) => ({ name: x.name, ifindex: x.ifindex, first: true }));
      if (l)
        replaces.unshift({ name: l.name, ifindex: l.ifindex, first: slot !== undefined && holdsSlot(l, d.kind, slot) });
      for (const r of replaces) replaced.add(r.ifindex);
      const why = l
        ? `re-create: ${immutable.join(', ')} changed: the kernel cannot change ${immutable.length > 1 ? 'them' : 'it'} in place`
        : 'missing';
      report(l ? { ...key, state: 'drifted', detail: why.slice('re-create: '.length) } : { ...key, state: 'missing' });
      creates.push({ op: 'create-link', link: d, why, ...(replaces.length ? { replaces } : {}) });
      fresh.add(d.name);
      continue;
    }
    const change = mutableDiff(d, l, liveByIndex);
    if (Object.keys(change).length) {
      const why = describeChange(change, l, liveByIndex);
      report({ ...key, state: 'drifted', detail: why });
      sets.push({ op: 'set-link', name: d.name, ifindex: l.ifindex, change, why, ...(d.line ? { line: d.line } : {}) });
    } else if (d.features && !l.features) {
      const what = Object.keys(d.features).map(featureLabel).join(', ');
      const why = live.featuresError ?? 'the kernel did not report the link';
      report({ ...key, state: 'blocked', detail: `${what} cannot be read: ${why}` });
    } else report({ ...key, state: 'ok' });
  }
  /** removed once every declared link exists (apply keeps them while one cannot be made) */
  const staleLinks: Action[] = [];
  /** what a killed create left under its token name: nothing uses it, and it may hold a VNI */
  const leftovers: Action[] = [];
  for (const l of unwanted) {
    const token = isLinkToken(l.name);
    const why = token ? 'left by an interrupted create' : 'no longer in the file';
    status.push({ ...named(linkId(l.name)), state: 'stale', detail: why });
    if (token) leftovers.push({ op: 'delete-link', name: l.name, ifindex: l.ifindex, why });
    else if (!replaced.has(l.ifindex)) staleLinks.push({ op: 'delete-link', name: l.name, ifindex: l.ifindex, why });
  }

  // addresses on island's links: exactly the declared ones
  const wantAddrs = groupBy(want.addresses, (a) => a.link);
  const liveAddrs = groupBy(live.addresses, (a) => a.ifindex);
  const addrAdds: Action[] = [];
  const addrDels: Action[] = [];
  for (const d of want.links) {
    const mine = wantAddrs.get(d.name) ?? [];
    const l = liveByName.get(d.name);
    if (blocked.has(d.name)) {
      for (const a of mine)
        status.push({ ...named(addressId(a, d.name)), state: 'blocked', detail: blocked.get(d.name) });
      continue;
    }
    const have = fresh.has(d.name) || !l ? [] : (liveAddrs.get(l.ifindex) ?? []);
    for (const a of mine) {
      const present = have.some((h) => h.address === a.address && h.prefixlen === a.prefixlen);
      status.push({ ...named(addressId(a, d.name)), state: present ? 'ok' : 'missing' });
      if (!present) addrAdds.push({ op: 'add-address', address: a });
    }
    if (!l) continue;
    for (const h of have) {
      if (kernelOwned(h) || mine.some((a) => a.address === h.address && a.prefixlen === h.prefixlen)) continue;
      status.push({ ...named(addressId(h, d.name)), state: 'stale', detail: 'not in the file' });
      addrDels.push({ op: 'delete-address', link: d.name, ...h });
    }
  }

  // routes: island's own (by protocol) against the declared ones
  const mineLive = live.routes.filter((r) => r.protocol === ROUTE_PROTO);
  const routeAdds: Action[] = [];
  const routeDels: Action[] = [];
  const matched = new Set<RawRoute>();
  // routes are one kernel object per identity (family, table, destination, metric as the kernel
  // stores it): matched by it, never by a spelling of the metric, so a route cannot flip
  const liveId = (x: RawRoute) => routeIdentity(x.family as 4 | 6, x.dst, x.dstLen, x.priority);
  const mineById = new Map<string, RawRoute>();
  for (const x of mineLive) if (!mineById.has(liveId(x))) mineById.set(liveId(x), x);
  const foreignById = new Map<string, RawRoute>();
  for (const x of live.routes)
    if (x.protocol !== ROUTE_PROTO && !foreignById.has(liveId(x))) foreignById.set(liveId(x), x);
  for (const r of want.routes) {
    const key = named(routeId(r));
    const id = routeIdentity(r.family, r.dst, r.dstLen, r.metric);
    const l = mineById.get(id);
    // still declared: never stale, even while it cannot be repaired
    if (l) matched.add(l);
    const dep = r.link;
    if (dep && blocked.has(dep)) {
      status.push({ ...key, state: 'blocked', detail: blocked.get(dep) });
      continue;
    }
    // a pin follows the host's own path; a route over a host device waits for that device or gateway
    const target = r.pin ? resolvePin(r, live, liveByName) : dep ? r : (hostPathProblem(r, live, liveByName) ?? r);
    if (typeof target === 'string') {
      status.push({ ...key, state: 'blocked', detail: target });
      continue;
    }
    const foreign = foreignById.get(id);
    if (foreign) {
      status.push({
        ...key,
        state: 'foreign',
        detail: `a route to ${r.dst}/${r.dstLen} with metric ${r.metric} exists (protocol ${foreign.protocol}) and is not island's`,
      });
      continue;
    }
    // routes through a (re)created link vanished with the old one
    const viaFresh = dep !== undefined && fresh.has(dep);
    const devIndex = target.dev ? liveByName.get(target.dev)?.ifindex : undefined;
    const drift = l && !viaFresh ? routeDrift(target, l, devIndex) : undefined;
    if (l && !viaFresh && !drift) {
      status.push({ ...key, state: 'ok' });
      continue;
    }
    const why = !l ? 'missing' : (drift ?? 'its link is re-created');
    status.push({ ...key, state: l && drift ? 'drifted' : 'missing', detail: l ? why : undefined });
    routeAdds.push({ op: 'replace-route', route: target, why });
  }
  for (const l of mineLive) {
    if (matched.has(l)) continue;
    status.push({ ...named(routeId(l)), state: 'stale', detail: 'no longer in the file' });
    routeDels.push({ op: 'delete-route', route: l, why: 'no longer in the file' });
  }

  // make before break: what replaces an object exists before the object goes
  actions.push(...leftovers, ...creates, ...sets, ...addrDels, ...addrAdds, ...routeAdds, ...routeDels, ...staleLinks);
  return { actions, status };
}

function immutableDiff(d: DesiredLink, l: LiveLink): string[] {
  if (l.kind !== d.kind) return ['kind'];
  const soft = inPlace(d, l);
  return specDiff(d.spec, l.spec ?? ({} as Spec)).filter((k) => !soft.includes(k));
}

/** The spec attributes that differ and that the kernel changes on the live link. */
const inPlace = (d: DesiredLink, l: LiveLink): string[] =>
  l.kind === d.kind && l.spec ? (findKind(d.kind)?.inPlace?.(d.spec, l.spec) ?? []) : [];

function mutableDiff(d: DesiredLink, l: LiveLink, byIndex: Map<number, LiveLink>): LinkChange {
  const c: LinkChange = {};
  if (!l.up) c.up = true;
  if (d.mtu !== undefined && d.mtu !== l.mtu) c.mtu = d.mtu;
  const liveMaster = l.master ? byIndex.get(l.master)?.name : undefined;
  if ((d.master ?? undefined) !== liveMaster) c.master = d.master ?? null;
  // unread features (no ethtool family) are not a difference: plan() reports the link blocked
  const have = l.features;
  const features = Object.entries(d.features ?? {}).filter(([k, v]) => have && have[k] !== v);
  if (features.length) c.features = Object.fromEntries(features);
  const changed = inPlace(d, l);
  if (changed.length) c.kindSpec = { kind: d.kind, spec: d.spec, changed };
  return c;
}

function describeChange(c: LinkChange, l: LiveLink, byIndex: Map<number, LiveLink>): string {
  const parts: string[] = [];
  if (c.up) parts.push('down → up');
  if (c.mtu !== undefined) parts.push(`mtu ${l.mtu} → ${c.mtu}`);
  if (c.master !== undefined) {
    const from = l.master ? (byIndex.get(l.master)?.name ?? `#${l.master}`) : 'none';
    parts.push(`master ${from} → ${c.master ?? 'none'}`);
  }
  for (const k of c.kindSpec?.changed ?? []) parts.push(`${k} ${l.spec?.[k]} → ${c.kindSpec?.spec[k]}`);
  const onOff = (v: boolean | undefined) => (v ? 'on' : 'off');
  for (const [k, v] of Object.entries(c.features ?? {}))
    parts.push(`${featureLabel(k)} ${onOff(l.features?.[k])} → ${onOff(v)}`);
  return parts.join(', ');
}

/** Whether a live route (or address subnet) holds `ip`. */
const holds = (x: { family: number; dst: string; dstLen: number }, family: 4 | 6, ip: string): boolean =>
  x.family === family && inSubnet(ip, x.dst, x.dstLen);

/**
 * The device that holds this address now, or will in this pass (an address the file gives
 * a link island makes): a tunnel's underlay is there.
 */
function localDevice(
  local: string,
  live: LiveState,
  want: DesiredState,
  blocked: Map<string, string>,
): string | undefined {
  const a = live.addresses.find((x) => x.address === local);
  const dev = a && live.links.find((l) => l.ifindex === a.ifindex)?.name;
  return dev ?? want.addresses.find((x) => x.address === local && !blocked.has(x.link))?.link;
}

/** The link bound to the device that holds its local address, now. */
function bindToLocal(
  d: DesiredLink,
  live: LiveState,
  want: DesiredState,
  blocked: Map<string, string>,
): DesiredLink | string {
  const local = String(d.spec.local);
  const dev = localDevice(local, live, want, blocked);
  if (!dev) return `local ${local} is not on this host`;
  return { ...d, spec: { ...d.spec, dev }, underlay: dev };
}

const slotOf = (kind: string, spec: Spec | undefined): string | undefined =>
  spec ? findKind(kind)?.slot?.(spec) : undefined;

/** Whether a live link holds this slot of the kernel's (the same VNI and port, the same endpoints). */
const holdsSlot = (x: LiveLink, kind: string, slot: string): boolean =>
  x.kind === kind && slotOf(kind, x.spec) === slot;

/**
 * A pin's via and dev: the host's own best route to the tunnel's remote, island's routes
 * and links left out (they are what the pin keeps the outer packets away from).
 */
function resolvePin(r: DesiredRoute, live: LiveState, byName: Map<string, LiveLink>): DesiredRoute | string {
  const remote = r.dst;
  const owned = new Set(live.links.filter((l) => l.owned).map((l) => l.ifindex));
  const dev = r.pin?.dev === undefined ? undefined : byName.get(r.pin.dev)?.ifindex;
  const best = live.routes
    .filter(
      (x) =>
        x.protocol !== ROUTE_PROTO &&
        holds(x, r.family, remote) &&
        x.oif !== undefined &&
        !owned.has(x.oif) &&
        (dev === undefined || x.oif === dev),
    )
    .sort((a, b) => b.dstLen - a.dstLen || (a.priority ?? 0) - (b.priority ?? 0))[0];
  const name = best?.oif === undefined ? undefined : live.links.find((l) => l.ifindex === best.oif)?.name;
  if (!best || name === undefined) {
    const over = r.pin?.dev ? ` over ${r.pin.dev}` : '';
    return `no route to ${remote}${over} outside the island: tunnel ${r.pin?.tunnel} has no underlay path to pin`;
  }
  return { ...r, via: best.gateway, dev: name };
}

/** Why a route over a host device cannot be added yet: its device is missing, or its gateway is on no connected subnet. */
function hostPathProblem(r: DesiredRoute, live: LiveState, byName: Map<string, LiveLink>): string | undefined {
  const dev = r.dev === undefined ? undefined : byName.get(r.dev);
  if (r.dev !== undefined && !dev) return `device ${r.dev} does not exist`;
  if (dev && !dev.up) return `device ${r.dev} is down`;
  const via = r.via;
  if (via === undefined) return undefined;
  const on = (ifindex: number | undefined) => dev === undefined || ifindex === dev.ifindex;
  const up = new Set(live.links.filter((l) => l.up).map((l) => l.ifindex));
  const connected =
    live.addresses.some(
      (a) => on(a.ifindex) && up.has(a.ifindex) && holds({ ...a, dst: a.address, dstLen: a.prefixlen }, r.family, via),
    ) || live.routes.some((x) => x.gateway === undefined && on(x.oif) && x.dstLen > 0 && holds(x, r.family, via));
  if (connected) return undefined;
  return `gateway ${via} is on no connected subnet of this host${r.dev ? ` on ${r.dev}` : ''}`;
}

function routeDrift(r: DesiredRoute, l: RawRoute, devIndex: number | undefined): string | undefined {
  if ((r.via ?? undefined) !== (l.gateway ?? undefined)) return `via ${l.gateway ?? 'none'} → ${r.via ?? 'none'}`;
  if (devIndex !== undefined && l.oif !== devIndex) return 'moved to another device';
  return undefined;
}

/** The file line that declared what an action makes, if it came from a file. */
export function actionLine(a: Action): number | undefined {
  switch (a.op) {
    case 'create-link':
      return a.link.line;
    case 'set-link':
      return a.line;
    case 'add-address':
      return a.address.line;
    case 'replace-route':
      return a.route.line;
    default:
      return undefined;
  }
}

/**
 * Status once a plan's actions ran: repaired objects are ok, removed ones (and
 * the links a new one replaced) are gone, skipped ones keep the state plan()
 * found, and failed ones are blocked by what the kernel said (apply() names
 * the file line that declared them; a link removed from the file stays stale).
 */
export function settle(status: ObjectStatus[], done: { action: Action; error?: string }[]): ObjectStatus[] {
  const failed = new Map(done.filter((r) => r.error).map((r) => [actionObject(r.action), r]));
  const fixed = new Set(done.filter((r) => !r.error).map((r) => actionObject(r.action)));
  for (const r of done)
    if (!r.error && r.action.op === 'create-link') for (const x of r.action.replaces ?? []) fixed.add(linkKey(x.name));
  const out: ObjectStatus[] = [];
  for (const s of status) {
    const f = failed.get(s.object);
    if (f) out.push({ id: s.id, object: s.object, state: s.state === 'stale' ? 'stale' : 'blocked', detail: f.error });
    // blocked whatever was repaired (a tunnel whose local address is not on this host)
    else if (!fixed.has(s.object) || s.state === 'blocked') out.push(s);
    else if (s.state !== 'stale') out.push({ id: s.id, object: s.object, state: 'ok' });
  }
  return out;
}

function groupBy<T, K>(items: T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of items) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
