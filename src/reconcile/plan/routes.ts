/** routes: island's own (by protocol) against the declared ones. */
import { routeIdentity } from '../../config/kernel.js';
import type { DesiredRoute } from '../../desired.js';
import { inSubnet } from '../../netlink/ip.js';
import type { RawRoute } from '../../netlink/rtnl.js';
import { ROUTE_PROTO } from '../../ownership.js';
import type { LiveLink, LiveState } from '../live.js';
import { named, type ObjectStatus, routeId } from '../object.js';
import type { Action } from '../plan.js';
import type { LinkOutcome, PlanContext } from './context.js';

export function planRoutes(
  { want, live, liveByName }: PlanContext,
  { fresh, blocked }: LinkOutcome,
): { status: ObjectStatus[]; adds: Action[]; dels: Action[] } {
  const status: ObjectStatus[] = [];
  const mineLive = live.routes.filter((r) => r.protocol === ROUTE_PROTO);
  const routeAdds: Action[] = [];
  const routeDels: Action[] = [];
  const matched = new Set<RawRoute>();
  // routes are one kernel object per identity (family, table, destination, metric as the kernel
  // stores it): matched by it, never by a spelling of the metric, so a route cannot flip
  const liveId = (x: RawRoute) => routeIdentity(x.family as 4 | 6, x.dst, x.dstLen, x.priority);
  const mineById = new Map<string, RawRoute>();
  const foreignById = new Map<string, RawRoute>();
  for (const x of live.routes) {
    const byId = x.protocol === ROUTE_PROTO ? mineById : foreignById;
    const id = liveId(x);
    if (!byId.has(id)) byId.set(id, x);
  }
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
  return { status, adds: routeAdds, dels: routeDels };
}

/** Whether a live route (or address subnet) holds `ip`. */
const holds = (x: { family: number; dst: string; dstLen: number }, family: 4 | 6, ip: string): boolean =>
  x.family === family && inSubnet(ip, x.dst, x.dstLen);

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
