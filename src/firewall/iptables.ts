/**
 * The iptables backends (nft and legacy) behind model.ts's FirewallBackend: read with
 * iptables-save, written with one iptables-restore --noflush per family (nft: both over netlink
 * where the rules were seen before, iptables-nft.ts), nf_tables' changes from its netlink group
 * (legacy raises none).
 */
import { watchNftables } from './events.js';
import { learn, seeTables, spell, writeBatch } from './iptables-nft.js';
import { filterExists, mayHoldIsland } from './leftovers.js';
import { FILTER, type FirewallBackend, type IslandsPart, TABLES, type TableModel, tableOfChain } from './model.js';
import { parseSave } from './save.js';
import { complaint, program, restore, runTool } from './tools.js';
import {
  type Backend,
  type DesiredTable,
  type Family,
  jumpSpec,
  type LiveTable,
  type RestoreBatch,
  type SavedTable,
} from './types.js';

/**
 * `-t filter` names the one table island needs, but legacy iptables creates a table it is
 * asked for: unless the table exists or island writes to it (`create`), read all existing
 * tables instead and leave the host as it was.
 */
async function read(
  backend: Backend,
  family: Family,
  tables: readonly TableModel[],
  create: boolean,
): Promise<LiveTable> {
  if (backend !== 'nft') return save(backend, family, tables, create);
  // the kernel's answer, in the words iptables-nft-save gave the same rules before
  const seen = await seeTables(family, tables);
  const known = seen && spell(seen);
  if (known) return known;
  const live = await save(backend, family, tables, create);
  if (seen && live.ok) learn(seen, live, await seeTables(family, tables));
  return live;
}

async function save(
  backend: Backend,
  family: Family,
  tables: readonly TableModel[],
  create: boolean,
): Promise<LiveTable> {
  const prog = program(backend, family, 'save');
  const named = backend === 'nft' || create;
  const runs = named ? tables.map((t) => [prog, '-t', t.name]) : [[prog]];
  try {
    const found = new Map<string, SavedTable>();
    for (const argv of runs) {
      const r = await runTool(argv);
      if (r.code !== 0) return { ok: false, error: complaint(prog, r) };
      for (const [name, chains] of parseSave(r.stdout)) found.set(name, chains);
    }
    // a table with nothing in it (after `nft flush ruleset`) reads as empty
    const chains = found.get(FILTER.name) ?? new Map();
    const others = tables.filter((t) => t !== FILTER);
    if (!others.length) return { ok: true, chains };
    return { ok: true, chains, more: Object.fromEntries(others.map((t) => [t.name, found.get(t.name) ?? new Map()])) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The whole of island's part of one family's tables, re-asserted in one iptables-restore input. */
export function restoreBatch(family: Family, backend: Backend, d: DesiredTable, found: IslandsPart): RestoreBatch {
  const lines: string[] = [];
  // filter always, as before any other table was kept: a batch is never empty
  const used = new Set<TableModel>([
    FILTER,
    ...d.chains.map((c) => tableOfChain(c.name)),
    ...found.jumps.map((j) => j.table),
    ...found.stale.map((s) => s.table),
  ]);
  for (const table of TABLES.filter((t) => used.has(t))) {
    const chains = d.chains.filter((c) => tableOfChain(c.name) === table);
    const stale = found.stale.filter((s) => s.table === table).map((s) => s.name);
    lines.push(`*${table.name}`);
    // declaring a chain creates it, or (with --noflush) empties an existing one
    for (const c of chains) lines.push(`:${c.name} - [0:0]`);
    // by exact text as read: removes duplicates and misplaced copies, touches no foreign rule
    for (const j of found.jumps) if (j.table === table) lines.push(`-D ${j.from} ${j.spec}`);
    for (const name of stale) lines.push(`-F ${name}`);
    for (const name of stale) lines.push(`-X ${name}`);
    for (const c of chains) lines.push(`-I ${c.from} 1 ${jumpSpec(c.name)}`);
    for (const c of chains) for (const r of c.rules) lines.push(`-A ${c.name} ${r}`);
    lines.push('COMMIT');
  }
  return { family, backend, lines, table: d };
}

function iptables(name: Backend): FirewallBackend {
  return {
    name,
    read: (family, tables, create) => read(name, family, tables, create),
    exists: (family) => filterExists(name, family),
    mayHoldIsland: (family) => mayHoldIsland(name, family),
    batch: (family, want, found) => restoreBatch(family, name, want, found),
    // iptables-nft: one nf_tables transaction over netlink where the rules' kernel form is known
    apply:
      name === 'nft'
        ? async (b) => {
            if (!(await writeBatch(b))) await restore(b);
          }
        : restore,
    ...(name === 'nft' ? { watch: watchNftables } : {}),
  };
}

const BACKENDS: Record<Backend, FirewallBackend> = { nft: iptables('nft'), legacy: iptables('legacy') };

export const backendFor = (name: Backend): FirewallBackend => BACKENDS[name];
