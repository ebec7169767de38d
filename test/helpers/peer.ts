/** A peer's health as the daemon reports it, for tests of what is drawn or exported from it. */
import type { PeerStatus } from '../../src/health/health.js';
import type { PmtuStatus } from '../../src/health/pmtu-probe.js';

/** The lab's faraday end of vx0, probing sopnode-l1 (10.3.1.2) with keepalive; `o` overrides. */
export const peerStatus = (o: Partial<PeerStatus>): PeerStatus =>
  ({
    tunnel: 'vx0',
    peer: '10.3.1.2',
    local: '10.3.1.3',
    port: 5534,
    intervalMs: 25_000,
    keepalive: true,
    waitForPeer: false,
    source: 'derived',
    state: 'up',
    since: 0,
    ...o,
  }) as PeerStatus;

/** A finished path MTU search on a 1450 tunnel: 1350 carried each way; `o` overrides. */
export const pmtuStatus = (o: Partial<PmtuStatus> = {}): PmtuStatus =>
  ({
    pathMtu: 1350,
    peerPathMtu: 1350,
    ceiling: 1450,
    floor: 1200,
    searching: false,
    probes: 15,
    bytes: 20355,
    peerProbes: true,
    ...o,
  }) as PmtuStatus;
