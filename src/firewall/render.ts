/** [forward] → the chains and rules island wants, spelt exactly as iptables-save prints them. Pure. */
import type { Cidr, Config, ForwardRule } from '../config/types.js';
import { type DesiredFirewall, type DesiredTable, type Family, FORWARD_CHAIN, TAG } from './types.js';

const NONE: DesiredTable = { chains: [] };

/** IPv6 anywhere in the file: then ip6tables gets the same accept rules and forwarding is switched on for IPv6. */
export function usesIpv6(cfg: Config): boolean {
  return (
    [...cfg.tunnels, ...cfg.bridges].some((l) => l.addresses.some((a) => a.family === 6)) ||
    cfg.routes.some((r) => r.to.family === 6) ||
    (cfg.forward?.rules ?? []).some((r) => r.source?.family === 6 || r.destination?.family === 6)
  );
}

export function desiredFirewall(cfg: Config): DesiredFirewall {
  const f = cfg.forward;
  if (!f) return { enabled: false, backend: 'auto', pollMs: 1000, tables: { 4: NONE, 6: NONE } };
  const table = (family: Family): DesiredTable => {
    const rules: string[] = [];
    for (const link of f.accept) rules.push(accept({ in: link }), accept({ out: link }));
    for (const r of f.rules) if (familyOf(r) === undefined || familyOf(r) === family) rules.push(accept(r));
    return { chains: [{ name: FORWARD_CHAIN, rules }], jump: FORWARD_CHAIN };
  };
  return {
    enabled: true,
    backend: f.backend,
    pollMs: f.pollMs,
    tables: { 4: table(4), 6: usesIpv6(cfg) ? table(6) : NONE },
  };
}

/** The sysctls forwarding needs; island keeps them at 1 while [forward] is in the file. */
export function forwardingSysctls(cfg: Config): Record<string, string> {
  if (!cfg.forward) return {};
  return usesIpv6(cfg)
    ? { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' }
    : { 'net.ipv4.ip_forward': '1' };
}

function familyOf(r: ForwardRule): Family | undefined {
  return r.source?.family ?? r.destination?.family;
}

const net = (c: Cidr): string => `${c.address}/${c.prefixlen}`;

/** iptables-save's own order: -s, -d, -i, -o, then matches, then the target. */
function accept(r: ForwardRule): string {
  const parts: string[] = [];
  if (r.source) parts.push('-s', net(r.source));
  if (r.destination) parts.push('-d', net(r.destination));
  if (r.in) parts.push('-i', r.in);
  if (r.out) parts.push('-o', r.out);
  parts.push(TAG, '-j', 'ACCEPT');
  return parts.join(' ');
}
