/**
 * Path MTU search over one tunnel (RFC 8899, packetization-layer PMTUD, much reduced): the
 * largest IP packet that crosses the tunnel from us to the peer's island, learnt from
 * don't-fragment probes the peer acknowledges. A lost probe is all a black hole (a hop that
 * drops big packets and the ICMP that would say so) ever shows, so nothing here relies on ICMP.
 * Pure: every method takes the time, so the search is tested without sockets or clocks.
 *
 *   1. probe the ceiling (the tunnel's MTU: the most it could carry); carried: done.
 *   2. else, once a path MTU is known, probe it again (the path often has not changed).
 *   3. else bisect between the largest size carried and the smallest lost, to the byte.
 *
 * A size is lost only when MAX_PROBES probes of it are: one loss is not a smaller path.
 * Probes go one at a time, at most one per `gapMs`; a finished search is checked again (one
 * probe at the ceiling, one at the result if that is lost) every `recheckMs`, and at once
 * after a failure (the peer was down, the tunnel's MTU changed).
 */

/** Probes of one size before it counts as too big (RFC 8899 MAX_PROBES is 3; ours are slower). */
export const MAX_PROBES = 2;
/**
 * The smallest size searched: RFC 8899's BASE_PLPMTU, IPv6's minimum link MTU. A path that
 * does not carry it is reported as smaller than it, not searched further: no tunnel worth
 * keeping runs there, and the bisection stays short.
 */
export const PMTU_FLOOR: Record<4 | 6, number> = { 4: 1200, 6: 1280 };

export interface PmtuSnapshot {
  /** the largest packet (IP header included) the path carried at the last finished search */
  pathMtu?: number;
  /** the path carries less than the floor: pathMtu is then undefined */
  belowFloor?: boolean;
  /** the smallest size searched */
  floor: number;
  /** the tunnel's MTU now: the most the next search can probe */
  ceiling?: number;
  /** the tunnel's MTU the last finished search ran under: pathMtu === searchedUnder says "at least this" */
  searchedUnder?: number;
  /** when the last search finished (ms since the epoch) */
  checkedAt?: number;
  /** a search is under way */
  searching: boolean;
  /** what the search has cost since the start: probes sent and their bytes (IP packets) */
  probes: number;
  bytes: number;
}

interface Pending {
  seq: number;
  size: number;
  sentAt: number;
}

export class PmtuSearch {
  private ceiling?: number;
  private result?: number;
  private belowFloor = false;
  private checkedAt?: number;
  private searchedUnder?: number;
  private searching = false;
  /** largest size carried in this search, smallest size lost (undefined: none yet) */
  private lo?: number;
  private hi?: number;
  /** losses of the size probed now */
  private losses = 0;
  private candidate?: number;
  /** the size a re-check probes after the ceiling: carried, the search ends there */
  private recheck?: number;
  private pending?: Pending;
  private nextAt: number;
  private probes = 0;
  private bytes = 0;

  constructor(
    readonly floor: number,
    readonly gapMs: number,
    readonly recheckMs: number,
    readonly timeoutMs: number,
    now: number,
  ) {
    this.nextAt = now;
  }

  /** The tunnel's MTU now; a change starts a new search (a smaller one cannot be probed past). */
  setCeiling(mtu: number | undefined, now: number): void {
    if (mtu === this.ceiling) return;
    this.ceiling = mtu;
    this.restart(now);
  }

  /** Search again now: the peer came back, the tunnel changed. */
  restart(now: number): void {
    this.searching = false;
    this.pending = undefined;
    this.nextAt = Math.min(this.nextAt, now);
  }

  /** The probe to send now (its size), or undefined: not due, one is out, or nothing to search. */
  due(now: number): number | undefined {
    if (this.pending || this.ceiling === undefined || now < this.nextAt) return undefined;
    if (!this.searching) {
      this.searching = true;
      this.lo = undefined;
      this.hi = undefined;
      this.losses = 0;
      this.recheck = undefined;
      this.candidate = this.ceiling;
    }
    return this.candidate;
  }

  sent(seq: number, size: number, now: number): void {
    this.pending = { seq, size, sentAt: now };
    this.probes++;
    this.bytes += size;
  }

  /** The peer's island acknowledged probe `seq`. */
  ack(seq: number, now: number): void {
    const p = this.pending;
    if (!p || p.seq !== seq) return;
    this.pending = undefined;
    this.lo = Math.max(this.lo ?? 0, p.size);
    this.losses = 0;
    this.step(now);
  }

  /** An unacknowledged probe is lost once older than the timeout. */
  tick(now: number): void {
    const p = this.pending;
    if (!p || now - p.sentAt < this.timeoutMs) return;
    this.pending = undefined;
    if (++this.losses < MAX_PROBES) {
      this.nextAt = now + this.gapMs;
      return;
    }
    this.losses = 0;
    this.hi = Math.min(this.hi ?? Number.POSITIVE_INFINITY, p.size);
    this.step(now);
  }

  /** After a size is settled: the next candidate, or the end of the search. */
  private step(now: number): void {
    const ceiling = this.ceiling as number;
    const { lo, hi } = this;
    this.nextAt = now + this.gapMs;
    if (lo !== undefined && (lo >= ceiling || (hi !== undefined && hi - lo <= 1))) {
      this.finish(lo, now);
      return;
    }
    if (hi !== undefined && hi <= this.floor) {
      this.finish(undefined, now);
      return;
    }
    // a re-check: the last result next, and carried, it stands (a path that grew, but not to
    // the ceiling, is found by the next search from scratch, not by bisecting at every re-check)
    const last = this.result;
    if (lo === undefined && last !== undefined && last < (hi ?? ceiling)) {
      this.candidate = last;
      this.recheck = last;
      return;
    }
    if (lo !== undefined && lo === this.recheck) {
      this.finish(lo, now);
      return;
    }
    const low = lo ?? this.floor - 1;
    const high = hi ?? ceiling + 1;
    // the floor itself before bisecting below a known-good size
    this.candidate = lo === undefined && last === undefined ? this.floor : Math.floor((low + high) / 2);
    if (this.candidate <= low) this.candidate = low + 1;
  }

  private finish(mtu: number | undefined, now: number): void {
    this.searching = false;
    this.result = mtu;
    this.searchedUnder = this.ceiling;
    this.belowFloor = mtu === undefined;
    this.checkedAt = now;
    this.nextAt = now + this.recheckMs;
  }

  /** When something is next to do: the probe out times out, or the next one is due. */
  wakeAt(): number {
    return this.pending ? this.pending.sentAt + this.timeoutMs : this.nextAt;
  }

  /** Whether a datagram of `seq` is the probe out now (an ack for another is stale). */
  expects(seq: number): boolean {
    return this.pending?.seq === seq;
  }

  snapshot(): PmtuSnapshot {
    return {
      ...(this.result === undefined ? {} : { pathMtu: this.result }),
      ...(this.belowFloor ? { belowFloor: true } : {}),
      floor: this.floor,
      ...(this.ceiling === undefined ? {} : { ceiling: this.ceiling }),
      ...(this.searchedUnder === undefined ? {} : { searchedUnder: this.searchedUnder }),
      ...(this.checkedAt === undefined ? {} : { checkedAt: this.checkedAt }),
      searching: this.searching,
      probes: this.probes,
      bytes: this.bytes,
    };
  }
}
