/**
 * Desired vs live firewall → status per object and the actions that repair it.
 * Pure: unit-tested without iptables.
 *
 * A family whose chain or jump is not exactly as wanted gets one batch that
 * re-asserts all of island's part of its table: every chain declared (which
 * creates it, or empties it), every jump island finds in FORWARD deleted by its
 * exact text, one jump inserted first, every rule appended in order. Applied
 * whole by iptables-restore, it lands in the same state from any starting
 * point, so it never leaves a duplicate behind and never reorders rules.
 */
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
  jumpSpec,
  type LiveFirewall,
  type RestoreBatch,
  type SavedTable,
} from './types.js';

export const BACKEND_KEY = 'firewall backend';
export const chainKey = (family: Family, chain: string): string => `firewall ipv${family} chain ${chain}`;
export const jumpKey = (family: Family): string => `firewall ipv${family} FORWARD jump`;

export interface FirewallPlan {
  actions: FirewallAction[];
  status: FirewallStatus[];
}

/**
 * `live` undefined: the firewall was not read in this pass, so nothing is said
 * about it. A family whose read failed is blocked while island wants something
 * there, and ignored otherwise (no iptables, not root: nothing of island's can
 * be there either way).
 */
export function planFirewall(want: DesiredFirewall, live: LiveFirewall | undefined): FirewallPlan {
  const out: FirewallPlan = { actions: [], status: [] };
  if (!live) return out;
  for (const family of FAMILIES) {
    const table = live.tables[family];
    const d = want.tables[family];
    if (!table) continue;
    if (!table.ok) {
      if (d.chains.length || d.jump)
        out.status.push({ object: `firewall ipv${family}`, state: 'blocked', detail: table.error });
      continue;
    }
    const p = planTable(family, live.backend, d, table.chains);
    out.actions.push(...p.actions);
    out.status.push(...p.status);
  }
  if (want.enabled || out.status.length)
    out.status.unshift({ object: BACKEND_KEY, state: 'ok', detail: `${live.backend}: ${live.why}` });
  return out;
}

interface Change {
  object: string;
  change: FirewallAction['change'];
  detail: string;
}

function planTable(family: Family, backend: Backend, d: DesiredTable, chains: SavedTable): FirewallPlan {
  const status: FirewallStatus[] = [];
  const changes: Change[] = [];
  const forward = chains.get('FORWARD')?.rules ?? [];
  const { jumps, stale } = islandsPart(d, chains);

  for (const c of d.chains) {
    const object = chainKey(family, c.name);
    const have = chains.get(c.name);
    const count = `${c.rules.length} rule${c.rules.length === 1 ? '' : 's'}`;
    if (!have) {
      status.push({ object, state: 'missing' });
      changes.push({ object, change: '+', detail: count });
    } else if (!sameRules(have.rules, c.rules)) {
      const why = ruleDrift(have.rules, c.rules);
      status.push({ object, state: 'drifted', detail: why });
      changes.push({ object, change: '~', detail: `re-assert ${count} (${why})` });
    } else status.push({ object, state: 'ok', detail: count });
  }

  const object = jumpKey(family);
  if (d.jump) {
    const only = jumps.length === 1 ? jumps[0] : undefined;
    if (!jumps.length) {
      status.push({ object, state: 'missing' });
      changes.push({ object, change: '+', detail: `→ ${d.jump}, first in FORWARD` });
    } else if (only && only.i === 0 && normalize(only.spec) === jumpSpec(d.jump)) {
      status.push({ object, state: 'ok', detail: `position 1 of ${forward.length}` });
    } else {
      const why = jumpDrift(jumps, forward, d.jump);
      status.push({ object, state: 'drifted', detail: why });
      changes.push({ object, change: '~', detail: `back to position 1 (${why})` });
    }
  } else if (jumps.length) {
    const where = jumps.map((j) => j.i + 1).join(', ');
    status.push({ object, state: 'stale', detail: `no longer in the file (position ${where})` });
    changes.push({ object, change: '-', detail: 'no longer in the file' });
  }
  for (const name of stale) {
    const o = chainKey(family, name);
    status.push({ object: o, state: 'stale', detail: 'no longer in the file' });
    changes.push({ object: o, change: '-', detail: 'no longer in the file' });
  }

  if (!changes.length) return { actions: [], status };
  const batch = restoreBatch(family, backend, d, jumps, stale);
  return { actions: changes.map((c) => ({ op: 'firewall', family, ...c, batch })), status };
}

/** Every rule in FORWARD that enters one of island's chains, and island's chains it no longer wants. */
export function islandsPart(d: DesiredTable, chains: SavedTable) {
  const jumps = (chains.get('FORWARD')?.rules ?? [])
    .map((spec, i) => ({ spec, i, to: targetOf(spec) }))
    .filter((j) => j.to?.startsWith(CHAIN_PREFIX));
  const wanted = new Set(d.chains.map((c) => c.name));
  const stale = [...chains.keys()].filter((n) => n.startsWith(CHAIN_PREFIX) && !wanted.has(n));
  return { jumps, stale };
}

/** The whole of island's part of one family's filter table, re-asserted in one atomic write. */
export function restoreBatch(
  family: Family,
  backend: Backend,
  d: DesiredTable,
  jumps: { spec: string }[],
  stale: string[],
): RestoreBatch {
  const lines = ['*filter'];
  // declaring a chain creates it, or (with --noflush) empties an existing one
  for (const c of d.chains) lines.push(`:${c.name} - [0:0]`);
  // by exact text as read: removes duplicates and misplaced copies, touches no foreign rule
  for (const j of jumps) lines.push(`-D FORWARD ${j.spec}`);
  for (const name of stale) lines.push(`-F ${name}`);
  for (const name of stale) lines.push(`-X ${name}`);
  if (d.jump) lines.push(`-I FORWARD 1 ${jumpSpec(d.jump)}`);
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

function jumpDrift(jumps: { i: number; spec: string }[], forward: string[], chain: string): string {
  if (jumps.length > 1) return `${jumps.length} jumps, at positions ${jumps.map((j) => j.i + 1).join(', ')}`;
  const j = jumps[0] as { i: number; spec: string };
  if (j.i > 0) {
    const ahead = forward.slice(0, j.i).map((r) => targetOf(r) ?? 'rule');
    const shown = ahead.length > 3 ? `${ahead.slice(0, 3).join(', ')}, ...` : ahead.join(', ');
    return `at position ${j.i + 1} of ${forward.length}, behind ${shown}`;
  }
  return `first, but not island's tagged jump to ${chain}: ${j.spec}`;
}
