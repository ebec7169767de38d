/**
 * The path MTU probes of one peer, on its probe socket: don't-fragment datagrams padded to the
 * size the search asks for, acknowledged by the peer's island with a small datagram. Only a
 * peer that speaks them (its datagrams are 18 bytes or more) is searched: an older island
 * ignores them, which would read as a path that carries nothing.
 */
import type { Socket } from 'node:dgram';
import { setProbeDontFragment } from '../netlink/addon.js';
import { PMTU_FLOOR, PmtuSearch, type PmtuSnapshot } from './pmtu.js';
import { encode, headerBytes, type Packet } from './wire.js';

/** A search sends one probe per probe interval, at least every 5 s: at most 12 a minute, ~15 a search. */
export const searchGapMs = (intervalMs: number) => Math.min(intervalMs, 5000);
/**
 * A finished search is checked again after 30 probe intervals, between 30 s and 10 min (RFC 8899's
 * PMTU_RAISE_TIMER): 5 min at the default 10 s, 1 to 3 datagrams each time.
 */
export const recheckMs = (intervalMs: number) => Math.min(Math.max(30 * intervalMs, 30_000), 600_000);

export interface PmtuStatus extends PmtuSnapshot {
  /** what the peer's island measured towards us (the other direction) */
  peerPathMtu?: number;
  /** the peer speaks path MTU probes */
  peerProbes: boolean;
  /** why this end cannot probe, when it cannot */
  problem?: string;
}

export class PmtuProber {
  readonly search: PmtuSearch;
  private sock?: Socket;
  private seq = 0;
  private timer?: NodeJS.Timeout;
  private peerProbes = false;
  private peerPathMtu?: number;
  private problem?: string;
  private closed = false;

  constructor(
    private readonly family: 4 | 6,
    intervalMs: number,
    timeoutMs: number,
    /** a search finished or the peer's figure changed */
    private readonly onChange: () => void,
  ) {
    const now = Date.now();
    this.search = new PmtuSearch(PMTU_FLOOR[family], searchGapMs(intervalMs), recheckMs(intervalMs), timeoutMs, now);
  }

  /**
   * One timer, set for the search's next step (a probe due, one timing out): an idle tunnel
   * wakes once per re-check, not once a second. Nothing is set until a probe can leave.
   */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || !this.sock || !this.peerProbes || this.problem) return;
    // no tunnel MTU known yet (its link not seen by a pass): nothing to search under
    if (this.search.snapshot().ceiling === undefined) return;
    const ms = Math.max(this.search.wakeAt() - Date.now(), 10);
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref?.();
  }

  /** The probe socket is open: probes must not be fragmented, nor sized by the kernel's cached path MTU. */
  attach(sock: Socket): void {
    this.sock = sock;
    try {
      setProbeDontFragment(sock, this.family);
      this.problem = undefined;
    } catch (e) {
      this.problem = `no path MTU probes: ${(e as Error).message}`;
    }
    this.schedule();
  }

  /** The tunnel's MTU now: the most a probe can be. */
  setCeiling(mtu: number | undefined): void {
    this.search.setCeiling(mtu, Date.now());
    this.schedule();
  }

  /** Search again now (the peer came back: the path may be another). */
  restart(): void {
    this.search.restart(Date.now());
    this.schedule();
  }

  /** Any datagram from the peer: whether it speaks probes, and what it measured towards us. */
  heard(p: Packet): void {
    if (p.pmtu && !this.peerProbes) {
      this.peerProbes = true;
      this.schedule();
    }
    if (p.pmtu && p.pathMtu !== this.peerPathMtu) {
      this.peerPathMtu = p.pathMtu;
      this.onChange();
    }
  }

  /** The path MTU we measured towards the peer, for our datagrams to tell it. */
  get pathMtu(): number | undefined {
    return this.search.snapshot().pathMtu;
  }

  acked(seq: number): void {
    if (!this.search.expects(seq)) return;
    const before = this.search.snapshot();
    this.search.ack(seq, Date.now());
    this.settled(before);
    this.schedule();
  }

  private tick(): void {
    const now = Date.now();
    const before = this.search.snapshot();
    this.search.tick(now);
    this.settled(before);
    const size = this.sock && this.peerProbes && !this.problem ? this.search.due(now) : undefined;
    if (size !== undefined) this.send(size, now);
    this.schedule();
  }

  private send(size: number, now: number): void {
    if (!this.sock) return;
    this.seq = (this.seq + 1) >>> 0;
    this.search.sent(this.seq, size, now);
    const payload = size - headerBytes(this.family);
    // EMSGSIZE (larger than the tunnel now) and any other failure: the probe is lost, the timeout says so
    this.sock.send(encode({ type: 'pmtu', seq: this.seq, hears: true }, payload), () => undefined);
  }

  private settled(before: PmtuSnapshot): void {
    const after = this.search.snapshot();
    if (after.checkedAt !== before.checkedAt) this.onChange();
  }

  status(): PmtuStatus {
    return {
      ...this.search.snapshot(),
      ...(this.peerPathMtu === undefined ? {} : { peerPathMtu: this.peerPathMtu }),
      peerProbes: this.peerProbes,
      ...(this.problem ? { problem: this.problem } : {}),
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.sock = undefined;
  }
}
