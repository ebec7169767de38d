/** What the IP tunnel kinds (ipip, gre, gretap) share: IPv4 ends, their words, the kernel's tunnel table. */
import { address } from '../config/schema.js';
import type { TunnelCommon } from '../config/types.js';
import { bufferToIp, ipToBuffer } from '../netlink/ip.js';
import { type Attr, readU8, readU32, u8, u32 } from '../netlink/nla.js';
import {
  article,
  type Declared,
  devIndex,
  type KernelIdentity,
  type Keys,
  type KindContext,
  type Problem,
  type Spec,
} from './kind.js';

export const describeEnds = (s: Spec): string => `${s.local} → ${s.remote}`;

/** Where an IP tunnel family keeps its ends in IFLA_INFO_DATA (IFLA_IPTUN_* or IFLA_GRE_*). */
export interface EndAttrs {
  link: number;
  local: number;
  remote: number;
  ttl: number;
}

/**
 * local and remote as raw in_addr bytes, i.e. network byte order: writing them as a host-order
 * u32 (what node-netlink's generic formatter would do) silently creates a tunnel to
 * 100.3.168.192 instead of 192.168.3.100. ttl a u8 (none: inherit), the underlay an ifindex.
 */
export function encodeEnds(n: EndAttrs, s: Spec, ctx: KindContext): Attr[] {
  const attrs: Attr[] = [
    [n.local, ipToBuffer(String(s.local))],
    [n.remote, ipToBuffer(String(s.remote))],
  ];
  if (s.ttl) attrs.push([n.ttl, u8(Number(s.ttl))]);
  if (s.dev) attrs.push([n.link, u32(devIndex(String(s.dev), ctx))]);
  return attrs;
}

export function decodeEnds(n: EndAttrs, a: Map<number, Buffer>, ctx: KindContext): Spec {
  const ip = (b: Buffer | undefined) => (b ? bufferToIp(b) : '');
  const link = readU32(a.get(n.link)) ?? 0;
  return {
    local: ip(a.get(n.local)),
    remote: ip(a.get(n.remote)),
    ttl: readU8(a.get(n.ttl)) ?? 0,
    dev: link ? (ctx.ifname(link) ?? `#${link}`) : '',
  };
}

/** local and remote of a kind that runs over IPv4 only (ip_tunnel: IPv4 outer header) */
export function ipv4Ends(kind: string): Keys {
  const ipv4 = address(
    4,
    `${article(kind)} ${kind} tunnel runs over IPv4 only (use kind = "vxlan" for an IPv6 underlay)`,
  );
  return { local: ipv4, remote: ipv4 };
}

/** ip_tunnel_newlink() and __ip_tunnel_change_mtu(): IP_MAX_MTU (65535) less the outer headers. */
export function mtuCheck(kind: string, overhead: number, headers: string, d: Declared): Problem[] {
  const max = 65535 - overhead;
  if (d.mtu === undefined || d.mtu <= max) return [];
  return [
    {
      key: 'mtu',
      message: `must be at most ${max} for ${kind} (65535 less ${headers}); the kernel would lower it and island would raise it again`,
    },
  ];
}

/**
 * ip_tunnel_find(): one tunnel of a kind (one ip_tunnel_net) per local, remote, underlay link
 * and, for a kind with keys (`keyed`), key: a keyed and an unkeyed one are apart
 * (ip_tunnel_key_match()).
 */
export function tunnelIdentity(kind: string, d: Declared, keyed?: { key?: number }): KernelIdentity | undefined {
  if (d.local === undefined || d.remote === undefined) return undefined;
  const key = keyed?.key;
  const keyWords = key === undefined ? (keyed ? ' and no key' : '') : ` and key ${key}`;
  return {
    id: `${kind} ${d.local} ${d.remote} ${d.dev ?? ''} ${key ?? ''}`,
    key: 'remote',
    message: (first) =>
      `local ${d.local} and remote ${d.remote}${d.dev ? ` over ${d.dev}` : ''}${keyWords} are already those of ${first}: ` +
      `the kernel takes one ${kind} tunnel per local, remote${keyed ? ', key' : ''} and dev`,
  };
}

/** The slot words of plan and apply for the same rule, from a spec. */
export const tunnelSlot = (s: Spec): string =>
  `endpoints ${s.local} → ${s.remote}${s.key !== undefined && s.key !== '' ? ` key ${s.key}` : ''}${s.dev ? ` over ${s.dev}` : ''}`;

export const underlayOf = (decl: object): string | undefined => (decl as TunnelCommon).dev;
