import type { TunnelCommon } from '../config/types.js';
import { bufferToIp, ipToBuffer } from '../netlink/ip.js';
import { type Attr, decodeAttrs, encodeAttrs, readU8, readU32, u8, u32 } from '../netlink/nla.js';
import { devIndex, type LinkKind, type Spec } from './kind.js';
import { describeEnds, ipv4Ends, mtuCheck, tunnelIdentity, tunnelSlot, underlayOf } from './tunnel.js';

export interface IpipTunnel extends TunnelCommon {
  kind: 'ipip';
}

// include/uapi/linux/if_tunnel.h, IFLA_IPTUN_*
const LINK = 1;
const LOCAL = 2;
const REMOTE = 3;
const TTL = 4;

/** the outer IPv4 header */
const OVERHEAD = 20;
const IPIP = 4;

/**
 * LOCAL and REMOTE are raw in_addr bytes, i.e. network byte order: writing
 * them as a host-order u32 (what node-netlink's generic formatter would do)
 * silently creates a tunnel to 100.3.168.192 instead of 192.168.3.100.
 */
export const ipip: LinkKind = {
  kind: 'ipip',
  table: 'tunnel',
  about: 'IPv4 in IPv4 (layer 3), IP protocol 4',
  keys: ipv4Ends('ipip'),
  ethernet: false,
  families: [4],
  overhead: () => OVERHEAD,
  maxMtu: 65535 - OVERHEAD,
  check: (d) => mtuCheck('ipip', OVERHEAD, 'the outer IPv4 header', d),
  identity: (d) => tunnelIdentity('ipip', d),
  underlay: underlayOf,
  underlayTraffic: () => ({ proto: IPIP, words: 'ipip' }),

  spec(decl): Spec {
    const t = decl as IpipTunnel;
    return { local: t.local, remote: t.remote, ttl: t.ttl ?? 0, dev: t.dev ?? '' };
  },

  graphWords: () => [`ipip (IP protocol ${IPIP})`],
  describe: (s) => [describeEnds(s)],

  encode(s, ctx): Buffer {
    const attrs: Attr[] = [
      [LOCAL, ipToBuffer(String(s.local))],
      [REMOTE, ipToBuffer(String(s.remote))],
    ];
    if (s.ttl) attrs.push([TTL, u8(Number(s.ttl))]);
    if (s.dev) attrs.push([LINK, u32(devIndex(String(s.dev), ctx))]);
    return encodeAttrs(attrs);
  },

  decode(data, ctx): Spec {
    const a = decodeAttrs(data ?? Buffer.alloc(0));
    const ip = (b: Buffer | undefined) => (b ? bufferToIp(b) : '');
    const link = readU32(a.get(LINK)) ?? 0;
    return {
      local: ip(a.get(LOCAL)),
      remote: ip(a.get(REMOTE)),
      ttl: readU8(a.get(TTL)) ?? 0,
      dev: link ? (ctx.ifname(link) ?? `#${link}`) : '',
    };
  },

  /** ip_tunnel_find: one tunnel per local, remote and underlay device */
  slot: tunnelSlot,
};
