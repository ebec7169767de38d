/** addresses on island's links: exactly the declared ones. */
import { addressId, named, type ObjectStatus } from '../object.js';
import type { Action } from '../plan.js';
import type { LinkOutcome, PlanContext } from './context.js';

// The kernel adds an IPv6 link-local address to most links by itself; it is
// not island's to remove.
const kernelOwned = (a: { family: number; address: string }) => a.family === 6 && /^fe[89ab]/i.test(a.address);

export function planAddresses(
  { want, live, liveByName }: PlanContext,
  { fresh, blocked }: LinkOutcome,
): { status: ObjectStatus[]; adds: Action[]; dels: Action[] } {
  const status: ObjectStatus[] = [];
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
  return { status, adds: addrAdds, dels: addrDels };
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
