/**
 * One peer's probe socket: UDP, bound to the tunnel's own inner address and connected to the
 * peer's, on the health port at both ends. Every datagram crosses the tunnel, so it also keeps
 * the NAT's mapping alive (the keepalive is this probe, nothing more), and it needs no
 * privilege. A connected socket only receives from its peer, and Linux reports the peer
 * kernel's ICMP port unreachable on it as ECONNREFUSED: a host without island still proves the
 * path.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { DesiredPeer } from '../desired.js';
import { PmtuProber } from './pmtu-probe.js';
import { type PeerState, PeerTracker } from './tracker.js';
import { decode, encode } from './wire.js';

/**
 * A probe unanswered this long is lost: half the interval (so two losses in a row are known
 * within 2.5 intervals of a cut), at most 2 s, which is more than any terrestrial round trip.
 */
export function timeoutFor(intervalMs: number): number {
  return Math.min(intervalMs / 2, 2000);
}

/**
 * Until the peer's island is first heard, early probes go between the regular ones: 0.2, 0.4,
 * 0.8 s... apart, doubling up to the interval (at 25 s: 6 more datagrams, at 10 s: 5). A first
 * probe that finds no island yet (its tunnel not up, its daemon not listening: both ends started
 * together) would otherwise leave the peer pending for a whole interval, and a peer that waits
 * for us to speak first (behind-NAT rule) would hear nothing for as long.
 */
export const EARLY_FIRST_MS = 200;

/** When the early probes go, in ms after the socket opens: 200, 600, 1400... while below the interval. */
export function earlyDelays(intervalMs: number): number[] {
  const out: number[] = [];
  for (let gap = EARLY_FIRST_MS, at = gap; at < intervalMs; gap *= 2, at += gap) out.push(gap);
  return out;
}

export interface ProbeEvents {
  /** the state changed */
  onChange(p: PeerProbe, state: PeerState): void;
  /** the socket could not be opened or failed (logged by the caller once per distinct message) */
  onProblem(p: PeerProbe, problem: string | undefined): void;
  /** a path MTU search finished, or the peer's own figure changed */
  onPathMtu?(p: PeerProbe): void;
}

export class PeerProbe {
  readonly tracker: PeerTracker;
  readonly pmtu: PmtuProber;
  private sock?: Socket;
  private opening = false;
  private closed = false;
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private checks = new Set<NodeJS.Timeout>();
  /** the peer's island answered or probed us since the socket opened (or since it last went away) */
  private islandHeard = false;
  private early?: NodeJS.Timeout;
  /** why the socket is not open, when it is not */
  problem?: string;

  constructor(
    readonly want: DesiredPeer,
    private readonly ev: ProbeEvents,
  ) {
    this.tracker = new PeerTracker(want.intervalMs, timeoutFor(want.intervalMs), Date.now());
    this.pmtu = new PmtuProber(want.family, want.intervalMs, timeoutFor(want.intervalMs), () => ev.onPathMtu?.(this));
  }

  /** Starts probing; the socket opens now or at the next interval (the address may not exist yet). */
  start(): void {
    // the first probe as soon as the socket is open, then one per interval
    void this.open().then(() => this.sock && this.probe());
    this.timer = setInterval(() => this.probe(), this.want.intervalMs);
  }

  /** Retry opening now: called after a pass, when the tunnel's address may have just appeared. */
  retry(): void {
    if (!this.sock && !this.opening && !this.closed) void this.open().then(() => this.sock && this.probe());
  }

  private async open(): Promise<void> {
    if (this.sock || this.opening || this.closed) return;
    this.opening = true;
    const w = this.want;
    const sock = createSocket({ type: w.family === 6 ? 'udp6' : 'udp4' });
    sock.on('message', (msg) => this.onMessage(msg));
    try {
      await new Promise<void>((res, rej) => {
        sock.once('error', rej);
        sock.bind({ address: w.local, port: w.port, exclusive: true }, () => {
          sock.off('error', rej);
          res();
        });
      });
      await new Promise<void>((res, rej) => {
        sock.once('error', rej);
        sock.connect(w.port, w.peer, () => {
          sock.off('error', rej);
          res();
        });
      });
    } catch (e) {
      sock.close();
      this.opening = false;
      this.setProblem(openProblem(e as NodeJS.ErrnoException, w));
      return;
    }
    sock.on('error', (e: NodeJS.ErrnoException) => this.onError(e));
    this.opening = false;
    if (this.closed) {
      sock.close();
      return;
    }
    this.sock = sock;
    this.pmtu.attach(sock);
    this.setProblem(undefined);
    this.probeEarly(earlyDelays(w.intervalMs));
  }

  /** The early probes (EARLY_FIRST_MS), until the peer's island is heard. */
  private probeEarly(gaps: number[]): void {
    clearTimeout(this.early);
    const [gap, ...rest] = gaps;
    if (gap === undefined) return;
    this.early = setTimeout(() => {
      if (this.closed || this.islandHeard) return;
      if (!this.silent(Date.now())) this.probe(true);
      this.probeEarly(rest);
    }, gap);
  }

  /** The peer's island, heard before, has stopped: early probes again, to hear its return at once. */
  private islandGone(): void {
    if (!this.islandHeard) return;
    this.islandHeard = false;
    this.probeEarly(earlyDelays(this.want.intervalMs));
  }

