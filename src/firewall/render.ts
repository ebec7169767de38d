/** [forward] → the chains and rules island wants, spelt exactly as iptables-save prints them. Pure. */
import type { Cidr, Config, ForwardRule, TunnelConfig } from '../config/types.js';
import type { DesiredPeer } from '../desired.js';
import { desiredPeers } from '../health/target.js';
import { kindOf } from '../kinds/index.js';
import { familyOf, inSubnet, ipv4Value } from '../netlink/ip.js';
import { nothingWanted } from './diff.js';
import { ISLAND_FORWARD, ISLAND_INPUT, ISLAND_MSS } from './model.js';
import {
  type DesiredChain,
  type DesiredFirewall,
  type DesiredTable,
  FAMILIES,
  type Family,
  type Flow,
  TAG,
} from './types.js';

const UDP = 17;

/** IPv6 anywhere in the file: then ip6tables gets the same accept rules and forwarding is switched on for IPv6. */
export function usesIpv6(cfg: Config): boolean {
  return (
    [...cfg.tunnels, ...cfg.bridges, ...cfg.links].some((l) => l.addresses.some((a) => a.family === 6)) ||
    cfg.routes.some((r) => r.to.family === 6) ||
    (cfg.forward?.rules ?? []).some((r) => r.source?.family === 6 || r.destination?.family === 6)
  );
}

/** `peers`: the file's probed peers, when the caller has them already (desired.ts). */
export function desiredFirewall(cfg: Config, peers: DesiredPeer[] = desiredPeers(cfg)): DesiredFirewall {
  const f = cfg.forward;
  const flows = [...forwardFlows(cfg), ...cfg.tunnels.flatMap(tunnelFlow), ...peers.map(probeFlow)];
  if (!f) return nothingWanted(flows);
  const v6 = usesIpv6(cfg);
  const table = (family: Family): DesiredTable => {
    const chains: DesiredChain[] = [];
    if (family === 4 || v6) {
      const rules: string[] = [];
      for (const link of f.accept) rules.push(accept({ in: link }), accept({ out: link }));
      for (const r of f.rules) if (ruleFamily(r) === undefined || ruleFamily(r) === family) rules.push(accept(r));
      chains.push({ name: ISLAND_FORWARD.name, rules, from: ISLAND_FORWARD.from });
    }
    const input = f.input
      ? [
          ...new Set([
            ...cfg.tunnels.flatMap((t) => underlayAccept(t, family) ?? []),
            ...peers.filter((p) => p.family === family).map(probeAccept),
          ]),
        ]
      : [];
    if (input.length) chains.push({ name: ISLAND_INPUT.name, rules: input, from: ISLAND_INPUT.from });
    if (f.clampMss !== false && (family === 4 || v6) && cfg.tunnels.length)
      chains.push({ name: ISLAND_MSS.name, rules: cfg.tunnels.map((t) => clampMss(t.name)), from: ISLAND_MSS.from });
    return { chains };
  };
  return {
    enabled: true,
    backend: f.backend,
    pollMs: f.pollMs,
    tables: { 4: table(4), 6: table(6) },
    flows,
  };
}

