import type { IpipTunnel } from '../config/types.js';
import { bufferToIp, ipToBuffer } from '../netlink/ip.js';
import { type Attr, decodeAttrs, encodeAttrs, readU8, readU32, u8, u32 } from '../netlink/nla.js';
import type { LinkKind, Spec } from './kind.js';
import { devIndex } from './vxlan.js';

// include/uapi/linux/if_tunnel.h, IFLA_IPTUN_*
const LINK = 1;
const LOCAL = 2;
const REMOTE = 3;
const TTL = 4;

/**
 * LOCAL and REMOTE are raw in_addr bytes, i.e. network byte order: writing
 * them as a host-order u32 (what node-netlink's generic formatter would do)
 * silently creates a tunnel to 100.3.168.192 instead of 192.168.3.100.
 */
export const ipip: LinkKind = {
  kind: 'ipip',

  spec(decl): Spec {
    const t = decl as IpipTunnel;
    return { local: t.local, remote: t.remote, ttl: t.ttl ?? 0, dev: t.dev ?? '' };
  },

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
  slot: (s) => `endpoints ${s.local} → ${s.remote}${s.dev ? ` over ${s.dev}` : ''}`,
};
