/**
 * Firewalls that fight an island:
 *
 * - firewalld: FlushAllOnReload=yes (the default) drops every runtime-only setting at
 *   `firewall-cmd --reload`, e.g. a tunnel put in the trusted zone without --permanent, which
 *   then falls back to the default zone; FirewallBackend=iptables flushes the iptables tables,
 *   island's chains with them, at every start and reload.
 * - nftables.service: Debian's /etc/nftables.conf begins with `flush ruleset`, run at every
 *   `systemctl reload nftables` (and at boot): every table goes, iptables-nft's included.
 * - what surely drops island's traffic where island cannot accept it, as island's firewall code
 *   reads it (drops.ts: another nftables table's base chain on forward or input, an INPUT where
 *   island keeps no accept: ufw's policy DROP, for one).
 * - FORWARD that surely drops the forwarded traffic of a tunnel or bridge that [forward] does
 *   not accept: docker sets the policy to DROP.
 */
import { isDropFinding } from '../firewall/drops.js';
import { iptablesChains } from '../firewall/iptables-rules.js';
import { ISLAND_FORWARD } from '../firewall/model.js';
import { usesIpv6 } from '../firewall/render.js';
import { FAMILIES, type Family, type Flow, type LiveTable } from '../firewall/types.js';
import { sureDropsOf } from '../firewall/verdict.js';
import { serviceFindings } from './services.js';
import type { DoctorFacts, Finding } from './types.js';

export function firewallFindings(f: DoctorFacts): Finding[] {
  return [...serviceFindings(f), ...drops(f), ...forwardDrops(f)];
}

/** What island's firewall code found dropping the island's traffic where island cannot accept it. */
function drops(f: DoctorFacts): Finding[] {
  return (f.firewall?.status ?? []).filter(isDropFinding).map((s) => {
    const d = s.detail ?? '';
    // drops.ts says the cause, then the fix after one of these
    const cut = /(cannot override a drop there: |the tunnel cannot carry anything; )/.exec(d);
    const why = cut ? d.slice(0, cut.index + cut[0].length - 2) : d;
    const fix = cut ? d.slice(cut.index + cut[0].length) : 'accept it there';
    return {
      severity: 'error' as const,
      family: 'firewall',
      where: s.object,
      what: "a firewall drops island's traffic",
      why,
      fix,
    };
  });
}

/** Links island's file keeps whose forwarded traffic [forward] does not accept. */
function unaccepted(f: DoctorFacts): string[] {
  const cfg = f.config;
  if (!cfg) return [];
  const fwd = cfg.forward;
  const accepted = new Set([
    ...(fwd?.accept ?? []),
    ...(fwd?.rules ?? []).flatMap((r) => (r.source || r.destination ? [] : [r.in, r.out])),
  ]);
  return [...cfg.tunnels, ...cfg.bridges].map((l) => l.name).filter((n) => !accepted.has(n));
}

function forwardDrops(f: DoctorFacts): Finding[] {
  const live = f.firewall?.live;
  const links = unaccepted(f);
  if (!live || !links.length) return [];
  // a host that does not forward has nothing to drop there
  const forwards = f.sysctl['net.ipv4.ip_forward'] === '1' || f.config?.sysctl['net.ipv4.ip_forward'] === '1';
  if (!forwards) return [];
  const out: Finding[] = [];
  const backends: [string, Partial<Record<Family, LiveTable>>][] = [
    [live.backend, live.tables],
    ...(live.other ? [[live.other.backend, live.other.tables] as [string, Partial<Record<Family, LiveTable>>]] : []),
  ];
  const v6 = f.config ? usesIpv6(f.config) : false;
  for (const [backend, tables] of backends) {
    for (const family of FAMILIES) {
      const t = tables[family];
      if (!t?.ok || !t.chains.has(ISLAND_FORWARD.from) || (family === 6 && !v6)) continue;
      const chains = iptablesChains(t.chains);
      const hit: { flow: Flow; cause: string }[] = [];
      for (const link of links) {
        for (const dir of ['iif', 'oif'] as const) {
          const flow: Flow = { hook: 'forward', family, [dir]: link, label: `${dir === 'iif' ? 'in' : 'out'} ${link}` };
          const [d] = sureDropsOf(chains, ISLAND_FORWARD.from, flow);
          if (d) hit.push({ flow, cause: d.cause === 'policy drop' ? 'policy DROP' : `-A ${d.chain} ${d.cause}` });
        }
      }
      if (!hit.length) continue;
      const docker = t.chains.has('DOCKER') || t.chains.has('DOCKER-USER');
      const names = [...new Set(hit.map((h) => h.flow.iif ?? h.flow.oif))];
      const ipt = family === 4 ? 'iptables' : 'ip6tables';
      out.push({
        severity: 'error',
        family: 'forward',
        where: `${ipt}-${backend} FORWARD (${[...new Set(hit.map((h) => h.cause))].slice(0, 2).join(', ')})`,
        what: docker ? 'docker set FORWARD to drop' : "FORWARD drops the island's forwarded traffic",
        why: `this host forwards, and traffic ${[...new Set(hit.map((h) => h.flow.label))].join(', ')} is dropped: the hosts behind it reach nothing through the island, and [forward] does not accept ${names.join(', ')}`,
        fix: `[forward] accept = [${names.map((n) => `"${n}"`).join(', ')}] in the file (island keeps ISLAND-FORWARD first in FORWARD)${
          docker ? `, or ${ipt} -I DOCKER-USER -i ${names[0]} -j ACCEPT and -o ${names[0]}` : ''
        }`,
      });
    }
  }
  return out;
}
