/** One level-triggered pass: read everything, diff, apply the difference. */
import type { DesiredState } from '../desired.js';
import { firewallTeardown } from '../firewall/teardown.js';
import type { Ethtool } from '../netlink/ethtool.js';
import type { Rtnl } from '../netlink/rtnl.js';
import { ROUTE_PROTO } from '../ownership.js';
import { type ActionResult, apply } from './apply.js';
import type { LiveState } from './live.js';
import { observeUnderlays } from './mtu.js';
import { observe } from './observe.js';
import { type Action, type Plan, plan } from './plan.js';

export interface Pass {
  /** as observed before the actions ran */
  live: LiveState;
  plan: Plan;
  results: ActionResult[];
}

export async function reconcile(
  rtnl: Rtnl,
  ethtool: Ethtool,
  want: DesiredState,
  filter: (a: Action) => boolean = () => true,
  /** the live state already known (the daemon's last read, less what events said went): no read */
  known?: LiveState,
): Promise<Pass> {
  const live = known ?? (await observe(rtnl, Object.keys(want.sysctls), want.firewall, { ethtool, links: want.links }));
  if (!known) await observeUnderlays(rtnl, want, live);
  const p = plan(want, live);
  const results = await apply(rtnl, p.actions.filter(filter), live, ethtool, want.file);
  return { live, plan: p, results };
}

export async function planOnly(rtnl: Rtnl, ethtool: Ethtool, want: DesiredState): Promise<Plan> {
  const live = await observe(rtnl, Object.keys(want.sysctls), want.firewall, { ethtool, links: want.links });
  await observeUnderlays(rtnl, want, live);
  return plan(want, live);
}

/**
 * Remove everything island owns (routes by protocol, links by alias, chains by
 * name: ISLAND-* and the jumps to them, in both iptables backends), whatever
 * the file says now: `down` must work with a broken or deleted file. Sysctls
 * stay: island cannot know what they were before it set them.
 */
export async function teardown(rtnl: Rtnl): Promise<ActionResult[]> {
  const [live, firewall] = await Promise.all([observe(rtnl, []), firewallTeardown()]);
  const actions: Action[] = [
    ...firewall,
    ...live.routes
      .filter((r) => r.protocol === ROUTE_PROTO)
      .map((route): Action => ({ op: 'delete-route', route, why: 'island down' })),
    ...live.links
      .filter((l) => l.owned)
      .map((l): Action => ({ op: 'delete-link', name: l.name, ifindex: l.ifindex, why: 'island down' })),
  ];
  return apply(rtnl, actions, live);
}
