/**
 * Desired vs live firewall → status per object and the actions that repair it.
 * Pure: unit-tested without iptables.
 *
 * A family whose chains or jumps are not exactly as wanted gets one batch that
 * re-asserts all of island's part of its table: every chain declared (which
 * creates it, or empties it), every jump island finds in FORWARD or INPUT
 * deleted by its exact text, one jump inserted first per chain, every rule
 * appended in order. Applied whole by iptables-restore, it lands in the same
 * state from any starting point, so it never leaves a duplicate behind and
 * never reorders rules.
 *
 * Both iptables backends hook into the kernel, and a drop in either is final.
 * island writes its part to the host's backend (backend.ts), and also to the
 * other one wherever that one's FORWARD or INPUT may drop island's traffic
 * (drops.ts); there its objects carry the backend's name: "firewall ipv4
 * FORWARD jump (legacy)".
 */
import { FIREWALL_POLL_MS } from '../config/defaults.js';
import { type FirewallId, named } from '../reconcile/object.js';
import { inputDrops, isDropFinding, mayDrop, nftDrops, outputDrops } from './drops.js';
import { backendFor } from './iptables.js';
import {
  type Builtin,
  FILTER,
  ISLAND_INPUT,
  type IslandsPart,
  savedOf,
  TABLES,
  type TableModel,
  tableOfChain,
} from './model.js';
import { normalize, targetOf } from './save.js';
import {
  type Backend,
  CHAIN_PREFIX,
  type DesiredFirewall,
  type DesiredTable,
  FAMILIES,
  type Family,
  type FirewallAction,
  type FirewallStatus,
  type Flow,
  jumpSpec,
  type LiveFirewall,
  type LiveTable,
} from './types.js';

const chainId = (family: Family, chain: string, backend?: Backend) =>
  named({ type: 'firewall', part: 'chain', family, chain, ...(backend ? { backend } : {}) });
const jumpId = (family: Family, table: TableModel, from: string, backend?: Backend) =>
  named({
    type: 'firewall',
    part: 'jump',
    family,
    ...(table === FILTER ? {} : { table: table.name }),
    from,
    ...(backend ? { backend } : {}),
  });

export interface FirewallPlan {
  actions: FirewallAction[];
  status: FirewallStatus[];
}

const NONE: DesiredTable = { chains: [] };

/**
 * `live` undefined: the firewall was not read in this pass, so nothing is said
 * about it. A family whose read failed is blocked while island wants something
 * there, and ignored otherwise (no iptables, not root: nothing of island's can
 * be there either way).
 */
export function planFirewall(want: DesiredFirewall, live: LiveFirewall | undefined): FirewallPlan {
  const out: FirewallPlan = { actions: [], status: [] };
  if (!live) return out;
  const main = planBackend(want, live.backend, live.tables, undefined);
  out.actions.push(...main.actions);
  out.status.push(...main.status);
  const extra: Builtin[] = [];
  if (live.other) {
    const o = planBackend(want, live.other.backend, live.other.tables, live.backend);
    out.actions.push(...o.actions);
    out.status.push(...o.status);
    extra.push(...o.writes);
  }
  if (live.nft?.ok) out.status.push(...nftDrops(live.nft.ruleset, want.flows));
  else if (live.nft && want.flows.length)
    out.status.push({ ...named({ type: 'nftables' }), state: 'blocked', detail: `cannot be read: ${live.nft.error}` });
  // the backend line: when island writes, or has leftovers to remove (a finding alone is not island's)
  if (want.enabled || main.status.some((s) => !isDropFinding(s)) || extra.length) {
    const both = extra.length
      ? `${live.backend} and ${live.other?.backend} (both hold ${[...new Set(extra)].join(' and ')} rules that could drop island's traffic): ${live.backend}: `
      : `${live.backend}: `;
    out.status.unshift({ ...named({ type: 'firewall', part: 'backend' }), state: 'ok', detail: `${both}${live.why}` });
  }
  return out;
}

