/**
 * What an object of island's is, as data: the type of object and the fields that tell it
 * from the others of its type. plan() and the firewall's planner give one to every status
 * row and every action; the daemon, the metrics and status read the type and fields from
 * here, never from the text. The text (objectName) is what a person reads, what the logs
 * and the repair rate limit key on, and what `island status` prints; it is made here only.
 */
import type { Builtin } from '../firewall/model.js';
import type { Backend, Family } from '../firewall/types.js';

export type ObjectId =
  | { type: 'sysctl'; key: string }
  | { type: 'link'; name: string }
  | { type: 'address'; link: string; address: string; prefixlen: number }
  /** metric as written in the file, or as the kernel reports it for a live route */
  | { type: 'route'; dst: string; dstLen: number; metric?: number }
  | { type: 'hosts'; path: string }
  | FirewallId;

/**
 * Island's part of a firewall. `backend` is named only for the backend that is not the
 * host's (island keeps chains there too where it may drop island's traffic).
 */
export type FirewallId =
  /** which backend island writes to, and why */
  | { type: 'firewall'; part: 'backend' }
  /** a family's table as a whole (e.g. it cannot be read) */
  | { type: 'firewall'; part: 'table'; family: Family; backend?: Backend }
  /** one of island's chains */
  | { type: 'firewall'; part: 'chain'; family: Family; chain: string; backend?: Backend }
  /** island's jump, first in a hook chain (of a table other than filter: named) */
  | { type: 'firewall'; part: 'jump'; family: Family; table?: string; from: string; backend?: Backend }
  /** a hook chain that is not island's and surely drops island's traffic (a finding) */
  | { type: 'firewall'; part: 'drops'; family: Family; chain: Builtin | 'OUTPUT'; backend?: Backend }
  /** the other nftables tables: unread (no table), or a base chain of one that drops island's traffic */
  | { type: 'nftables'; table?: { family: string; name: string; chain: string } };

export type ObjectType = ObjectId['type'];

const tag = (backend?: Backend) => (backend ? ` (${backend})` : '');

function firewallName(id: FirewallId): string {
  if (id.type === 'nftables')
    return id.table ? `nftables ${id.table.family} ${id.table.name} chain ${id.table.chain}` : 'nftables';
  switch (id.part) {
    case 'backend':
      return 'firewall backend';
    case 'table':
      return `firewall ipv${id.family}${tag(id.backend)}`;
    case 'chain':
      return `firewall ipv${id.family} chain ${id.chain}${tag(id.backend)}`;
    case 'jump':
      return `firewall ipv${id.family}${id.table ? ` ${id.table}` : ''} ${id.from} jump${tag(id.backend)}`;
    case 'drops':
      return `firewall ipv${id.family} ${id.chain}${tag(id.backend)}`;
  }
}

/** "link vx0", "address 10.3.1.3/24 on vx0", "route 192.168.3.0/24 metric 100", "firewall ipv4 FORWARD jump" */
export function objectName(id: ObjectId): string {
  switch (id.type) {
    case 'sysctl':
      return `sysctl ${id.key}`;
    case 'link':
      return `link ${id.name}`;
    case 'address':
      return `address ${id.address}/${id.prefixlen} on ${id.link}`;
    case 'route':
      return `route ${id.dst}/${id.dstLen}${id.metric ? ` metric ${id.metric}` : ''}`;
    case 'hosts':
      return `hosts ${id.path}`;
    default:
      return firewallName(id);
  }
}

// ---- the identities plan() gives its objects

export const linkId = (name: string): ObjectId => ({ type: 'link', name });
export const addressId = (a: { address: string; prefixlen: number }, link: string): ObjectId => ({
  type: 'address',
  link,
  address: a.address,
  prefixlen: a.prefixlen,
});
export const routeId = (r: { dst: string; dstLen: number; metric?: number; priority?: number }): ObjectId => ({
  type: 'route',
  dst: r.dst,
  dstLen: r.dstLen,
  metric: r.metric ?? r.priority,
});
export const sysctlId = (key: string): ObjectId => ({ type: 'sysctl', key });

/** Whether a row is a finding about a firewall that is not island's: what drops island's traffic. */
export const isDropId = (id: ObjectId): boolean =>
  (id.type === 'nftables' && id.table !== undefined) || (id.type === 'firewall' && id.part === 'drops');

export type ObjectState = 'ok' | 'missing' | 'drifted' | 'foreign' | 'blocked' | 'stale';

export interface ObjectStatus {
  id: ObjectId;
  /** objectName(id): "link vx0", "address 10.3.1.3/24 on island0", "route 192.168.3.0/24" */
  object: string;
  state: ObjectState;
  detail?: string;
}

/** The start of a status row or an action: the identity and its name. */
export const named = <I extends ObjectId>(id: I): { id: I; object: string } => ({ id, object: objectName(id) });
