/**
 * Never fight hot: a token bucket per repaired object. Another process that
 * keeps deleting a link gets a bounded number of repairs instead of a busy
 * loop; Tailscale restores deleted ip rules behind a limiter for the same
 * reason.
 *
 * An object repaired now and then has a burst of repairs to spend (a reload
 * that touches it twice, an admin's two quick edits). Once its bucket runs
 * dry, it is in a fight, and a fight is paced: one repair per refill interval
 * counted from the last one, whatever the other side does meanwhile. A plain
 * token bucket would let tokens pile up during any pause of the other side
 * and pay them out as a new burst (repairs in bursts of ~10 with gaps, in
 * measurements). The fight ends when the object was left alone for as long
 * as refilling the whole burst takes; then the burst is back.
 */
export class RepairLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst = 10,
    private readonly refillMs = 200,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long an object must be left alone for its fight to end: the time to refill the burst. */
  get calmMs(): number {
    return this.burst * this.refillMs;
  }

  private bucket(key: string): Bucket {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = {
        tokens: this.burst,
        at: t,
        fighting: false,
        last: Number.NEGATIVE_INFINITY,
        prev: Number.NEGATIVE_INFINITY,
      };
      this.buckets.set(key, b);
    }
    if (b.fighting) {
      if (t - b.last >= this.calmMs) Object.assign(b, { fighting: false, tokens: this.burst, at: t });
      return b;
    }
    const gained = Math.floor((t - b.at) / this.refillMs);
    if (gained > 0) {
      b.tokens = Math.min(this.burst, b.tokens + gained);
      b.at = b.tokens === this.burst ? t : b.at + gained * this.refillMs;
    }
    return b;
  }

  /** Whether a repair of `key` may run now; spends a token (or, in a fight, its turn) if so. */
  take(key: string): boolean {
    const b = this.bucket(key);
    const t = this.now();
    if (b.fighting) {
      const slot = b.last + this.refillMs;
      if (t < slot) return false;
      // on the grid of slots: a repair that comes a little late (its pass took time to read the
      // host) does not push every later one back; after a pause, the grid starts again
      b.prev = b.last;
      b.last = t - slot < this.refillMs ? slot : t;
      return true;
    }
    if (b.tokens < 1) {
      // the burst is spent: from now on, one repair per interval after the last one
      b.fighting = true;
      return false;
    }
    b.tokens--;
    b.prev = b.last;
    b.last = t;
    return true;
  }

  /** Milliseconds until `key` may be repaired again (0 = now). */
  waitMs(key: string): number {
    const b = this.bucket(key);
    if (b.fighting) return Math.max(0, b.last + this.refillMs - this.now());
    return b.tokens >= 1 ? 0 : Math.max(0, b.at + this.refillMs - this.now());
  }

  /** Milliseconds until `key` is calm() if nothing repairs it meanwhile. */
  calmInMs(key: string): number {
    const b = this.bucket(key);
    if (b.fighting) return Math.max(0, b.last + this.calmMs - this.now());
    return b.tokens >= this.burst ? 0 : Math.max(0, b.at + (this.burst - b.tokens) * this.refillMs - this.now());
  }

  /** Whether `key` has been left alone long enough to be trusted again. */
  calm(key: string): boolean {
    const b = this.bucket(key);
    return !b.fighting && b.tokens >= this.burst;
  }

  /**
   * Whether `key` is being fought over: paced, or its last repair came within calmMs of the one
   * before, and not calmMs ago. A repair of such an object that fails because the object
   * changed under it is a lost race, not news.
   */
  contested(key: string): boolean {
    const b = this.bucket(key);
    return b.fighting || (b.last - b.prev < this.calmMs && this.now() - b.last < this.calmMs);
  }
}

interface Bucket {
  tokens: number;
  /** when tokens were last counted */
  at: number;
  /** the burst is spent: repairs are paced until the object is left alone for calmMs */
  fighting: boolean;
  /** when the last repair was allowed (in a fight: its slot) */
  last: number;
  /** when the one before it was */
  prev: number;
}
