import type { TunnelCommon } from '../config/types.js';
import { decodeAttrs, encodeAttrs } from '../netlink/nla.js';
import type { LinkKind, Spec } from './kind.js';
import {
  decodeEnds,
  describeEnds,
  encodeEnds,
  ipv4Ends,
  mtuCheck,
  tunnelIdentity,
  tunnelSlot,
  underlayOf,
} from './tunnel.js';

export interface IpipTunnel extends TunnelCommon {
  kind: 'ipip';
}

// include/uapi/linux/if_tunnel.h, IFLA_IPTUN_*
const ENDS = { link: 1, local: 2, remote: 3, ttl: 4 };

/** the outer IPv4 header */
const OVERHEAD = 20;
const IPIP = 4;

/** Its ends, in network byte order (see encodeEnds()), are all it has. */
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

  encode: (s, ctx) => encodeAttrs(encodeEnds(ENDS, s, ctx)),
  decode: (data, ctx) => decodeEnds(ENDS, decodeAttrs(data ?? Buffer.alloc(0)), ctx),

  /** ip_tunnel_find: one tunnel per local, remote and underlay device */
  slot: tunnelSlot,
};
