/**
 * island's firewall as a model: the tables island keeps chains in, each table's hook chains
 * (the built-in chains the kernel runs at a hook), island's own chains with the hook chain
 * that jumps to each, and the one interface a backend implements to read, batch, apply and
 * watch them. The planner (diff.ts), the reads (observe.ts), the repair (repair.ts) and the
 * watch (watch.ts) work from these, never from a table's or a chain's name written out.
 * As flannel's TrafficManager does, the code that decides what the rules are never knows
 * how a backend writes them.
 *
 * How a new chain plugs in, in this table or in another:
 * - another table (mangle, for TCP MSS clamping): its TableModel below (name, hook chains),
 *   added to TABLES;
 * - the chain: an IslandChain in CHAINS, naming its table and the hook chain that jumps to
 *   it (e.g. { table: MANGLE, name: 'ISLAND-MSS', from: 'FORWARD' });
 * - its rules: render.ts puts a DesiredChain of that name into the family's DesiredTable.
 * The planner then reads that table too, reports the chain and its jump ("firewall ipv4
 * mangle FORWARD jump"), removes it when it leaves the file, and repairs it in the same
 * atomic batch as the family's other tables; `island down` sweeps it.
 *
 * A backend (FirewallBackend) is how one firewall implementation holds these: iptables-nft
 * and iptables-legacy (iptables.ts, through iptables-save/-restore; iptables-nft read over
 * NETLINK_NETFILTER where it can, iptables-nft.ts) today. A native nftables backend
 * implements the same interface and is chosen in backendFor().
 */
import type { EventSource } from '../netlink/events.js';
import type { NftEvent } from './events.js';
import type { Backend, DesiredTable, Family, Hook, LiveTable, RestoreBatch, SavedTable } from './types.js';

/** A built-in chain of a table, run by the kernel at one hook. */
export interface HookChain {
  name: string;
  hook: Hook;
}

export interface TableModel {
  /** as iptables names it: "filter" */
  name: string;
  /** the hook chains island may jump from */
  hooks: readonly HookChain[];
}

/** The hook chains of the filter table island jumps from: its verdicts decide what passes. */
export type Builtin = 'FORWARD' | 'INPUT';

export const FILTER = {
  name: 'filter',
  hooks: [
    { name: 'FORWARD', hook: 'forward' },
    { name: 'INPUT', hook: 'input' },
  ],
} as const satisfies TableModel;

/** The filter's hook chains island jumps from, in the order their jumps are planned. */
export const BUILTINS: readonly Builtin[] = FILTER.hooks.map((h) => h.name);

/** The hook a filter hook chain runs at. */
export const hookOf = (chain: Builtin): Hook => (FILTER.hooks.find((h) => h.name === chain) as HookChain).hook;

/** The mangle table: island rewrites the MSS of forwarded SYNs there (its verdicts pass everything). */
export const MANGLE = {
  name: 'mangle',
  hooks: [{ name: 'FORWARD', hook: 'forward' }],
} as const satisfies TableModel;

/** Every table island may keep a chain in. */
export const TABLES: readonly TableModel[] = [FILTER, MANGLE];

/** One of island's chains: where it lives and which hook chain's first rule jumps to it. */
export interface IslandChain {
  table: TableModel;
  name: string;
  from: string;
}

/** The island's forwarded traffic ([forward]). */
export const ISLAND_FORWARD = { table: FILTER, name: 'ISLAND-FORWARD', from: 'FORWARD' } as const;
/** Each tunnel's own packets from its remote, and its peer's health probes ([forward] input). */
export const ISLAND_INPUT = { table: FILTER, name: 'ISLAND-INPUT', from: 'INPUT' } as const;

/** TCP MSS clamping of the SYNs island forwards into its tunnels ([forward]). */
export const ISLAND_MSS = { table: MANGLE, name: 'ISLAND-MSS', from: 'FORWARD' } as const;

export const CHAINS: readonly IslandChain[] = [ISLAND_FORWARD, ISLAND_INPUT, ISLAND_MSS];

/** The table a chain of island's lives in (one island has left behind under another name: filter's). */
export const tableOfChain = (name: string): TableModel => CHAINS.find((c) => c.name === name)?.table ?? FILTER;

/** The tables a family's desired chains live in, filter always first (what drops island's traffic is there). */
export function tablesOf(d: DesiredTable): TableModel[] {
  const used = new Set(d.chains.map((c) => tableOfChain(c.name)));
  return TABLES.filter((t) => t === FILTER || used.has(t));
}

/** A table's chains as read: filter's in `chains`, any other's in `more`. */
export function savedOf(live: Extract<LiveTable, { ok: true }>, table: TableModel): SavedTable {
  return table === FILTER ? live.chains : (live.more?.[table.name] ?? new Map());
}

/** What island found of its own in a table: its jumps (by exact text) and the chains it no longer wants. */
export interface IslandsPart {
  jumps: { from: string; spec: string; i: number; table: TableModel }[];
  stale: { name: string; table: TableModel }[];
}

export interface FirewallBackend {
  readonly name: Backend;
  /**
   * A family's tables as they are now. `tables`: which (filter always); `create`: whether
   * the read may create a table that does not exist (legacy iptables creates any table it
   * is asked for by name).
   */
  read(family: Family, tables: readonly TableModel[], create: boolean): Promise<LiveTable>;
  /** Cheap (no program): whether the family's filter table exists; on any doubt, true. */
  exists(family: Family): Promise<boolean>;
  /** Cheap (no program): whether the family may hold anything of island's; on any doubt, true. */
  mayHoldIsland(family: Family): Promise<boolean>;
  /** Pure: the one write that re-asserts island's part of a family's tables from what was found. */
  batch(family: Family, want: DesiredTable, found: IslandsPart): RestoreBatch;
  /** The write, atomic: applied whole or not at all. */
  apply(batch: RestoreBatch): Promise<void>;
  /**
   * Change notifications, where the backend raises any: nf_tables does, for every table of
   * every nftables user (iptables-nft's included). Left out (legacy iptables), the backend is
   * read every [forward] poll instead.
   */
  watch?(onChange: (ev: NftEvent) => void, onOverflow: () => void, onError: (err: Error) => void): EventSource;
}
