/**
 * The host checks of `island check`, run on the host whose file it is: island doctor's, as
 * warnings, less those that need what only doctor reads (the firewall's tables). Its own
 * module, without doctor's index: that would load the firewall's code, and rp_filter's check
 * island's desired state (the firewall's code too), each ~ms of a check that runs on every reload.
 */
import { type IslandFile, localIdentity, resolveSelf } from '../config/island.js';
import type { Config } from '../config/types.js';
import { daemonFindings } from './daemon.js';
import { gatherFacts, strictSomewhere } from './gather.js';
import { natFindings } from './nat.js';
import { networkdFindings } from './networkd.js';
import { networkManagerFindings } from './networkmanager.js';
import { rcuFindings } from './rcu.js';
import { serviceFindings } from './services.js';
import { bySeverity, type DoctorFacts, type Finding, formatFinding } from './types.js';

/**
 * Whether a file `island check` validated is this host's: a per-host file is; a one-file island
 * is when this host found its part in it, unless --host names another host than its addresses
 * say (then check reads it for that host, on this one).
 */
export function isThisHost(cfg: Config, hostOption: string | undefined): boolean {
  const m = cfg.island;
  if (!m) return true;
  if (!m.self) return false;
  if (hostOption === undefined) return true;
  const mine = resolveSelf(m as IslandFile['model'], { addresses: localIdentity().addresses });
  return typeof mine !== 'string' && mine.host === m.self.host && mine.site === m.self.site;
}

/** The doctor's findings as `island check` prints them: warnings, less what check says itself. */
export async function hostWarnings(cfg: Config): Promise<string[]> {
  try {
    const facts = await gatherFacts(cfg, { frugal: true });
    // index.ts's order; the firewall's drops need its tables, which a check does not read
    const rpFilter = strictSomewhere(facts.sysctl, cfg) ? (await import('./rpfilter.js')).rpFilterFindings : none;
    const checks = [
      daemonFindings,
      serviceFindings,
      rpFilter,
      networkdFindings,
      networkManagerFindings,
      natFindings,
      rcuFindings,
    ];
    // check's own keepalive advice says it with the file's line
    return bySeverity(checks.flatMap((c) => c(facts)))
      .filter((f) => f.family !== 'keepalive')
      .map((f) => formatFinding(f, 'warning'));
  } catch (e) {
    return [`island check: the host checks (island doctor) failed: ${(e as Error).message}`];
  }
}

const none = (_: DoctorFacts): Finding[] => [];