  private setProblem(problem: string | undefined): void {
    if (problem === this.problem) return;
    this.problem = problem;
    this.ev.onProblem(this, problem);
  }

  private probe(early = false): void {
    if (this.closed) return;
    const now = Date.now();
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    this.tracker.onSent(seq, now, early);
    if (!this.sock) {
      void this.open();
    } else if (!this.silent(now)) {
      this.send({ type: 'probe', seq, ...this.view(now) });
    }
    // a probe that cannot even leave (no socket, no route, a silent NAT peer) is lost like any other
    const check = setTimeout(() => {
      this.checks.delete(check);
      this.changed(this.tracker.tick(Date.now()));
    }, this.tracker.timeoutMs);
    this.checks.add(check);
  }

  /**
   * Towards a peer behind a NAT, nothing is sent until the peer has been heard (replies excepted,
   * they follow its packet through the mapping it just refreshed): a probe that reaches the NAT
   * first leaves an entry there that makes MASQUERADE move or drop the peer's own mapping.
   */
  private silent(now: number): boolean {
    return this.want.waitForPeer && !this.tracker.hearsPeer(now);
  }

  private view(now: number): { hears: boolean; heardAgoMs?: number; intervalMs: number } {
    const s = this.tracker.snapshot(now);
    return {
      intervalMs: this.want.intervalMs,
      hears: this.tracker.hearsPeer(now),
      ...(s.lastHeard === undefined ? {} : { heardAgoMs: now - s.lastHeard }),
    };
  }

  private send(p: Parameters<typeof encode>[0]): void {
    const pathMtu = this.pmtu.pathMtu;
    this.sock?.send(encode(pathMtu === undefined ? p : { ...p, pathMtu }), (err) => {
      // ECONNREFUSED can surface on a send as well as on a receive
      if (err) this.onError(err as NodeJS.ErrnoException);
    });
  }

  private onMessage(msg: Buffer): void {
    const p = decode(msg);
    if (!p) return;
    // the peer's island stops (a restart, an upgrade): probe early again, to hear its return at once
    if (p.type === 'bye') {
      this.islandGone();
      return;
    }
    this.pmtu.heard(p);
    if (p.type === 'pmtu-ack') {
      this.pmtu.acked(p.seq);
      return;
    }
    // a path MTU probe arrived whole: say so, small (the other direction is the peer's own search)
    if (p.type === 'pmtu') {
      this.send({ type: 'pmtu-ack', seq: p.seq, hears: true });
      return;
    }
    const first = !this.islandHeard;
    this.islandHeard = true;
    const now = Date.now();
    const view = {
      hears: p.hears,
      ...(p.heardAgoMs === undefined ? {} : { heardAgoMs: p.heardAgoMs }),
      ...(p.intervalMs === undefined ? {} : { intervalMs: p.intervalMs }),
    };
    if (p.type === 'reply') {
      this.changed(this.tracker.onAnswer(p.seq, now, view));
      return;
    }
    const wasSilent = this.silent(now);
    this.changed(this.tracker.onPeerProbe(now, view));
    this.send({ type: 'reply', seq: p.seq, ...this.view(now) });
    // measure the path at once rather than at the next interval: the mapping is open now; or the
    // peer's island is heard for the first time, so what we know of it is from before it ran
    // (both ends started together: our last answer its kernel's refusal, early probes stopped)
    if (wasSilent || first) this.probe();
  }

  private onError(e: NodeJS.ErrnoException): void {
    if (e.code === 'ECONNREFUSED') {
      // the peer's kernel answered: the path works, no island listens there. If one did, it has
      // stopped: probe early again so that its return is seen within about as long as it was away
      this.islandGone();
      this.changed(this.tracker.onAnswer(undefined, Date.now()));
      return;
    }
    // EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL...: the probe is lost; the timeout counts it
  }

  private changed(state: PeerState | undefined): void {
    if (state === undefined) return;
    // the peer is back: the path may not be the one searched before
    if (state === 'up') this.pmtu.restart();
    this.ev.onChange(this, state);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.early);
    this.pmtu.close();
    for (const c of this.checks) clearTimeout(c);
    this.checks.clear();
    const sock = this.sock;
    this.sock = undefined;
    if (!sock) return;
    // say goodbye to an island that hears us (never unasked towards a NAT), so that it probes
    // early for our return rather than at its next interval: the public end's restart
    if (!this.islandHeard || this.silent(Date.now())) return void sock.close();
    sock.send(encode({ type: 'bye', seq: this.seq, hears: true, intervalMs: this.want.intervalMs }), () =>
      sock.close(),
    );
  }
}

function openProblem(e: NodeJS.ErrnoException, w: DesiredPeer): string {
  const where = `${w.family === 6 ? `[${w.local}]` : w.local}:${w.port}`;
  switch (e.code) {
    case 'EADDRNOTAVAIL':
      return `${w.local} is not on ${w.tunnel} yet: probes wait for it`;
    case 'EADDRINUSE':
      return `UDP ${where} is in use by another socket: set [daemon] health_port to a free port (the same on both ends)`;
    default:
      return `cannot open the probe socket on ${where}: ${e.code ?? e.message}`;
  }
}
