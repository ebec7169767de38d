/**
 * Tunnels across a NAT:
 *
 * - the end behind the NAT must keep the NAT's mapping open (keepalive): Linux forgets an idle
 *   UDP mapping after 30 s unreplied, 120 s replied, and then the far end cannot reach in;
 * - a VXLAN across a MASQUERADE NAT whose inside LAN is a Linux bridge carries ping but no TCP
 *   while its TX checksum offload is on (README, "The file"); island keeps it off unless the
 *   file says tx_checksum_offload = true.
 *
 * A one-file island says which end is behind a NAT ([[host]] public); a per-host file is read
 * as `island check` reads it: a private local address and a public remote probably cross one.
 */

import { msText, NAT_KEEPALIVE_MS } from '../config/defaults.js';
import type { Config, TunnelConfig } from '../config/types.js';
import { isPrivate, isPublic } from '../health/target.js';
import { kindOf } from '../kinds/index.js';
import type { DoctorFacts, Finding } from './types.js';

interface Crossing {
  /** this end is the one behind the NAT */
  behind: boolean;
  /** the file says so ([[host]] public), rather than the addresses suggest it */
  certain: boolean;
}

/** `guessed`: the addresses' verdict per local and remote pair, which a file's tunnels mostly share */
function crossing(cfg: Config, t: TunnelConfig, guessed: Map<string, boolean>): Crossing | undefined {
  const m = cfg.island;
  if (m?.self) {
    const me = m.hosts.find((h) => h.name === m.self?.host);
    const far = m.hosts.find((h) => h.public !== undefined && h.public === t.remote);
    if (me?.public !== undefined) return { behind: true, certain: true };
    return far ? { behind: false, certain: true } : undefined;
  }
  const pair = `${t.local} ${t.remote}`;
  let behind = guessed.get(pair);
  if (behind === undefined) {
    behind = isPrivate(t.local) && isPublic(t.remote);
    guessed.set(pair, behind);
  }
  return behind ? { behind: true, certain: false } : undefined;
}

const leavesTxChecksum = (t: TunnelConfig) => kindOf(t.kind).unmanaged?.(t).includes('tx-checksum-ip-generic') ?? false;

/**
 * The tunnels whose TX checksum offload a finding is about: those across a NAT that leave it to
 * the kernel. Only theirs is read (ethtool), and no netlink at all for it without one.
 */
export function offloadAcrossNat(cfg: Config): Set<string> {
  const guessed = new Map<string, boolean>();
  return new Set(cfg.tunnels.filter((t) => leavesTxChecksum(t) && crossing(cfg, t, guessed)).map((t) => t.name));
}

export function natFindings(f: DoctorFacts): Finding[] {
  const cfg = f.config;
  if (!cfg) return [];
  const out: Finding[] = [];
  const file = cfg.path;
  const guessed = new Map<string, boolean>();
  for (const t of cfg.tunnels) {
    const c = crossing(cfg, t, guessed);
    if (!c) continue;
    const why = c.certain
      ? 'the file says this host is behind a NAT ([[host]] public)'
      : `${t.local} is private and ${t.remote} public: ${t.name} probably crosses a NAT`;
    if (c.behind && t.keepaliveMs === undefined)
      out.push({
        severity: c.certain ? 'error' : 'warning',
        family: 'keepalive',
        where: `${file} [[tunnel]] ${t.name}`,
        what: 'the end behind the NAT sends no keepalive',
        why: `${why}, which forgets an idle mapping (Linux: 30 s unreplied, 120 s replied): then the far end cannot reach this host until it sends again`,
        fix: `keepalive = "${msText(NAT_KEEPALIVE_MS)}" in the tunnel`,
      });
    if (leavesTxChecksum(t)) {
      const live = f.txChecksum.get(t.name);
      out.push({
        severity: live === false ? 'warning' : 'error',
        family: 'tx-checksum',
        where: `${file} [[tunnel]] ${t.name} (tx_checksum_offload = true; ethtool -k ${t.name}: tx-checksumming ${
          live === undefined ? 'on when created' : live ? 'on' : 'off now'
        })`,
        what: 'TX checksum offload on a VXLAN across a NAT',
        why: `${why}; where the NAT's inside LAN is a Linux bridge (lab routers, cni0, docker0) ping crosses but every TCP connection times out${
          live === false
            ? ' (it is off now, but island leaves it to the kernel, which turns it on when the link is created again)'
            : ''
        }`,
        fix: `remove tx_checksum_offload = true from the tunnel (island then keeps it off), or ethtool -K ${t.name} tx off`,
      });
    }
  }
  return out;
}
