/**
 * Every probed peer of the running configuration. A reload keeps the probe (and its history) of
 * a peer whose settings did not change, so a reload does not reset `since` or the loss figures.
 */
import type { DesiredPeer } from '../desired.js';
import type { PmtuStatus } from './pmtu-probe.js';
import { PeerProbe } from './probe.js';
import type { HealthSnapshot, PeerState } from './tracker.js';

export interface PeerStatus extends HealthSnapshot {
  tunnel: string;
  peer: string;
  local: string;
  port: number;
  intervalMs: number;
  keepalive: boolean;
  source: DesiredPeer['source'];
  /** behind a NAT: probed only while heard */
  waitForPeer: boolean;
  /** why probes cannot leave (no socket), when they cannot */
  problem?: string;
  /** the largest packet the tunnel's path carries towards the peer, as last measured */
  pathMtu?: number;
  /** the path MTU search, both directions (the peer's island tells us the other) */
  pmtu?: PmtuStatus;
}

export interface HealthHooks {
  onTransition(p: PeerStatus, from: PeerState): void;
  onProblem(p: DesiredPeer, problem: string | undefined): void;
  /** a path MTU search finished or the peer's figure changed */
  onPathMtu?(p: PeerStatus): void;
}

export class Health {
  private probes = new Map<string, { probe: PeerProbe; last: PeerState }>();
  private mtus = new Map<string, number>();

  constructor(private readonly hooks: HealthHooks) {}

  configure(peers: DesiredPeer[]): void {
    const wanted = new Map(peers.map((p) => [JSON.stringify(p), p]));
    for (const [key, { probe }] of this.probes) {
      if (wanted.has(key)) continue;
      probe.close();
      this.probes.delete(key);
    }
    for (const [key, want] of wanted) {
      if (this.probes.has(key)) continue;
      const entry = {
        probe: new PeerProbe(want, {
          onChange: (p, state) => {
            const from = entry.last;
            entry.last = state;
            this.hooks.onTransition(statusOf(p, Date.now()), from);
          },
          onProblem: (p, problem) => this.hooks.onProblem(p.want, problem),
          onPathMtu: (p) => this.hooks.onPathMtu?.(statusOf(p, Date.now())),
        }),
        last: 'pending' as PeerState,
      };
      this.probes.set(key, entry);
      entry.probe.pmtu.setCeiling(this.mtus.get(want.tunnel));
      entry.probe.start();
    }
  }

  /** The tunnels' MTUs as the last pass saw them: the most a path MTU probe can be. */
  setLinkMtus(mtus: Map<string, number>): void {
    this.mtus = mtus;
    for (const { probe } of this.probes.values()) probe.pmtu.setCeiling(mtus.get(probe.want.tunnel));
  }

  /** After a pass: a tunnel address that has just appeared lets a waiting probe socket open. */
  retry(): void {
    for (const { probe } of this.probes.values()) probe.retry();
  }

  status(now = Date.now()): PeerStatus[] {
    return [...this.probes.values()].map(({ probe }) => statusOf(probe, now));
  }

  /** "1/2 peers up", or undefined when no peer is probed */
  summary(): string | undefined {
    const all = this.status();
    if (!all.length) return undefined;
    return `${all.filter((p) => p.state === 'up').length}/${all.length} peers up`;
  }

  close(): void {
    for (const { probe } of this.probes.values()) probe.close();
    this.probes.clear();
  }
}

function statusOf(p: PeerProbe, now: number): PeerStatus {
  const w = p.want;
  const pmtu = p.pmtu.status();
  return {
    tunnel: w.tunnel,
    peer: w.peer,
    local: w.local,
    port: w.port,
    intervalMs: w.intervalMs,
    keepalive: w.keepalive,
    source: w.source,
    waitForPeer: w.waitForPeer,
    ...(p.problem ? { problem: p.problem } : {}),
    ...p.tracker.snapshot(now),
    ...(pmtu.pathMtu === undefined ? {} : { pathMtu: pmtu.pathMtu }),
    pmtu,
  };
}
