/**
 * links: per declared link, keep / change / re-create / create / blocked; island's links no
 * longer in the file are stale.
 */
import type { DesiredLink, DesiredState } from '../../desired.js';
import { findKind } from '../../kinds/index.js';
import { featureLabel, type Spec, specDiff } from '../../kinds/kind.js';
import { isLinkToken } from '../../ownership.js';
import type { LiveLink } from '../live.js';
import { withAutoMtu } from '../mtu.js';
import { linkId, named, type ObjectStatus } from '../object.js';
import type { Action, LinkChange, Replaced } from '../plan.js';
import type { LinkOutcome, PlanContext } from './context.js';

export interface LinksPlan extends LinkOutcome {
  status: ObjectStatus[];
  /** what a killed create left under its token name: nothing uses it, and it may hold a VNI */
  leftovers: Action[];
  creates: Action[];
  sets: Action[];
  /** removed once every declared link exists (apply keeps them while one cannot be made) */
  staleLinks: Action[];
}

export function planLinks({ want, live, liveByName, liveByIndex, wanted }: PlanContext): LinksPlan {
  const status: ObjectStatus[] = [];
  /** links whose addresses and routes must all be (re)added: they are new */
  const fresh = new Set<string>();
  /** links that cannot be made now; their addresses and routes wait too */
  const blocked = new Map<string, string>();
  const creates: Action[] = [];
  const sets: Action[] = [];
  /** island's links no longer in the file; those under a token name are what an interrupted create left */
  const unwanted = live.links.filter((l) => l.owned && !wanted.has(l.name));
  const replaced = new Set<number>();
  // each tunnel asks who holds its local address: one lookup, not a scan of every address
  const holders = new Map<string, string>();
  for (const a of live.addresses) {
    const name = liveByIndex.get(a.ifindex)?.name;
    if (name !== undefined && !holders.has(a.address)) holders.set(a.address, name);
  }

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
      local !== undefined && !localDevice(local, holders, want, blocked)
        ? `local ${local} is not on this host`
        : undefined;
    const report = (s: ObjectStatus) => status.push(waiting ? { ...key, state: 'blocked', detail: waiting } : s);
    const sized = withAutoMtu(declared, live);
    const d = sized.bindLocal ? bindToLocal(sized, holders, want, blocked) : sized;
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
  return { status, leftovers, creates, sets, staleLinks, fresh, blocked };
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

/**
 * The device that holds this address now, or will in this pass (an address the file gives
 * a link island makes): a tunnel's underlay is there.
 */
function localDevice(
  local: string,
  holders: Map<string, string>,
  want: DesiredState,
  blocked: Map<string, string>,
): string | undefined {
  return holders.get(local) ?? want.addresses.find((x) => x.address === local && !blocked.has(x.link))?.link;
}

/** The link bound to the device that holds its local address, now. */
function bindToLocal(
  d: DesiredLink,
  holders: Map<string, string>,
  want: DesiredState,
  blocked: Map<string, string>,
): DesiredLink | string {
  const local = String(d.spec.local);
  const dev = localDevice(local, holders, want, blocked);
  if (!dev) return `local ${local} is not on this host`;
  return { ...d, spec: { ...d.spec, dev }, underlay: dev };
}

const slotOf = (kind: string, spec: Spec | undefined): string | undefined =>
  spec ? findKind(kind)?.slot?.(spec) : undefined;

/** Whether a live link holds this slot of the kernel's (the same VNI and port, the same endpoints). */
const holdsSlot = (x: LiveLink, kind: string, slot: string): boolean =>
  x.kind === kind && slotOf(kind, x.spec) === slot;
