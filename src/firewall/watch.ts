/**
 * The daemon's firewall triggers. They only decide *when* the daemon's full pass runs; the
 * periodic resync runs besides.
 *
 * - nftables notifications (a NETLINK_NETFILTER socket, events.ts): with [forward], a change
 *   of the ip/ip6 filter tables (island's chains with iptables-nft) asks for a pass at once. A
 *   change of any other table (an inet filter, firewalld), or of the filter tables without
 *   [forward], asks for one only when what drops island's traffic changed: a look at the
 *   tables concerned (netlink dumps; iptables-nft-save only for a rule not seen before), after a
 *   short quiet spell, compared with the last look.
 * - legacy iptables raises no event: every `poll`, the legacy filter tables that exist are read
 *   (one iptables-legacy-save each); a pass is asked for when island's part there needs a
 *   repair, or when what they drop changed. A host without legacy tables costs one read of
 *   /proc/net/ip_tables_names per poll.
 */
import { resolveBackend } from './backend.js';
import { planFirewall } from './diff.js';
import { isDropFinding } from './drops.js';
import { backendFor } from './iptables.js';
import { FILTER, tablesOf } from './model.js';
import { readNftables } from './nftables.js';
import {
  type Backend,
  type DesiredFirewall,
  FAMILIES,
  type Family,
  type LiveFirewall,
  type LiveTable,
} from './types.js';

export interface FirewallWatch {
  /** how changes are noticed, for the log */
  readonly mode: string;
  close(): void;
}

export interface WatchHandlers {
  /** something of island's may have changed: `reason` names it */
  onChange(reason: string): void;
  onOverflow(): void;
  onError(err: Error): void;
}

/** How long a burst of changes to other tables is let settle before a look. */
const SETTLE_MS = 50;

type Source = 'nftables' | 'iptables-nft' | 'iptables-legacy';
/** island's first object in need of repair, and what drops island's traffic */
interface Look {
  repair?: string;
  drops: string;
}

/** Nothing to watch when the file has no [forward] and no tunnel. */
export async function watchFirewall(want: DesiredFirewall, h: WatchHandlers): Promise<FirewallWatch | undefined> {
  if (!want.enabled && !want.flows.length) return undefined;
  const chosen = want.enabled ? await resolveBackend(want.backend) : undefined;
  const primary: Backend = chosen?.backend ?? 'nft';
  const families = FAMILIES.filter((f) => want.tables[f].chains.length || want.flows.some((x) => x.family === f));

  const noTables = new Map<Source, Look>();
  /** What the source says now: island's first object in need of repair, and what drops island's traffic. */
  async function look(source: Source): Promise<Look> {
    const live: LiveFirewall = { backend: primary, why: '', tables: {} };
    if (source === 'nftables') live.nft = { ok: true, ruleset: await readNftables() };
    else {
      const backend: Backend = source === 'iptables-nft' ? 'nft' : 'legacy';
      const b = backendFor(backend);
      const tables: Partial<Record<Family, LiveTable>> = {};
      for (const f of families)
        if (await b.exists(f))
          tables[f] = await b.read(f, backend === primary ? tablesOf(want.tables[f]) : [FILTER], true);
      if (backend === primary) live.tables = tables;
      else live.other = { backend, tables };
      // no table at all (legacy iptables on most hosts, polled every second): the answer is the
      // one the last such look gave; planning it again was most of the daemon's idle CPU
      if (!Object.keys(tables).length) {
        const known = noTables.get(source) ?? judge(live);
        noTables.set(source, known);
        return known;
      }
    }
    return judge(live);
  }
  function judge(live: LiveFirewall): Look {
    const status = planFirewall(want, live).status;
    const repair = status.find((s) => !isDropFinding(s) && s.state !== 'ok' && s.state !== 'blocked');
    return {
      ...(repair ? { repair: `${repair.object} ${repair.state}` } : {}),
      drops: JSON.stringify(status.filter(isDropFinding)),
    };
  }

  const last = new Map<Source, string>();
  const timers = new Map<Source, NodeJS.Timeout>();
  const busy = new Set<Source>();
  let closed = false;
  /** Look at `source` (once at a time); a pass when island must repair, or what drops changed. */
  const check = (source: Source, why: string, first = false): Promise<void> => {
    if (busy.has(source)) return Promise.resolve();
    busy.add(source);
    return look(source)
      .then((r) => {
        if (closed) return;
        const before = last.get(source);
        last.set(source, r.drops);
        if (first) return;
        if (r.repair) h.onChange(`${why}: ${r.repair}`);
        else if (before !== undefined && before !== r.drops) h.onChange(`${why}: what drops island's traffic changed`);
      })
      .catch((e: unknown) => h.onError(e instanceof Error ? e : new Error(String(e))))
      .finally(() => busy.delete(source));
  };
  const later = (source: Source, why: string) => {
    if (timers.has(source)) return;
    timers.set(
      source,
      setTimeout(() => {
        timers.delete(source);
        void check(source, why);
      }, SETTLE_MS),
    );
  };

  const nftSources: Source[] = ['nftables', ...(want.enabled ? [] : (['iptables-nft'] as Source[]))];
  await Promise.all([...nftSources, 'iptables-legacy' as Source].map((s) => check(s, 'start', true)));
  // nf_tables raises events for every table of every nftables user; legacy iptables is polled
  const events = backendFor('nft').watch;
  if (!events) throw new Error('the nft backend raises no events');
  const src = events(
    (ev) => {
      const what = `nftables ${ev.what}${ev.chain ? ` ${ev.chain}` : ''}`;
      if (ev.scope === 'other') later('nftables', `${what} (table ${ev.table ?? '?'})`);
      // island's chains: the pass reads them itself, at once
      else if (want.enabled) h.onChange(`${what} (ipv${ev.family})`);
      else later('iptables-nft', what);
    },
    h.onOverflow,
    h.onError,
  );
  const timer = setInterval(() => void check('iptables-legacy', 'firewall poll'), want.pollMs);
  const how = chosen ? `${chosen.backend} backend (${chosen.why})` : 'no [forward]: what drops the tunnels';
  return {
    mode: `${how}: nftables events, and legacy iptables read every ${want.pollMs} ms where it has a filter table`,
    close: () => {
      closed = true;
      src.close();
      clearInterval(timer);
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