/** The sysctls forwarding needs; island keeps them at 1 while [forward] is in the file. */
export function forwardingSysctls(cfg: Config): Record<string, string> {
  if (!cfg.forward) return {};
  return usesIpv6(cfg)
    ? { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' }
    : { 'net.ipv4.ip_forward': '1' };
}

function ruleFamily(r: ForwardRule): Family | undefined {
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

/**
 * A SYN (or SYN-ACK) forwarded into a tunnel announces at most the tunnel's MTU less the IP
 * and TCP headers as its MSS: the far end, and through the far island's own rule the near pod,
 * then never send a segment the tunnel cannot carry, whatever MTU the pods have (1500 behind
 * a 1350 path). `--clamp-mss-to-pmtu` reads the MTU of the route out, the tunnel's own: with
 * mtu = "auto" that is the path MTU island measured, and it follows every change without a
 * rule being rewritten.
 */
function clampMss(tunnel: string): string {
  return `-o ${tunnel} -p tcp -m tcp --tcp-flags SYN,RST SYN ${TAG} -j TCPMSS --clamp-mss-to-pmtu`;
}

const host = (ip: string, family = familyOf(ip)) => ({ address: ip, prefixlen: family === 6 ? 128 : 32 });
const isMulticast = (ip: string, family = familyOf(ip)) =>
  family === 6 ? inSubnet(ip, 'ff00::', 8) : ipv4Value(ip) >>> 28 === 0xe;

/**
 * A tunnel's own packets as they reach this host (its kind's underlayTraffic(): VXLAN's UDP to
 * its port, ipip's protocol 4), from its remote, or for a multicast group, to the group from anyone;
 * then as this host sends them (every packet the tunnel carries out passes the output hook).
 * Built key by key rather than spread: every tunnel of the file, at every one-shot command's start
 * (no [forward] needs them too: drop detection), in the interpreter.
 */
function tunnelFlow(t: TunnelConfig): Flow[] {
  const family = familyOf(t.remote);
  const u = kindOf(t.kind).underlayTraffic?.(t);
  if (family === undefined || !u) return [];
  const group = isMulticast(t.remote, family);
  const remote = host(t.remote, family);
  const local = host(t.local);
  const into: Flow = group
    ? { hook: 'input', family, daddr: remote, label: `${t.name}'s packets (${u.words} to ${t.remote})` }
    : {
        hook: 'input',
        family,
        saddr: remote,
        daddr: local,
        label: `${t.name}'s packets (${u.words} from ${t.remote})`,
      };
  const out: Flow = {
    hook: 'output',
    family,
    saddr: local,
    daddr: remote,
    label: `${t.name}'s packets out (${u.words} to ${t.remote})`,
  };
  if (t.dev !== undefined) out.oif = t.dev;
  for (const f of [into, out]) {
    // pinned to its own port: once the peer has sent, conntrack calls this host's ESTABLISHED
    if (u.answers) f.answers = true;
    f.proto = u.proto;
    if (u.dport !== undefined) f.dport = u.dport;
    f.tunnel = t.name;
  }
  return [into, out];
}

/** The ISLAND-INPUT rule for a tunnel's own packets, in iptables-save's spelling; undefined in the other family. */
function underlayAccept(t: TunnelConfig, family: Family): string | undefined {
  const [flow] = tunnelFlow(t);
  if (!flow || flow.family !== family) return undefined;
  const parts: string[] = [];
  if (flow.saddr) parts.push('-s', net({ ...flow.saddr, family }));
  else if (flow.daddr) parts.push('-d', net({ ...flow.daddr, family }));
  // "-p 4": iptables-save names it from /etc/protocols (ipencap), normalize() reads it back as 4
  if (flow.proto === UDP) parts.push('-p', 'udp', '-m', 'udp', '--dport', String(flow.dport));
  else parts.push('-p', String(flow.proto));
  parts.push(TAG, '-j', 'ACCEPT');
  return parts.join(' ');
}

/**
 * The peer's health probes (and its replies to ours) as they come out of the tunnel: UDP to the
 * health port on its inner address. A host whose INPUT drops them (`ufw enable`) sees a working
 * tunnel as down, and the end facing a NAT, which speaks only once spoken to, never answers.
 * Where this end probes first, the peer's datagrams answer its own (the same port both ways).
 */
function probeFlow(p: DesiredPeer): Flow {
  return {
    hook: 'input',
    family: p.family,
    iif: p.tunnel,
    saddr: host(p.peer),
    daddr: host(p.local),
    ...(p.waitForPeer ? {} : { answers: true }),
    proto: UDP,
    dport: p.port,
    tunnel: p.tunnel,
    probe: true,
    label: `${p.tunnel}'s health probes (udp ${p.port} from ${p.peer})`,
  };
}

/** The ISLAND-INPUT rule for a tunnel's health probes: by the tunnel they come out of, which only the peer reaches. */
function probeAccept(p: DesiredPeer): string {
  return `-i ${p.tunnel} -p udp -m udp --dport ${p.port} ${TAG} -j ACCEPT`;
}

/**
 * The forwarded traffic [forward] accepts, one flow per direction of each accepted link and
 * one per rule, in each family the file forwards.
 */
function forwardFlows(cfg: Config): Flow[] {
  const f = cfg.forward;
  if (!f) return [];
  const families = FAMILIES.filter((x) => x === 4 || usesIpv6(cfg));
  const out: Flow[] = [];
  for (const family of families) {
    for (const link of f.accept) {
      out.push({ hook: 'forward', family, iif: link, label: `in ${link}` });
      out.push({ hook: 'forward', family, oif: link, label: `out ${link}` });
    }
    for (const r of f.rules) {
      const fam = ruleFamily(r);
      if (fam !== undefined && fam !== family) continue;
      const words = [
        r.in && `in ${r.in}`,
        r.out && `out ${r.out}`,
        r.source && `from ${net(r.source)}`,
        r.destination && `to ${net(r.destination)}`,
      ].filter(Boolean);
      out.push({
        hook: 'forward',
        family,
        ...(r.in ? { iif: r.in } : {}),
        ...(r.out ? { oif: r.out } : {}),
        ...(r.source ? { saddr: r.source } : {}),
        ...(r.destination ? { daddr: r.destination } : {}),
        label: words.join(' '),
      });
    }
  }
  return out;
}
