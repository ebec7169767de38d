import { createHash } from 'node:crypto';
import type { VxlanTunnel } from '../config/types.js';
import { bufferToIp, familyOf, ipToBuffer } from '../netlink/ip.js';
import { type Attr, be16, decodeAttrs, encodeAttrs, readBe16, readU8, readU32, u8, u32 } from '../netlink/nla.js';
import type { Features, KindContext, LinkKind, Spec } from './kind.js';

// include/uapi/linux/if_link.h, IFLA_VXLAN_*
const ID = 1;
const GROUP = 2;
const LINK = 3;
const LOCAL = 4;
const TTL = 5;
const LEARNING = 7;
const PORT_RANGE = 10;
const PORT = 15;
const GROUP6 = 16;
const LOCAL6 = 17;

/**
 * Every attribute is compared, with the kernel's default standing in for an
 * omitted key, so that removing `source_port` from the file really unpins it.
 * The kernel can change none of them in place (vxlan_changelink refuses most),
 * so any difference re-creates the link.
 */
export const vxlan: LinkKind = {
  kind: 'vxlan',

  spec(decl): Spec {
    const t = decl as VxlanTunnel;
    return {
      vni: t.vni,
      local: t.local,
      remote: t.remote,
      port: t.port,
      // 0-0 is how the kernel reports "default source port range"
      srcLow: t.sourcePort?.low ?? 0,
      srcHigh: t.sourcePort?.high ?? 0,
      ttl: t.ttl ?? 0,
      dev: t.dev ?? '',
      // A point-to-point tunnel has one remote: learning adds nothing, and a learned FDB entry
      // carries no underlay device, so unicast to it ignores `dev` and, where a route through
      // the island covers the remote, loops into the tunnel itself (the kernel drops it as a
      // circular route: TX errors and collisions on the vxlan). flannel runs nolearning too.
      learning: 0,
    };
  },

  encode(s, ctx): Buffer {
    const v6 = familyOf(String(s.local)) === 6;
    const attrs: Attr[] = [
      [ID, u32(Number(s.vni))],
      [v6 ? GROUP6 : GROUP, ipToBuffer(String(s.remote))],
      [v6 ? LOCAL6 : LOCAL, ipToBuffer(String(s.local))],
      [PORT, be16(Number(s.port))],
    ];
    if (s.srcLow) attrs.push([PORT_RANGE, Buffer.concat([be16(Number(s.srcLow)), be16(Number(s.srcHigh))])]);
    if (s.ttl) attrs.push([TTL, u8(Number(s.ttl))]);
    attrs.push([LEARNING, u8(Number(s.learning))]);
    if (s.dev) attrs.push([LINK, u32(devIndex(String(s.dev), ctx))]);
    return encodeAttrs(attrs);
  },

  decode(data, ctx): Spec {
    const a = decodeAttrs(data ?? Buffer.alloc(0));
    const ip = (b: Buffer | undefined) => (b ? bufferToIp(b) : '');
    const range = a.get(PORT_RANGE);
    const link = readU32(a.get(LINK)) ?? 0;
    return {
      vni: readU32(a.get(ID)) ?? 0,
      local: ip(a.get(LOCAL) ?? a.get(LOCAL6)),
      remote: ip(a.get(GROUP) ?? a.get(GROUP6)),
      port: readBe16(a.get(PORT)) ?? 0,
      srcLow: range ? range.readUInt16BE(0) : 0,
      srcHigh: range ? range.readUInt16BE(2) : 0,
      ttl: readU8(a.get(TTL)) ?? 0,
      dev: link ? (ctx.ifname(link) ?? `#${link}`) : '',
      learning: readU8(a.get(LEARNING)) ?? 1,
    };
  },

  /**
   * A stable MAC: a re-created vxlan (healed after `ip link del`) keeps the address the peer's
   * neighbour table holds for its inner address. With a random one, frames to the new link
   * were dropped until the peer's ARP entry went stale (about 20 s in the lab demo).
   * Locally administered, unicast; derived from what names the tunnel on this host.
   */
  mac(name, s): Buffer {
    const h = createHash('sha256').update(`island vxlan ${name} ${s.vni} ${s.local} ${s.remote}`).digest();
    const mac = h.subarray(0, 6);
    mac[0] = ((mac[0] ?? 0) & 0xfe) | 0x02;
    return mac;
  },

  /**
   * TX checksum offload off, unless the file says `tx_checksum_offload = true` (then the
   * kernel's default is left alone, unmanaged). A VXLAN that crosses a MASQUERADE NAT whose
   * inside LAN is a Linux bridge carries ping but no TCP while it is on (measured on this
   * kind of host); flannel and Calico turn it off on their VXLAN devices for the same family
   * of kernel behaviour (Calico's ChecksumOffloadBroken, kubernetes#88986). On a vxlan device
   * `ethtool -K vx0 tx off` clears exactly this feature: the rest of the tx-checksumming
   * group is fixed off. The kernel then also drops TSO, which needs it.
   */
  features(decl): Features | undefined {
    return (decl as VxlanTunnel).txChecksumOffload ? undefined : { 'tx-checksum-ip-generic': false };
  },
};

/** vxlan_config_validate: one device per VNI, port and address family (the local address does not count). */
vxlan.slot = (s) => `VNI ${s.vni} and port ${s.port}${familyOf(String(s.local)) === 6 ? ' (IPv6)' : ''}`;

export function devIndex(dev: string, ctx: KindContext): number {
  const i = ctx.ifindex(dev);
  // plan() never asks to encode a link whose underlay is missing
  if (i === undefined) throw new Error(`underlay device ${dev} does not exist`);
  return i;
}
