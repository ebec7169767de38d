/**
 * mtu = "auto" (and no mtu at all) on a tunnel: its underlay device's MTU less what the kind's
 * encapsulation adds, so that a full-size inner packet never needs fragmenting outside, and no
 * more than the path is measured to carry (health/pmtu.ts). The underlay is the declared `dev`,
 * else the device the kernel's route to the remote goes through (a tunnel without `dev`: the
 * kernel gives a vxlan 1500, which its own eth0 cannot carry with the headers on).
 */
import type { DesiredLink, DesiredState } from '../desired.js';
import type { RouteLookup, Rtnl } from '../netlink/rtnl.js';
import type { LiveState } from './live.js';

/**
 * Each auto tunnel's underlay MTU, by tunnel name, into `live.underlayMtu`. A route to the
 * remote through an island link (a route through the island covers it, and the tunnel is bound
 * to its local address's device instead) or none at all: the device that holds `local`.
 */
export async function observeUnderlays(rtnl: Rtnl, want: DesiredState, live: LiveState): Promise<void> {
  const auto = want.links.filter((l) => l.mtuAuto);
  if (!auto.length) return;
  const byName = new Map(live.links.map((l) => [l.name, l]));
  const byIndex = new Map(live.links.map((l) => [l.ifindex, l]));
  const out: Record<string, number> = {};
  // one lookup per remote, all sent together: a hub's tunnels mostly share theirs (500 round
  // trips were most of a no-op apply), and then the tunnels are gone through without an await each
  const pending = new Map<string, Promise<RouteLookup | undefined>>();
  for (const l of auto) {
    const a = l.mtuAuto as NonNullable<DesiredLink['mtuAuto']>;
    if (a.dev === undefined && !pending.has(a.remote))
      pending.set(
        a.remote,
        rtnl.routeGet(a.remote).catch(() => undefined),
      );
  }
  const routes = new Map<string, RouteLookup | undefined>();
  for (const [remote, r] of pending) routes.set(remote, await r);
  for (const l of auto) {
    const a = l.mtuAuto as NonNullable<DesiredLink['mtuAuto']>;
    let dev = a.dev === undefined ? undefined : byName.get(a.dev);
    if (!dev && a.dev === undefined) {
      const r = routes.get(a.remote);
      const via = r?.oif === undefined ? undefined : byIndex.get(r.oif);
      dev = via && !via.owned ? via : undefined;
      if (!dev) {
        const holder = live.addresses.find((x) => x.address === a.local);
        dev = holder && byIndex.get(holder.ifindex);
      }
    }
    if (dev?.mtu) out[l.name] = dev.mtu;
  }
  live.underlayMtu = out;
}

/**
 * The MTU an auto tunnel must have now: its underlay's less the overhead, and at most the
 * measured path; undefined when the underlay is not known (the kernel's default stays).
 */
export function autoMtu(l: DesiredLink, live: LiveState): number | undefined {
  const a = l.mtuAuto;
  const under = a && live.underlayMtu?.[l.name];
  if (!a || !under) return undefined;
  const target = under - a.overhead;
  return a.pathMtu === undefined ? target : Math.min(target, a.pathMtu);
}

/** The declared link with its auto MTU worked out (plan compares and creates with it). */
export function withAutoMtu(l: DesiredLink, live: LiveState): DesiredLink {
  const mtu = autoMtu(l, live);
  return mtu === undefined ? l : { ...l, mtu };
}

/** The desired state with what the daemon measured: each auto tunnel at most its path MTU. */
export function withPathMtus(want: DesiredState, pathMtus: Map<string, number>): DesiredState {
  if (!pathMtus.size) return want;
  return {
    ...want,
    links: want.links.map((l) => {
      const p = pathMtus.get(l.name);
      return l.mtuAuto && p !== undefined ? { ...l, mtuAuto: { ...l.mtuAuto, pathMtu: p } } : l;
    }),
  };
}
