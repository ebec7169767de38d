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
import { inputDrops, isDropFinding, mayDrop, nftDrops } from './drops.js';
import { normalize, targetOf } from './save.js';
import {
  type Backend,
  BUILTINS,
  type Builtin,
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
  type RestoreBatch,
  type SavedTable,
} from './types.js';

const chainId = (family: Family, chain: string, backend?: Backend) =>
  named({ type: 'firewall', part: 'chain', family, chain, ...(backend ? { backend } : {}) });
const jumpId = (family: Family, from: Builtin, backend?: Backend) =>
  named({ type: 'firewall', part: 'jump', family, from, ...(backend ? { backend } : {}) });

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
        : { chains: full.chains.filter((c) => mayDrop(table.chains, c.from, want.flows, family)) };
    out.writes.push(...d.chains.map((c) => c.from));
    const p = planTable(family, backend, d, table.chains, other);
    out.actions.push(...p.actions);
    out.status.push(...p.status);
    // the tunnels' own packets, where no ISLAND-INPUT of island's stands first
    if (!d.chains.some((c) => c.from === 'INPUT'))
      out.status.push(
        ...inputDrops(table.chains, want.flows, {
          backend,
          family,
          other: other !== undefined,
          forward: want.enabled,
        }),
      );
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
  chains: SavedTable,
  other?: Backend,
): FirewallPlan {
  const status: FirewallStatus[] = [];
  const changes: Change[] = [];
  const { jumps, stale } = islandsPart(d, chains);

  for (const c of d.chains) {
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
    jumps.length === 0 && d.chains.length > 0 && d.chains.every((c) => chains.get(c.name)?.rules.length === 0);
  for (const from of BUILTINS) {
    const object = jumpId(family, from, other);
    const to = d.chains.find((c) => c.from === from)?.name;
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
  for (const name of stale) {
    const o = chainId(family, name, other);
    status.push({ ...o, state: 'stale', detail: 'no longer in the file' });
    changes.push({ ...o, change: '-', detail: 'no longer in the file' });
  }

  if (!changes.length) return { actions: [], status };
  const batch = restoreBatch(family, backend, d, jumps, stale);
  return { actions: changes.map((c) => ({ op: 'firewall', family, ...c, batch })), status };
}

export interface FoundJump {
  from: Builtin;
  spec: string;
  /** position in its built-in chain, from 0 */
  i: number;
}

/** Every rule in FORWARD or INPUT that enters one of island's chains, and island's chains it no longer wants. */
export function islandsPart(d: DesiredTable, chains: SavedTable): { jumps: FoundJump[]; stale: string[] } {
  const jumps = BUILTINS.flatMap((from) =>
    (chains.get(from)?.rules ?? [])
      .map((spec, i) => ({ from, spec, i, to: targetOf(spec) }))
      .filter((j) => j.to?.startsWith(CHAIN_PREFIX))
      .map(({ from, spec, i }) => ({ from, spec, i })),
  );
  const wanted = new Set(d.chains.map((c) => c.name));
  const stale = [...chains.keys()].filter((n) => n.startsWith(CHAIN_PREFIX) && !wanted.has(n));
  return { jumps, stale };
}

/** The whole of island's part of one family's filter table, re-asserted in one atomic write. */
export function restoreBatch(
  family: Family,
  backend: Backend,
  d: DesiredTable,
  jumps: { from: Builtin; spec: string }[],
  stale: string[],
): RestoreBatch {
  const lines = ['*filter'];
  // declaring a chain creates it, or (with --noflush) empties an existing one
  for (const c of d.chains) lines.push(`:${c.name} - [0:0]`);
  // by exact text as read: removes duplicates and misplaced copies, touches no foreign rule
  for (const j of jumps) lines.push(`-D ${j.from} ${j.spec}`);
  for (const name of stale) lines.push(`-F ${name}`);
  for (const name of stale) lines.push(`-X ${name}`);
  for (const c of d.chains) lines.push(`-I ${c.from} 1 ${jumpSpec(c.name)}`);
  for (const c of d.chains) for (const r of c.rules) lines.push(`-A ${c.name} ${r}`);
  lines.push('COMMIT');
  return { family, backend, lines, table: d };
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
