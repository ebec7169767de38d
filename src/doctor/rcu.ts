/**
 * [daemon] rcu_expedited where it cannot take effect: the kernel's rcu_normal overrides it, or
 * the daemon could not write the file (a container's read-only /sys). The daemon warns too, once
 * it runs; island check says so at the reload that sets the key.
 */
import { RCU_DIR, RCU_NORMAL_WINS } from '../daemon/rcu.js';
import type { DoctorFacts, Finding } from './types.js';

/** what the key was for, and so what is lost */
const LOST =
  "a tunnel on dev deleted, or iptables -F, holds the lock island's repair needs through a whole grace period (12-40 ms on a 2-vCPU host; expedited, ~2)";

export function rcuFindings(f: DoctorFacts): Finding[] {
  const cfg = f.config;
  if (!cfg?.daemon.rcuExpedited || !f.rcu) return [];
  const where = `${cfg.path} [daemon] rcu_expedited`;
  if (f.rcu.unwritable !== undefined)
    return [
      {
        severity: 'warning',
        family: 'rcu',
        where,
        what: `the daemon cannot set ${RCU_DIR}/rcu_expedited (${f.rcu.unwritable})`,
        why: LOST,
        fix: `set it where the kernel is (a container shares its host's: echo 1 > ${RCU_DIR}/rcu_expedited there, or rcupdate.rcu_expedited=1 on its kernel command line), and remove the key here`,
      },
    ];
  if (f.rcu.normal === '1')
    return [
      {
        severity: 'warning',
        family: 'rcu',
        where,
        what: `${RCU_DIR}/rcu_normal is 1, ${RCU_NORMAL_WINS}`,
        why: `the key has no effect: ${LOST}`,
        fix: `if this host's isolated CPUs need rcu_normal (a real-time tuning profile, rcupdate.rcu_normal=1 at boot), remove the key; otherwise echo 0 > ${RCU_DIR}/rcu_normal and drop what sets it`,
      },
    ];
  return [];
}
