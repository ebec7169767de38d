import { int } from '../config/schema.js';
import type { TunnelCommon } from '../config/types.js';
import { type Attr, be16, be32, decodeAttrs, encodeAttrs, readBe16, readBe32 } from '../netlink/nla.js';
import type { Declared, LinkKind, Spec } from './kind.js';
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

export interface GreTunnel extends TunnelCommon {
  /** the GRE key both ways (RFC 2890): tunnels between the same ends told apart; absent: none */
  key?: number;
}

// include/uapi/linux/if_tunnel.h, IFLA_GRE_*
const ENDS = { link: 1, local: 6, remote: 7, ttl: 8 };
const IFLAGS = 2;
const OFLAGS = 3;
const IKEY = 4;
const OKEY = 5;

/** GRE_KEY, a __be16 flag of IFLAGS and OFLAGS */
const GRE_KEY = 0x2000;
const GRE = 47;

/** Outer IPv4 header (20) and GRE header (4), and the key field when there is one (gre_calc_hlen()). */
const IP_GRE = 24;
const KEY_FIELD = 4;

const keyOf = (d: Declared) => (d.options as { key?: number }).key;

/**
 * What gre and gretap (ip_gre.c: one module, one set of IFLA_GRE_* attributes) share; `frame`
 * is the inner Ethernet header a gretap adds (ip_tunnel_bind_dev(): hard_header_len, 14).
 * The kernel keeps each in its own table (ipgre_net_id, gre_tap_net_id), so a gre and a gretap
 * between the same ends coexist.
 */
export function greKind(kind: string, about: string, frame: number): LinkKind {
  const overhead = (key: number | undefined) => IP_GRE + (key === undefined ? 0 : KEY_FIELD) + frame;
  const headers = `the outer IPv4 and GRE headers${frame ? ' and the inner Ethernet header' : ''}`;
  return {
    kind,
    table: 'tunnel',
    module: 'ip_gre',
    about,
    keys: { ...ipv4Ends(kind), key: int(0, 4294967295).optional() },
    options: (value) => ({ key: value('key') }),
    ethernet: frame > 0,
    families: [4],
    overhead: (_family, decl) => overhead((decl as GreTunnel | undefined)?.key),
    check: (d) => mtuCheck(kind, overhead(keyOf(d)), headers, d),
    identity: (d) => tunnelIdentity(kind, d, { key: keyOf(d) }),
    underlay: underlayOf,
    underlayTraffic: () => ({ proto: GRE, words: kind }),
    graphWords: (decl) => {
      const key = (decl as GreTunnel).key;
      return [`${kind} (IP protocol ${GRE}${key === undefined ? '' : `, key ${key}`})`];
    },

    /** key '' is none: a key of 0 is a key (ip_tunnel_key_match() tells them apart by the flag) */
    spec(decl): Spec {
      const t = decl as GreTunnel;
      return { local: t.local, remote: t.remote, ttl: t.ttl ?? 0, dev: t.dev ?? '', key: t.key ?? '' };
    },

    describe: (s) => [describeEnds(s), ...(s.key === '' ? [] : [`key ${s.key}`])],

    encode(s, ctx): Buffer {
      const attrs: Attr[] = encodeEnds(ENDS, s, ctx);
      if (s.key !== '') {
        // the same key both ways: what the peer sends is what this end expects
        attrs.push([IFLAGS, be16(GRE_KEY)], [OFLAGS, be16(GRE_KEY)]);
        attrs.push([IKEY, be32(Number(s.key))], [OKEY, be32(Number(s.key))]);
      }
      return encodeAttrs(attrs);
    },

    decode(data, ctx): Spec {
      const a = decodeAttrs(data ?? Buffer.alloc(0));
      const keyed = ((readBe16(a.get(IFLAGS)) ?? 0) & GRE_KEY) !== 0;
      return { ...decodeEnds(ENDS, a, ctx), key: keyed ? (readBe32(a.get(IKEY)) ?? 0) : '' };
    },

    /** ip_tunnel_find: one tunnel per local, remote, key and underlay device */
    slot: tunnelSlot,
  };
}

export const gre: LinkKind = greKind('gre', 'IP in GRE (layer 3), IP protocol 47', 0);
