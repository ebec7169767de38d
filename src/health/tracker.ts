/**
 * What island knows about one peer, from its own probes and from what the peer sends: pure,
 * every method takes the time, so the state machine is tested without sockets or clocks.
 *
 *   pending   no probe has been answered or lost yet
 *   up        the last probe, or the one before it, was answered (by the peer's island or by its
 *             kernel refusing the port: either proves the path)
 *   one-way   our last probes were lost, but the peer's own probes arrived since the first of
 *             them was sent: the path works towards us only (they say whether it hears us)
 *   down      our last probes were lost and nothing arrived from the peer since
 */

export type PeerState = 'pending' | 'up' | 'one-way' | 'down';

/** How many probes in a row must be lost before the peer is down: one loss is not an outage. */
export const LOST_IN_A_ROW = 2;
/** Loss and round-trip times are reported over this window. */
export const WINDOW_MS = 60_000;

export interface PeerView {
  /** the peer hears us */
  hears: boolean;
  /** ms since the peer last heard us, as the peer measured it */
  heardAgoMs?: number;
  /** the peer's own probe interval */
  intervalMs?: number;
  /** when we learnt it */
  at: number;
}

export interface HealthSnapshot {
  state: PeerState;
  /** when the state last changed (ms since the epoch) */
  since: number;
  /** round-trip time of the last answered probe */
  rttMs?: number;
  /** mean round-trip time over the last minute */
  rttAvgMs?: number;
  /** lost / resolved probes over the last minute, 0..1; undefined before the first result */
  loss?: number;
  sent: number;
  answered: number;
  lost: number;
  /** what answered the last probe: the peer's island, or its kernel (port unreachable: no island there) */
  answeredBy?: 'island' | 'kernel';
  /** the peer's own view, when it runs island */
  peerView?: PeerView;
  /** last time anything came from the peer (ms since the epoch) */
  lastHeard?: number;
}

interface Outstanding {
  seq: number;
  sentAt: number;
  /** an early probe (probe.ts): counts when answered, not when lost */
  early?: boolean;
}

interface Result {
  at: number;
  rttMs?: number;
}

export class PeerTracker {
  private outstanding: Outstanding[] = [];
  private results: Result[] = [];
  private lostStreak = 0;
  /** when the first probe of the current run of losses was sent */
  private streakStart?: number;
  private resolvedAny = false;
  /** an answer came, on time or late: only that makes a peer up */
  private everAnswered = false;
  private state: PeerState = 'pending';
  private since: number;
  private lastRtt?: number;
  private sent = 0;
  private answered = 0;
  private lost = 0;
  private answeredBy?: 'island' | 'kernel';
  private peerView?: PeerView;
  private lastHeard?: number;

  constructor(
    readonly intervalMs: number,
    readonly timeoutMs: number,
    now: number,
  ) {
    this.since = now;
  }

  /**
   * `early`: a probe sent between the regular ones while the peer's island has not been heard yet
   * (probe.ts); its answer counts like any other, its loss does not, so the peer goes down
   * after as many regular intervals as ever, not after a few early probes lost at a start.
   */
  onSent(seq: number, now: number, early = false): void {
    this.sent++;
    this.outstanding.push({ seq, sentAt: now, ...(early ? { early } : {}) });
  }

  /** A reply from the peer's island (seq echoed) or an ICMP port unreachable (no seq: the oldest probe). */
  onAnswer(seq: number | undefined, now: number, view?: Omit<PeerView, 'at'>): PeerState | undefined {
    const i = seq === undefined ? 0 : this.outstanding.findIndex((o) => o.seq === seq);
    const probe = this.outstanding[i];
    this.lastHeard = now;
    if (view) this.peerView = { ...view, at: now };
    this.answeredBy = view ? 'island' : 'kernel';
    this.everAnswered = true;
    // a late answer to a probe already counted lost still proves the path now
    if (!probe) return this.settle(now, { resolvedAnswer: true });
    this.outstanding.splice(i, 1);
    const rtt = now - probe.sentAt;
    this.lastRtt = rtt;
    this.answered++;
    this.results.push({ at: now, rttMs: rtt });
    return this.settle(now, { resolvedAnswer: true });
  }

  /** A probe from the peer: it is alive and sends towards us. */
  onPeerProbe(now: number, view: Omit<PeerView, 'at'>): PeerState | undefined {
    this.lastHeard = now;
    this.peerView = { ...view, at: now };
    return this.settle(now, {});
  }

  /** Probes older than the timeout are lost. Returns the new state when it changed. */
  tick(now: number): PeerState | undefined {
    while (this.outstanding[0] && now - this.outstanding[0].sentAt >= this.timeoutMs) {
      const probe = this.outstanding.shift() as Outstanding;
      if (probe.early) continue;
      this.lost++;
      if (this.lostStreak++ === 0) this.streakStart = probe.sentAt;
      this.resolvedAny = true;
      this.results.push({ at: now });
    }
    return this.settle(now, {});
  }

  /** Whether we heard the peer recently enough (for its own probe interval) to say we hear it. */
  hearsPeer(now: number): boolean {
    const every = this.peerView?.intervalMs ?? this.intervalMs;
    return this.lastHeard !== undefined && now - this.lastHeard <= LOST_IN_A_ROW * every + this.timeoutMs;
  }

  private settle(now: number, ev: { resolvedAnswer?: boolean }): PeerState | undefined {
    if (ev.resolvedAnswer) {
      this.lostStreak = 0;
      this.streakStart = undefined;
      this.resolvedAny = true;
    }
    while (this.results[0] && now - this.results[0].at > WINDOW_MS) this.results.shift();
    let next: PeerState;
    if (!this.resolvedAny) next = 'pending';
    // a few losses in a row do not make a peer down, but only an answer makes it up
    // (a late answer, to a probe already counted lost, is an answer: the path works now)
    else if (this.lostStreak < LOST_IN_A_ROW) next = this.everAnswered ? 'up' : 'pending';
    // what arrived before our probes started to get lost says nothing about the path now
    else if (this.hearsPeer(now) && (this.lastHeard ?? 0) > (this.streakStart ?? 0)) next = 'one-way';
    else next = 'down';
    if (next === this.state) return undefined;
    this.state = next;
    this.since = now;
    return next;
  }

  snapshot(now: number): HealthSnapshot {
    while (this.results[0] && now - this.results[0].at > WINDOW_MS) this.results.shift();
    const rtts = this.results.map((r) => r.rttMs).filter((x): x is number => x !== undefined);
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      state: this.state,
      since: this.since,
      ...(this.lastRtt === undefined ? {} : { rttMs: round(this.lastRtt) }),
      ...(rtts.length ? { rttAvgMs: round(rtts.reduce((a, b) => a + b, 0) / rtts.length) } : {}),
      ...(this.results.length ? { loss: round((this.results.length - rtts.length) / this.results.length) } : {}),
      sent: this.sent,
      answered: this.answered,
      lost: this.lost,
      ...(this.answeredBy ? { answeredBy: this.answeredBy } : {}),
      ...(this.peerView ? { peerView: this.peerView } : {}),
      ...(this.lastHeard === undefined ? {} : { lastHeard: this.lastHeard }),
    };
  }
}
