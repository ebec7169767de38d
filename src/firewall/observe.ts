/**
 * Read island's part of the firewall and what surrounds it: island's tables (model.ts) per
 * family and backend that matters, and the other nftables tables on the input and forward
 * hooks (one netlink dump, nftables.ts).
 */
import { FIREWALL_RECHECK_MS } from '../config/defaults.js';
import { forgetDetectedBackend, resolveBackend } from './backend.js';
import { backendFor } from './iptables.js';
import { forgetIptablesNftWords } from './iptables-nft.js';
import { FILTER, savedOf, TABLES, tablesOf } from './model.js';
import { readNftables } from './nftables.js';
import { targetOf } from './save.js';
import {
  type Backend,
  CHAIN_PREFIX,
  type DesiredFirewall,
  FAMILIES,
  type Family,
  type LiveFirewall,
  type LiveTable,
} from './types.js';

/**
 * A family island writes nothing to (IPv6 in an IPv4-only file; both without
 * [forward]) can only hold island's leftovers after the file changed, or after
 * someone restored a ruleset saved while they were there. It is read with
 * iptables-save only when a cheap look (leftovers.ts, no program) cannot rule
 * them out; once found clean it is looked at again at most every
 * FIREWALL_RECHECK_MS (the default resync period), and at once after forgetFirewallReads() (a
 * reload). Families island writes are read on every pass, and so is every
 * existing filter table whose rules may drop island's traffic (a family with
 * a tunnel, or forwarded traffic): what they drop is said in status.
 */
const cleanAt = new Map<string, number>();
const LEFTOVERS = "island's leftovers from an earlier file";

/** The configuration changed: read every family again, and detect the backend again. */
export function forgetFirewallReads(): void {
  cleanAt.clear();
  forgetDetectedBackend();
  forgetIptablesNftWords();
}

function holdsIsland(live: Extract<LiveTable, { ok: true }>): boolean {
  for (const table of TABLES)
    for (const [name, c] of savedOf(live, table)) {
      if (name.startsWith(CHAIN_PREFIX)) return true;
      if (c.rules.some((r) => targetOf(r)?.startsWith(CHAIN_PREFIX))) return true;
    }
  return false;
}

export interface ObserveOptions {
  /** read this backend only, whatever the file says (`island down` sweeps both, one at a time) */
  backend?: Backend;
}

export async function observeFirewall(want: DesiredFirewall, opts: ObserveOptions = {}): Promise<LiveFirewall> {
  if (opts.backend) return observeIn(opts.backend, 'swept', want, { sweep: true });
  const nft = want.flows.length ? readNft() : undefined;
  let main: LiveFirewall;
  let other: LiveFirewall;
  if (!want.enabled) {
    // nothing to write, so no backend to choose: leftovers to find, in whichever backend they are
    const [n, l] = await Promise.all([observeIn('nft', LEFTOVERS, want), observeIn('legacy', LEFTOVERS, want)]);
    [main, other] = holdsAny(l) && !holdsAny(n) ? [l, n] : [n, l];
  } else {
    const { backend, why } = await resolveBackend(want.backend);
    [main, other] = await Promise.all([
      observeIn(backend, why, want),
      observeIn(backend === 'nft' ? 'legacy' : 'nft', why, want, { secondary: true }),
    ]);
  }
  return {
    ...main,
    ...(Object.keys(other.tables).length ? { other: { backend: other.backend, tables: other.tables } } : {}),
    ...(nft ? { nft: await nft } : {}),
  };
}

async function readNft(): Promise<NonNullable<LiveFirewall['nft']>> {
  try {
    return { ok: true, ruleset: await readNftables() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // no nf_tables in this kernel: no table of it can drop anything
    if (code === 'EPROTONOSUPPORT' || code === 'EOPNOTSUPP' || code === 'ENOENT')
      return { ok: true, ruleset: { tables: [] } };
    const msg = (e as Error).message;
    if (code === 'EPERM' || /\bEPERM\b/.test(msg))
      return { ok: false, error: 'permission denied (island needs root or CAP_NET_ADMIN)' };
    return { ok: false, error: msg };
  }
}

function holdsAny(live: LiveFirewall): boolean {
  return Object.values(live.tables).some((t) => t.ok && holdsIsland(t));
}

async function observeIn(
  backend: Backend,
  why: string,
  want: DesiredFirewall,
  o: { sweep?: boolean; secondary?: boolean } = {},
): Promise<LiveFirewall> {
  const tables: Partial<Record<Family, LiveTable>> = {};
  const now = Date.now();
  const b = backendFor(backend);
  await Promise.all(
    FAMILIES.map(async (family) => {
      const writes = !o.secondary && !o.sweep && want.tables[family].chains.length > 0;
      if (writes) {
        tables[family] = await b.read(family, tablesOf(want.tables[family]), true);
        return;
      }
      // whatever this table holds may drop the island's traffic of this family
      const matters = !o.sweep && want.flows.some((f) => f.family === family);
      if (matters && (await b.exists(family))) {
        tables[family] = await b.read(family, [FILTER], true);
        return;
      }
      // left out of the result, the family gets not a word from the plan
      const key = `${backend}/${family}`;
      if (!o.sweep && now - (cleanAt.get(key) ?? Number.NEGATIVE_INFINITY) < FIREWALL_RECHECK_MS) return;
      if (!(await b.mayHoldIsland(family))) {
        cleanAt.set(key, now);
        return;
      }
      // leftovers may be in any table island keeps
      const t = await b.read(family, TABLES, false);
      if (t.ok && !holdsIsland(t)) cleanAt.set(key, now);
      else cleanAt.delete(key);
      tables[family] = t;
    }),
  );
  return { backend, why, tables };
}

/** The families island writes rules to. */
export function writtenFamilies(want: DesiredFirewall): Family[] {
  return FAMILIES.filter((f) => want.tables[f].chains.length > 0);
}
