/**
 * island's part of the firewall as data, in the words of iptables-save: its own chains
 * (ISLAND-*), each entered by one jump first in a hook chain of its table. Which tables,
 * hook chains and chains those are is model.ts's.
 */
import type { FirewallBackend } from '../config/types.js';
import type { FirewallId } from '../reconcile/object.js';
import type { NftRuleset } from './nftables.js';

export type Family = 4 | 6;
export type Backend = 'nft' | 'legacy';
export const FAMILIES: readonly Family[] = [4, 6];
export const BACKENDS: readonly Backend[] = ['nft', 'legacy'];

/** Every chain of the filter table whose name starts with this is island's; nothing else is. */
export const CHAIN_PREFIX = 'ISLAND-';
/** on every rule island writes, so that `iptables -S` tells a human whose it is */
export const TAG = '-m comment --comment island';

export const jumpSpec = (chain: string): string => `${TAG} -j ${chain}`;

export interface DesiredChain {
  name: string;
  /** rule specs in order, as iptables-save prints them after "-A <chain> " */
  rules: string[];
  /** the hook chain whose first rule jumps here, in the chain's table (model.ts) */
  from: string;
}

export interface DesiredTable {
  /** [] when island wants nothing in this family's table */
  chains: DesiredChain[];
}

export interface DesiredFirewall {
  /** false: the file has no [forward]; whatever island left in iptables goes */
  enabled: boolean;
  backend: FirewallBackend;
  pollMs: number;
  tables: Record<Family, DesiredTable>;
  /**
   * The traffic the island lives on, for finding what drops it: the forwarded traffic of
   * [forward] and every tunnel's own packets from its remote (with or without [forward]).
   */
  flows: Flow[];
}

/** Where a packet meets the filter: forwarded, or addressed to this host. */
export type Hook = 'forward' | 'input' | 'output';

/**
 * A kind of packet island needs to pass, as much as is known of it: a new connection's first
 * packet (conntrack state NEW; `ct` says otherwise). What is left out can be anything.
 */
export interface Flow {
  hook: Hook;
  /** the packet's conntrack state: NEW unless said */
  ct?: 'new' | 'established';
  /**
   * The packets also answer this host's own (a VXLAN whose source port is pinned to its
   * destination port, as across a NAT): once this host has sent, conntrack calls them
   * ESTABLISHED. Such a flow counts as dropped only when it is dropped in both states.
   */
  answers?: boolean;
  family: Family;
  iif?: string;
  oif?: string;
  saddr?: { address: string; prefixlen: number };
  daddr?: { address: string; prefixlen: number };
  /** IP protocol: 17 (udp), 4 (ipip) */
  proto?: number;
  dport?: number;
  /** for messages: "in vx0" (forwarded), "vx0's packets (udp 4789 from 192.0.2.2)" (input) */
  label: string;
  /** the tunnel whose own packets these are (input) */
  tunnel?: string;
  /** the peer's health probes out of that tunnel: dropped, the peer looks down, the tunnel still carries */
  probe?: true;
}

export interface SavedChain {
  /** ACCEPT / DROP for built-in chains, "-" for user-defined ones */
  policy: string;
  rules: string[];
}

/** One table of iptables-save output: chain name → policy and rule specs, in the order listed. */
export type SavedTable = Map<string, SavedChain>;

/** A family's tables as read: the filter table's chains, and those of any other table island keeps (by name). */
export type LiveTable =
  | { ok: true; chains: SavedTable; more?: Partial<Record<string, SavedTable>> }
  | { ok: false; error: string };

export interface LiveFirewall {
  /** the host's backend: island's part is always written there */
  backend: Backend;
  /** how the backend was chosen, for status */
  why: string;
  /** the families that were read; a family left out was not looked at */
  tables: Partial<Record<Family, LiveTable>>;
  /** the other backend's filter tables, where they exist (absent: not looked at) */
  other?: { backend: Backend; tables: Partial<Record<Family, LiveTable>> };
  /** the other nftables tables on the input and forward hooks (absent: not looked at) */
  nft?: { ok: true; ruleset: NftRuleset } | { ok: false; error: string };
}

/** One iptables-restore --noflush input for one family's filter table: applied whole or not at all. */
export interface RestoreBatch {
  family: Family;
  backend: Backend;
  lines: string[];
  /** what the batch asserts, to build it again from a fresh read if the table changed meanwhile */
  table: DesiredTable;
}

export interface FirewallAction {
  op: 'firewall';
  family: Family;
  id: FirewallId;
  /** objectName(id): "firewall ipv4 chain ISLAND-FORWARD", "firewall ipv4 FORWARD jump" */
  object: string;
  change: '+' | '~' | '-';
  detail: string;
  /**
   * The family's whole repair. Every action of one family carries the same
   * batch, which runs once: chain content and jump are always re-asserted
   * together, so they can never disagree.
   */
  batch: RestoreBatch;
}

export type FirewallState = 'ok' | 'missing' | 'drifted' | 'stale' | 'blocked';

export interface FirewallStatus {
  id: FirewallId;
  object: string;
  state: FirewallState;
  detail?: string;
}
