/** A peer's health in words: the daemon's log lines and `island status` read the same. */
import type { PeerStatus } from './health.js';

/** A round trip in words: "0.42 ms", "12 ms" (island test's too). */
export const ms = (x: number) => (x < 10 ? `${x.toFixed(2)} ms` : `${Math.round(x)} ms`);

export function ago(sinceMs: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - sinceMs) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** "up, rtt 0.42 ms, 0% loss/min, its island hears us", "down: 2 probes in a row unanswered", ... */
export function describePeer(p: PeerStatus, now = Date.now()): string {
  const loss = p.loss === undefined ? '' : `, ${Math.round(p.loss * 100)}% loss/min`;
  const view = peerView(p, now);
  switch (p.state) {
    case 'pending':
      return p.problem ? `waiting: ${p.problem}` : 'waiting for the first probe';
    case 'up':
      return `up, rtt ${p.rttMs === undefined ? '?' : ms(p.rttMs)}${loss}${view}`;
    case 'one-way':
      return `one-way: we hear it, it does not hear us (our probes are lost on the way out)${loss}${view}`;
    case 'down':
      return `down: no answer to ${p.lost && p.sent ? 'the last probes' : 'any probe'}, nothing heard from it${
        p.lastHeard ? ` for ${ago(p.lastHeard, now)}` : ''
      }${loss}${p.problem ? `; ${p.problem}` : ''}${p.waitForPeer ? '; it is behind a NAT: probed only once it speaks' : ''}`;
  }
}

function peerView(p: PeerStatus, now: number): string {
  if (p.answeredBy === 'kernel' && p.state === 'up') return ', no island answers there (its kernel refused the port)';
  const v = p.peerView;
  if (!v || now - v.at > 3 * p.intervalMs + 5000) return '';
  if (v.hears) return ', its island hears us';
  return `, its island does not hear us${v.heardAgoMs === undefined ? '' : ` (for ${ago(now - v.heardAgoMs, now)})`}`;
}

/** A tunnel's path MTU in words, for `island status`, the log and STATUS=. */
export interface PathMtuWords {
  /** ok: the path carries the tunnel's MTU; warning: it does not; pending: not known (yet) */
  state: 'ok' | 'warning' | 'pending';
  /** "path mtu 1380 out, 1380 in (tunnel mtu 1480: too large)" */
  detail: string;
}

export function describePathMtu(p: PeerStatus): PathMtuWords {
  const m = p.pmtu;
  if (!m) return { state: 'pending', detail: 'path mtu not measured' };
  if (m.problem) return { state: 'pending', detail: `path mtu not measured: ${m.problem}` };
  const out = m.belowFloor ? `< ${m.floor}` : m.pathMtu;
  if (out === undefined) {
    const why = m.peerProbes
      ? 'measuring'
      : p.answeredBy === 'kernel'
        ? 'no island answers there (it takes island at both ends)'
        : p.answeredBy === 'island' || p.peerView
          ? "the peer's island is older and does not answer path MTU probes"
          : 'waiting for the peer';
    return { state: 'pending', detail: `path mtu not measured yet: ${why}` };
  }
  const both = m.peerPathMtu === undefined ? `${out}` : `${out} out, ${m.peerPathMtu} in`;
  const tooLarge = m.ceiling !== undefined && (m.belowFloor || (m.pathMtu !== undefined && m.pathMtu < m.ceiling));
  const tunnel = m.ceiling === undefined ? '' : ` (tunnel mtu ${m.ceiling}: ${tooLarge ? 'too large' : 'fits'})`;
  return { state: tooLarge ? 'warning' : 'ok', detail: `path mtu ${both}${tunnel}` };
}
