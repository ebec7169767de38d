/**
 * The firewall services that fight an island, read from their files and the processes and
 * units of this host alone (firewall.ts has why): what `island check` can say without island's
 * firewall code, which it does not load.
 */
import { assignments, at, FIREWALLD_CONF, NFTABLES_CONF, parseBoolean } from './files.js';
import type { DoctorFacts, Finding } from './types.js';

export const FIREWALLD_COMM = 'firewalld';

export function serviceFindings(f: DoctorFacts): Finding[] {
  return [...firewalld(f), ...nftablesService(f)];
}

/** in use: running, or enabled at boot */
const inUse = (f: DoctorFacts, comm: string, unit: string) =>
  f.processes.some((p) => p.comm === comm) || f.enabled.has(unit);

function firewalld(f: DoctorFacts): Finding[] {
  if (!inUse(f, FIREWALLD_COMM, 'firewalld.service')) return [];
  const path = FIREWALLD_CONF.find((p) => f.files.has(p)) ?? (FIREWALLD_CONF[0] as string);
  const set = assignments(path, f.files.get(path) ?? '');
  const last = (key: string) => set.filter((a) => a.key === key).at(-1);
  const out: Finding[] = [];
  const flush = last('FlushAllOnReload');
  if (!flush || parseBoolean(flush.value) !== false)
    out.push({
      severity: 'warning',
      family: 'firewalld',
      where: flush ? at(flush) : `${path} (FlushAllOnReload unset: yes by default)`,
      what: `firewalld FlushAllOnReload=${flush?.value ?? 'yes'}`,
      why:
        'firewall-cmd --reload drops every runtime-only setting: a tunnel or bridge put in a zone without --permanent ' +
        "falls back to the default zone, whose drop island's iptables accepts cannot override, and direct rules go",
      fix: 'FlushAllOnReload=no in firewalld.conf, or make each zone binding permanent (firewall-cmd --permanent --zone=trusted --add-interface=vx0)',
    });
  const backend = last('FirewallBackend');
  if (backend && backend.value.toLowerCase() === 'iptables')
    out.push({
      severity: 'warning',
      family: 'firewalld',
      where: at(backend),
      what: 'firewalld FirewallBackend=iptables',
      why: "every start and reload of firewalld flushes the iptables tables: island's chains go until island puts them back, its forwarded traffic dropped meanwhile",
      fix: 'FirewallBackend=nftables (firewalld then keeps to its own table)',
    });
  return out;
}

function nftablesService(f: DoctorFacts): Finding[] {
  if (!f.enabled.has('nftables.service')) return [];
  const text = f.files.get(NFTABLES_CONF);
  if (text === undefined) return [];
  const out: Finding[] = [];
  text.split('\n').forEach((raw, i) => {
    const code = raw.replace(/#.*/, '');
    if (!code.split(';').some((s) => /^\s*flush\s+ruleset\s*$/.test(s))) return;
    out.push({
      severity: 'warning',
      family: 'nftables',
      where: `${NFTABLES_CONF}:${i + 1}`,
      what: 'nftables.service is enabled and its ruleset runs `flush ruleset`',
      why:
        "systemctl reload nftables (or restart) deletes every table, iptables-nft's with island's chains and the CNI's: " +
        "island puts its own back within milliseconds, dropping its forwarded traffic meanwhile; the CNI's stay gone until it restarts",
      fix: 'flush only the tables the file defines: replace it with `destroy table inet filter` (nft 1.0.8+; before: `table inet filter` then `delete table inet filter`)',
    });
  });
  return out;
}
