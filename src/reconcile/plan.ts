/**
 * desired + live → the actions that make live equal desired, in dependency
 * order, and the status of every object. Pure: unit-tested without a kernel.
 * Each kind of object has its planner (plan/: sysctls, links, addresses, routes;
 * the firewall's is firewall/diff.ts); plan() runs them and orders their actions.
 */

import type { DesiredAddress, DesiredLink, DesiredRoute, DesiredState } from '../desired.js';
import { planFirewall } from '../firewall/diff.js';
import type { FirewallAction } from '../firewall/types.js';
import type { Features, Spec } from '../kinds/kind.js';
import type { RawRoute } from '../netlink/rtnl.js';
import type { LiveState } from './live.js';
import { addressId, linkId, type ObjectId, type ObjectStatus, objectName, routeId, sysctlId } from './object.js';
import { planAddresses } from './plan/addresses.js';
import { planContext } from './plan/context.js';
import { planLinks } from './plan/links.js';
import { planRoutes } from './plan/routes.js';
import { planSysctls } from './plan/sysctls.js';

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

export function plan(want: DesiredState, live: LiveState): Plan {
  const cx = planContext(want, live);
  // sysctls first: forwarding must be on before traffic is routed
  const sysctls = planSysctls(want, live);
  // then island's ACCEPT rules, so forwarded traffic passes as soon as links and routes exist
  const fw = planFirewall(want.firewall, live.firewall);
  const links = planLinks(cx);
  const addresses = planAddresses(cx, links);
  const routes = planRoutes(cx, links);
  return {
    // make before break: what replaces an object exists before the object goes
    // concat, not spreads: a spread walks the iterator protocol, in cold code ~1 ms for the
    // 1,500 rows of a 500-tunnel no-op
    actions: sysctls.actions.concat(
      fw.actions,
      links.leftovers,
      links.creates,
      links.sets,
      addresses.dels,
      addresses.adds,
      routes.adds,
      routes.dels,
      links.staleLinks,
    ),
    status: sysctls.status.concat(fw.status, links.status, addresses.status, routes.status),
  };
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
