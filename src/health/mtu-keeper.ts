/**
 * What the path MTU searches make of an mtu = "auto" tunnel: lowered at once to what its path
 * carries; raised again only after a trial. A tunnel's MTU bounds its own probes, so a lowered
 * tunnel cannot see a bigger path from where it is: every re-check interval it goes back to its
 * full auto MTU for one search (the trial) and stays there only if the search carries it.
 * That is the hysteresis: down on the first search that shows less, up only after a trial
 * succeeds, at most once per re-check interval. Pure: the time is passed in.
 */
import type { PmtuStatus } from './pmtu-probe.js';

interface Lowered {
  mtu: number;
  since: number;
  /** the tunnel is at its full auto MTU for a search */
  trial: boolean;
}

export interface MtuChange {
  tunnel: string;
  from: number;
  to: number;
  /** "lowered to what the path carries", "back up: the path carries it again"; none: a trial that failed, quietly undone */
  words?: string;
}

export class MtuKeeper {
  private lowered = new Map<string, Lowered>();

  constructor(private readonly recheckMs: (tunnel: string) => number) {}

  /**
   * What an auto tunnel's search found (called for the peer's figures too). `m.searchedUnder`
   * is the tunnel's MTU the last finished search ran under: a trial's MTU counts only once a
   * search has run under it. Returns the change to announce (and apply), if any.
   */
  onResult(tunnel: string, m: PmtuStatus, now: number): MtuChange | undefined {
    const low = this.lowered.get(tunnel);
    const carried = m.pathMtu;
    const under = m.searchedUnder;
    if (carried === undefined || under === undefined || m.searching) return undefined;
    if (carried >= under) {
      // the whole tunnel MTU crossed: a trial succeeded (or the underlay shrank under the lowered value)
      if (!low?.trial || under <= low.mtu) return undefined;
      this.lowered.delete(tunnel);
      return { tunnel, from: low.mtu, to: under, words: 'back up: the path carries it again' };
    }
    // a result under the lowered MTU's own trial is the trial's; under the lowered MTU, the same as before
    if (low?.trial && under === low.mtu) return undefined;
    this.lowered.set(tunnel, { mtu: carried, since: now, trial: false });
    if (low && low.mtu === carried) return low.trial ? { tunnel, from: under, to: carried } : undefined;
    return { tunnel, from: under, to: carried, words: 'lowered to what the path carries' };
  }

  /**
   * The measured MTU of each lowered tunnel, for the desired state. A tunnel whose re-check is
   * due starts its trial: left out, it goes back to its full auto MTU.
   */
  pathMtus(now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [tunnel, low] of this.lowered) {
      if (!low.trial && now - low.since >= this.recheckMs(tunnel)) low.trial = true;
      if (!low.trial) out.set(tunnel, low.mtu);
    }
    return out;
  }

  /** The lowered tunnels now, trials left out, without starting any (for `island status`). */
  current(): Record<string, number> {
    return Object.fromEntries([...this.lowered].filter(([, l]) => !l.trial).map(([t, l]) => [t, l.mtu]));
  }

  /** The MTU a tunnel is lowered to, if it is. */
  loweredTo(tunnel: string): number | undefined {
    return this.lowered.get(tunnel)?.mtu;
  }

  /** When the next trial is due (ms since the epoch), if any tunnel is lowered. */
  nextTrialAt(): number | undefined {
    const due = [...this.lowered].filter(([, l]) => !l.trial).map(([t, l]) => l.since + this.recheckMs(t));
    return due.length ? Math.min(...due) : undefined;
  }

  /** Tunnels no longer auto (or gone) are forgotten. */
  keep(tunnels: Set<string>): void {
    for (const t of this.lowered.keys()) if (!tunnels.has(t)) this.lowered.delete(t);
  }
}
