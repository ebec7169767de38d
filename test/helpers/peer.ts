/** A peer's health as the daemon reports it, for tests of what is drawn or exported from it. */
import type { PeerStatus } from '../../src/health/health.js';

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
