/** Every check family over one set of facts. Pure. */
import { daemonFindings } from './daemon.js';
import { firewallFindings } from './firewall.js';
import { natFindings } from './nat.js';
import { networkdFindings } from './networkd.js';
import { networkManagerFindings } from './networkmanager.js';
import { rcuFindings } from './rcu.js';
import { rpFilterFindings } from './rpfilter.js';
import { bySeverity, type DoctorFacts, type Finding } from './types.js';

export const CHECKS: { family: string; run: (f: DoctorFacts) => Finding[] }[] = [
  { family: 'daemon', run: daemonFindings },
  { family: 'firewall', run: firewallFindings },
  { family: 'rp_filter', run: rpFilterFindings },
  { family: 'networkd', run: networkdFindings },
  { family: 'NetworkManager', run: networkManagerFindings },
  { family: 'nat', run: natFindings },
  { family: 'rcu', run: rcuFindings },
];

/** Errors first, each family's in its own order. */
export function diagnose(f: DoctorFacts): Finding[] {
  return bySeverity(CHECKS.flatMap((c) => c.run(f)));
}
