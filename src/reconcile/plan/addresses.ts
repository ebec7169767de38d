/** addresses on island's links: exactly the declared ones. */
import type { DesiredAddress, DesiredLink } from '../../desired.js';
import type { RawAddress } from '../../netlink/rtnl.js';
import { addressId, named, type ObjectStatus } from '../object.js';
import type { Action } from '../plan.js';
import type { LinkOutcome, PlanContext } from './context.js';

// The kernel adds an IPv6 link-local address to most links by itself; it is
// not island's to remove.
const kernelOwned = (a: { family: number; address: string }) => a.family === 6 && /^fe[89ab]/i.test(a.address);

const NONE: DesiredAddress[] = [];
const NONE_LIVE: RawAddress[] = [];

export function planAddresses(
  { want, live, liveByName }: PlanContext,
  { fresh, blocked }: LinkOutcome,
): { status: ObjectStatus[]; adds: Action[]; dels: Action[] } {
  const status: ObjectStatus[] = [];
  const wantAddrs = groupBy(want.addresses, (a) => a.link);
  const liveAddrs = groupBy(live.addresses, (a) => a.ifindex);
  const addrAdds: Action[] = [];
  const addrDels: Action[] = [];
  // indexed loops over every link and address: in a one-shot command's interpreted code each step
  // of the iterator protocol is an object (a 500-tunnel no-op apply's plan)
  for (let i = 0; i < want.links.length; i++) {
    const d = want.links[i] as DesiredLink;
    const mine = wantAddrs.get(d.name) ?? NONE;
    const l = liveByName.get(d.name);
    if (blocked.has(d.name)) {
      for (const a of mine)
        status.push({ ...named(addressId(a, d.name)), state: 'blocked', detail: blocked.get(d.name) });
      continue;
    }
    const have = fresh.has(d.name) || !l ? NONE_LIVE : (liveAddrs.get(l.ifindex) ?? NONE_LIVE);
    for (let k = 0; k < mine.length; k++) {
      const a = mine[k] as DesiredAddress;
      const present = have.some((h) => h.address === a.address && h.prefixlen === a.prefixlen);
      status.push({ ...named(addressId(a, d.name)), state: present ? 'ok' : 'missing' });
      if (!present) addrAdds.push({ op: 'add-address', address: a });
    }
    if (!l) continue;
    for (let k = 0; k < have.length; k++) {
      const h = have[k] as RawAddress;
      if (kernelOwned(h) || mine.some((a) => a.address === h.address && a.prefixlen === h.prefixlen)) continue;
      status.push({ ...named(addressId(h, d.name)), state: 'stale', detail: 'not in the file' });
      addrDels.push({ op: 'delete-address', link: d.name, ...h });
    }
  }
  return { status, adds: addrAdds, dels: addrDels };
}

function groupBy<T, K>(items: T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (let i = 0; i < items.length; i++) {
    const x = items[i] as T;
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}
