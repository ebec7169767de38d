/**
 * `island doctor`: what on this host is known to fight an island, said one line per finding.
 *
 * The checks are pure: gather.ts reads the host once into DoctorFacts (files, processes, links,
 * routes, sysctls, the firewall as island's firewall code reads it, the daemon lock), and each
 * check family (networkd.ts, firewall.ts, rpfilter.ts, networkmanager.ts, daemon.ts, nat.ts)
 * turns facts into findings. Unit tests build facts by hand; kernel tests build the condition.
 */
import type { Config } from '../config/types.js';
import type { Holder } from '../daemon/lock.js';
import type { FirewallStatus, LiveFirewall } from '../firewall/types.js';
import type { RawAddress, RawRoute } from '../netlink/rtnl.js';

/** error: the island will not work (or not for long); warning: it works, and is fought now and then */
export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  /** the check family, e.g. "networkd" (`island check` leaves some out: they repeat its own warnings) */
  family: string;
  /** file:line, or the object: "net.ipv4.conf.eth0.rp_filter", "nftables inet filter chain input" */
  where: string;
  /** what fights the island, in a few words */
  what: string;
  /** why it hurts */
  why: string;
  fix: string;
}

export interface Proc {
  pid: number;
  /** /proc/PID/comm: the executable's name, cut to 15 characters */
  comm: string;
  argv: string[];
}

export interface LinkFact {
  ifindex: number;
  name: string;
  kind?: string;
  /** island's (ownership.ts) */
  owned: boolean;
}

export interface DoctorFacts {
  /** this host's part of the file; absent when there is none to check against */
  config?: Config;
  /** the processes of this network namespace a check looks for (a program in another one cannot touch its links) */
  processes: Proc[];
  /** this process, so as not to count itself */
  self: number;
  /** path → text of every file a check reads that exists (files.ts names them) */
  files: Map<string, string>;
  /** systemd units enabled at boot: the names found in /etc/systemd/system/*.wants/ */
  enabled: Set<string>;
  links: LinkFact[];
  addresses: RawAddress[];
  /** the main table's unicast routes */
  routes: RawRoute[];
  /** net.ipv4.ip_forward and net.ipv4.conf.{all,default,LINK}.rp_filter as this namespace has them */
  sysctl: Record<string, string>;
  /** vxlan link name → its TX checksum offload (ethtool's tx-checksum-ip-generic) */
  txChecksum: Map<string, boolean>;
  /** island's own firewall reading: its status rows and the tables it read */
  firewall?: { status: FirewallStatus[]; live: LiveFirewall };
  /** [daemon] rcu_expedited's files as the daemon will find them, read only when the file sets the key */
  rcu?: { normal?: string; unwritable?: string };
  /** the daemon lock of this network namespace (@island/daemon) */
  lock?: { held: boolean; holder?: Holder };
  /** what could not be read, and why (said once, as notes) */
  unread: string[];
}

/** "WHERE: error: WHAT: WHY; fix: FIX" (`severity` overrides, for `island check`: warnings only) */
export function formatFinding(f: Finding, severity: Severity = f.severity): string {
  return `${f.where}: ${severity}: ${f.what}: ${f.why}; fix: ${f.fix}`;
}

/** Errors first, each family's in its own order (the families' order is the caller's). */
export function bySeverity(all: Finding[]): Finding[] {
  return [...all.filter((x) => x.severity === 'error'), ...all.filter((x) => x.severity === 'warning')];
}
