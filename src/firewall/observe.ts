/** Read island's part of the firewall as it is: one iptables-save of the filter table per family. */
import { resolveBackend } from './backend.js';
import { filterTable } from './save.js';
import { complaint, program, runTool } from './tools.js';
import {
  type Backend,
  type DesiredFirewall,
  FAMILIES,
  type Family,
  type LiveFirewall,
  type LiveTable,
} from './types.js';

export interface ObserveOptions {
  /** read only these families (the legacy poll reads the ones island writes) */
  families?: readonly Family[];
  /** read this backend whatever the file says (`island down` sweeps both) */
  backend?: Backend;
}

export async function observeFirewall(want: DesiredFirewall, opts: ObserveOptions = {}): Promise<LiveFirewall> {
  const { backend, why } = opts.backend ? { backend: opts.backend, why: 'swept' } : await resolveBackend(want.backend);
  const families = opts.families ?? FAMILIES;
  const tables: Partial<Record<Family, LiveTable>> = {};
  await Promise.all(
    families.map(async (family) => {
      const d = want.tables[family];
      tables[family] = await readTable(backend, family, d.chains.length > 0 || d.jump !== undefined);
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