/**
 * One backend's part: the host's backend (`primary` undefined) gets all of island's chains;
 * the other one those whose built-in chain may drop island's flows there (and gives back
 * which), with its objects named after it. INPUT findings where island keeps no ISLAND-INPUT.
 */
function planBackend(
  want: DesiredFirewall,
  backend: Backend,
  tables: Partial<Record<Family, LiveTable>>,
  primary: Backend | undefined,
): FirewallPlan & { writes: Builtin[] } {
  const out: FirewallPlan & { writes: Builtin[] } = { actions: [], status: [], writes: [] };
  const other = primary === undefined ? undefined : backend;
  for (const family of FAMILIES) {
    const table = tables[family];
    if (!table) continue;
    const full = want.tables[family];
    if (!table.ok) {
      if (primary === undefined && full.chains.length)
        out.status.push({
          ...named({ type: 'firewall', part: 'table', family, ...(other ? { backend: other } : {}) }),
          state: 'blocked',
          detail: table.error,
        });
      continue;
    }
    // the other backend: only where its own rules may drop what the chain accepts
    const d: DesiredTable =
      primary === undefined
        ? full
        : {
            chains: full.chains.filter(
              (c) => tableOfChain(c.name) === FILTER && mayDrop(table.chains, c.from as Builtin, want.flows, family),
            ),
          };
    out.writes.push(...d.chains.map((c) => c.from as Builtin));
    const p = planTable(family, backend, d, table, other);
    out.actions.push(...p.actions);
    out.status.push(...p.status);
    // the tunnels' own packets, where no ISLAND-INPUT of island's stands first
    if (!d.chains.some((c) => c.name === ISLAND_INPUT.name))
      out.status.push(
        ...inputDrops(table.chains, want.flows, {
          backend,
          family,
          other: other !== undefined,
          forward: want.enabled,
        }),
      );
    out.status.push(...outputDrops(table.chains, want.flows, { backend, family, other: other !== undefined }));
  }
  return out;
}

interface Change {
  id: FirewallId;
  object: string;
  change: FirewallAction['change'];
  detail: string;
}

function planTable(
  family: Family,
  backend: Backend,
  d: DesiredTable,
  live: Extract<LiveTable, { ok: true }>,
  other?: Backend,
): FirewallPlan {
  const status: FirewallStatus[] = [];
  const changes: Change[] = [];
  const found = islandsPart(d, live);

  for (const table of readTables(live)) {
    const chains = savedOf(live, table);
    const wanted = d.chains.filter((c) => tableOfChain(c.name) === table);
    const jumps = found.jumps.filter((j) => j.table === table);
    for (const c of wanted) {
      const object = chainId(family, c.name, other);
      const have = chains.get(c.name);
      const count = `${c.rules.length} rule${c.rules.length === 1 ? '' : 's'}`;
      if (!have) {
        status.push({ ...object, state: 'missing' });
        changes.push({ ...object, change: '+', detail: count });
      } else if (!sameRules(have.rules, c.rules)) {
        const why = ruleDrift(have.rules, c.rules);
        status.push({ ...object, state: 'drifted', detail: why });
        changes.push({ ...object, change: '~', detail: `re-assert ${count} (${why})` });
      } else status.push({ ...object, state: 'ok', detail: count });
    }

    // `iptables -F` empties every chain, island's included, and takes its jumps: the repair that
    // follows puts a jump back before the admin's `iptables -X`, which then fails on that chain
    const flushed =
      jumps.length === 0 && wanted.length > 0 && wanted.every((c) => chains.get(c.name)?.rules.length === 0);
    for (const { name: from } of table.hooks) {
      const object = jumpId(family, table, from, other);
      const to = wanted.find((c) => c.from === from)?.name;
      const mine = jumps.filter((j) => j.from === from);
      const rules = chains.get(from)?.rules ?? [];
      if (to) {
        const only = mine.length === 1 ? mine[0] : undefined;
        if (!mine.length) {
          status.push({ ...object, state: 'missing' });
          const busy = flushed
            ? `; after a flush: an "iptables -X" now fails on ${to}, which this jump uses ("CHAIN_DEL failed (Device or resource busy)", legacy: "Too many links"): run island down first`
            : '';
          changes.push({ ...object, change: '+', detail: `→ ${to}, first in ${from}${busy}` });
        } else if (only && only.i === 0 && normalize(only.spec) === jumpSpec(to)) {
          status.push({ ...object, state: 'ok', detail: `position 1 of ${rules.length}` });
        } else {
          const why = jumpDrift(mine, rules, to);
          status.push({ ...object, state: 'drifted', detail: why });
          changes.push({ ...object, change: '~', detail: `back to position 1 (${why})` });
        }
      } else if (mine.length) {
        const where = mine.map((j) => j.i + 1).join(', ');
        status.push({ ...object, state: 'stale', detail: `no longer in the file (position ${where})` });
        changes.push({ ...object, change: '-', detail: 'no longer in the file' });
      }
    }
    for (const { name } of found.stale.filter((x) => x.table === table)) {
      const o = chainId(family, name, other);
      status.push({ ...o, state: 'stale', detail: 'no longer in the file' });
      changes.push({ ...o, change: '-', detail: 'no longer in the file' });
    }
  }

  if (!changes.length) return { actions: [], status };
  const batch = backendFor(backend).batch(family, d, found);
  return { actions: changes.map((c) => ({ op: 'firewall', family, ...c, batch })), status };
}

