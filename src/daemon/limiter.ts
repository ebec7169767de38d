/**
 * Never fight hot: a token bucket per repaired object. Another process that
 * keeps deleting a link gets a bounded number of repairs (burst, then one per
 * refill interval) instead of a busy loop; Tailscale restores deleted ip rules
 * behind a limiter for the same reason.
 */
export class RepairLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst = 10,
    private readonly refillMs = 200,
    private readonly now: () => number = Date.now,
  ) {}

  private bucket(key: string) {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    const gained = Math.floor((t - b.at) / this.refillMs);
    if (gained > 0) {
      b.tokens = Math.min(this.burst, b.tokens + gained);
      b.at = b.tokens === this.burst ? t : b.at + gained * this.refillMs;
    }
    this.buckets.set(key, b);
    return b;
  }

  /** Whether a repair of `key` may run now; spends a token if so. */
  take(key: string): boolean {
    const b = this.bucket(key);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  /** Milliseconds until `key` may be repaired again (0 = now). */
  waitMs(key: string): number {
    const b = this.bucket(key);
    return b.tokens >= 1 ? 0 : Math.max(0, b.at + this.refillMs - this.now());
  }

  /** Milliseconds until `key` is calm() if nothing repairs it meanwhile. */
  calmInMs(key: string): number {
    const b = this.bucket(key);
    return b.tokens >= this.burst ? 0 : Math.max(0, b.at + (this.burst - b.tokens) * this.refillMs - this.now());
  }

  /** Whether `key` has been left alone long enough to be trusted again. */
  calm(key: string): boolean {
    return this.bucket(key).tokens >= this.burst;
  }
}
