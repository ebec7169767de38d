/** Read island's part of the firewall as it is: one iptables-save of the filter table per family. */
import { forgetDetectedBackend, resolveBackend } from './backend.js';
import { mayHoldIsland } from './leftovers.js';
import { filterTable, targetOf } from './save.js';
import { complaint, program, runTool } from './tools.js';
import {
  type Backend,
  CHAIN_PREFIX,
  type DesiredFirewall,
  FAMILIES,
  type Family,
  type LiveFirewall,
  type LiveTable,
  type SavedTable,
} from './types.js';

/**
 * A family island writes nothing to (IPv6 in an IPv4-only file; both without
 * [forward]) can only hold island's leftovers after the file changed, or after
 * someone restored a ruleset saved while they were there. It is read with
 * iptables-save only when a cheap look (leftovers.ts, no program) cannot rule
 * them out; once found clean it is looked at again at most every RECHECK_MS
 * (the default resync period), and at once after forgetFirewallReads() (a
 * reload). Families island writes are read on every pass.
 */
const RECHECK_MS = 30_000;
const cleanAt = new Map<string, number>();

/** The configuration changed: read every family again, and detect the backend again. */
export function forgetFirewallReads(): void {
  cleanAt.clear();
  forgetDetectedBackend();
}

function holdsIsland(chains: SavedTable): boolean {
  for (const [name, c] of chains) {
    if (name.startsWith(CHAIN_PREFIX)) return true;
    if (c.rules.some((r) => targetOf(r)?.startsWith(CHAIN_PREFIX))) return true;
  }
  return false;
}

export interface ObserveOptions {
  /** read only these families (the legacy poll reads the ones island writes) */
  families?: readonly Family[];
  /** read this backend whatever the file says (`island down` sweeps both) */
  backend?: Backend;
}

export async function observeFirewall(want: DesiredFirewall, opts: ObserveOptions = {}): Promise<LiveFirewall> {
  if (opts.backend) return observeIn(opts.backend, 'swept', want, opts);
  if (!want.enabled) {
    // nothing to write, so no backend to choose: only leftovers to find, in whichever backend they are
    const [nft, legacy] = await Promise.all([
      observeIn('nft', "island's leftovers from an earlier file", want, opts),
      observeIn('legacy', "island's leftovers from an earlier file", want, opts),
    ]);
    // the other backend's leftovers, if both have some, are found again (and removed) by the next pass
    return holdsAny(legacy) && !holdsAny(nft) ? legacy : nft;
  }
  const { backend, why } = await resolveBackend(want.backend);
  return observeIn(backend, why, want, opts);
}

function holdsAny(live: LiveFirewall): boolean {
  return Object.values(live.tables).some((t) => t.ok && holdsIsland(t.chains));
}

async function observeIn(
  backend: Backend,
  why: string,
  want: DesiredFirewall,
  opts: ObserveOptions,
): Promise<LiveFirewall> {
  const families = opts.families ?? FAMILIES;
  const tables: Partial<Record<Family, LiveTable>> = {};
  const now = Date.now();
  await Promise.all(
    families.map(async (family) => {
      const d = want.tables[family];
      const writes = d.chains.length > 0 || d.jump !== undefined;
      const key = `${backend}/${family}`;
      // left out of the result, the family gets not a word from the plan
      if (!writes) {
        if (!opts.backend && now - (cleanAt.get(key) ?? Number.NEGATIVE_INFINITY) < RECHECK_MS) return;
        if (!(await mayHoldIsland(backend, family))) {
          cleanAt.set(key, now);
          return;
        }
      }
      const t = await readTable(backend, family, writes);
      if (!writes && t.ok && !holdsIsland(t.chains)) cleanAt.set(key, now);
      else cleanAt.delete(key);
      tables[family] = t;
    }),
  );
  return { backend, why, tables };
}

/**
 * `-t filter` names the one table island needs, but legacy iptables creates a
 * table it is asked for: where island writes nothing, read all existing
 * tables instead and leave the host as it was.
 */
export async function readTable(backend: Backend, family: Family, writes: boolean): Promise<LiveTable> {
  const prog = program(backend, family, 'save');
  const argv = backend === 'nft' || writes ? [prog, '-t', 'filter'] : [prog];
  try {
    const r = await runTool(argv);
    if (r.code !== 0) return { ok: false, error: complaint(prog, r) };
    return { ok: true, chains: filterTable(r.stdout) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The families island writes rules to. */
export function writtenFamilies(want: DesiredFirewall): Family[] {
  return FAMILIES.filter((f) => want.tables[f].chains.length > 0 || want.tables[f].jump !== undefined);
}