/** The tables of a read: filter, and the others island keeps that were read with it. */
const readTables = (live: Extract<LiveTable, { ok: true }>): TableModel[] =>
  TABLES.filter((t) => t === FILTER || live.more?.[t.name] !== undefined);

/**
 * Every rule in a hook chain that enters one of island's chains, and island's chains it no
 * longer wants, in each table read.
 */
export function islandsPart(d: DesiredTable, live: Extract<LiveTable, { ok: true }>): IslandsPart {
  const found: IslandsPart = { jumps: [], stale: [] };
  const wanted = new Set(d.chains.map((c) => c.name));
  for (const table of readTables(live)) {
    const chains = savedOf(live, table);
    for (const { name: from } of table.hooks)
      (chains.get(from)?.rules ?? []).forEach((spec, i) => {
        if (targetOf(spec)?.startsWith(CHAIN_PREFIX)) found.jumps.push({ table, from, spec, i });
      });
    for (const name of chains.keys())
      if (name.startsWith(CHAIN_PREFIX) && !wanted.has(name)) found.stale.push({ name, table });
  }
  return found;
}

function sameRules(have: string[], want: string[]): boolean {
  return have.length === want.length && have.every((r, i) => normalize(r) === want[i]);
}

function ruleDrift(have: string[], want: string[]): string {
  if (!have.length) return `empty, ${want.length} missing`;
  const left = [...have.map(normalize)];
  let missing = 0;
  for (const r of want) {
    const i = left.indexOf(r);
    if (i < 0) missing++;
    else left.splice(i, 1);
  }
  const parts: string[] = [];
  if (missing) parts.push(`${missing} of ${want.length} missing`);
  if (left.length) parts.push(`${left.length} not island's`);
  return parts.length ? parts.join(', ') : 'rules out of order';
}

function jumpDrift(jumps: { i: number; spec: string }[], rules: string[], chain: string): string {
  if (jumps.length > 1) return `${jumps.length} jumps, at positions ${jumps.map((j) => j.i + 1).join(', ')}`;
  const j = jumps[0] as { i: number; spec: string };
  if (j.i > 0) {
    const ahead = rules.slice(0, j.i).map((r) => targetOf(r) ?? 'rule');
    const shown = ahead.length > 3 ? `${ahead.slice(0, 3).join(', ')}, ...` : ahead.join(', ');
    return `at position ${j.i + 1} of ${rules.length}, behind ${shown}`;
  }
  return `first, but not island's tagged jump to ${chain}: ${j.spec}`;
}

/** Nothing wanted: what `island down` and a file without [forward] compare against. */
export function nothingWanted(flows: Flow[] = []): DesiredFirewall {
  return { enabled: false, backend: 'auto', pollMs: FIREWALL_POLL_MS, tables: { 4: NONE, 6: NONE }, flows };
}
