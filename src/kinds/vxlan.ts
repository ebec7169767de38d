import { z } from 'zod';
import { addressClass } from '../config/kernel.js';
import { int, sourcePort } from '../config/schema.js';
import type { Family, TunnelCommon } from '../config/types.js';
import { familyOf, ipAt, ipToBuffer } from '../netlink/ip.js';
import { type Attr, be16, eachAttr, encodeAttrs, get32, u8, u32 } from '../netlink/nla.js';
import { type Declared, devIndex, type Features, type LinkKind, type Problem, type Spec, stableMac } from './kind.js';
import { describeEnds } from './tunnel.js';

export interface VxlanTunnel extends TunnelCommon {
  kind: 'vxlan';
  vni: number;
  /** UDP destination port */
  port: number;
  /** UDP source port range as the kernel takes it: [low, high) */
  sourcePort?: { low: number; high: number };
  /** true: leave the device's TX checksum offload as the kernel has it; absent or false: island keeps it off */
  txChecksumOffload?: boolean;
}

/** The IANA port (RFC 7348), the kernel's default too. */
export const VXLAN_PORT = 4789;

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
const DF = 29;
/** IFLA_VXLAN_DF: the outer header's DF bit never set, or copied from the inner packet's */
const DF_UNSET = 0;
const DF_INHERIT = 2;

const UDP = 17;
const TX_CHECKSUM = 'tx-checksum-ip-generic';

/**
 * vxlan_headroom(): outer IP (20 or 40) + UDP (8) + VXLAN (8) + the inner Ethernet header (14),
 * what a vxlan needs below its MTU on its underlay device.
 */
const HEADROOM = { 4: 50, 6: 70 } as const;

const options = (t: Declared) => t.options as Partial<VxlanTunnel>;

/**
 * Every attribute is compared, with the kernel's default standing in for an
 * omitted key, so that removing `source_port` from the file really unpins it.
 * The kernel can change none of them in place (vxlan_changelink refuses most),
 * so any difference re-creates the link.
 */
export const vxlan: LinkKind = {
  kind: 'vxlan',
  table: 'tunnel',
  about: 'Ethernet in UDP (layer 2), over IPv4 or IPv6',
  keys: {
    vni: int(1, 16777215),
    port: int(1, 65535).optional(),
    source_port: sourcePort.optional(),
    // false (the default): island keeps the device's TX checksum offload off (see features())
    tx_checksum_offload: z
      .boolean()
      .optional()
      .describe(
        "false (default): island keeps the device's TX checksum offload off (TCP across a NAT with a bridged LAN " +
          "needs it); true: the kernel's default, not managed",
      ),
  },
  options: (value) => ({
    vni: value('vni'),
    port: value('port') ?? VXLAN_PORT,
    sourcePort: value('source_port'),
    txChecksumOffload: value('tx_checksum_offload'),
  }),
  ethernet: true,
  families: [4, 6],
  overhead: (family) => HEADROOM[family],
  underlayMtu: true,

  check(d): Problem[] {
    const out: Problem[] = [];
    const o = options(d);
    const { local, remote } = d;
    if (local !== undefined && remote !== undefined && local !== remote && familyOf(local) !== familyOf(remote)) {
      out.push({
        key: 'remote',
        message:
          `${remote} is IPv${familyOf(remote)} but local ${local} is IPv${familyOf(local)}; ` +
          'both ends of a vxlan tunnel must use the same family',
      });
    }
    if (remote !== undefined && addressClass(remote) === 'multicast' && d.dev === undefined)
      out.push({
        key: 'remote',
        message: `${remote} is a multicast group: the kernel needs dev, the device to join it on ("Local interface required for multicast remote destination")`,
      });
    if (local !== undefined && remote !== undefined && familyOf(local) === 6) {
      const ll = (ip: string) => addressClass(ip) === 'link-local';
      // vxlan_config_validate() by ipv6_addr_type(): a link-local local needs a link-local
      // remote, unicast or a group of link scope (ff02::); a global local any but unicast fe80::
      const group = addressClass(remote) === 'multicast';
      const linkScoped = group ? (ipToBuffer(remote)[1] as number) % 16 === 2 : ll(remote);
      if (familyOf(remote) === 6 && (ll(local) ? !linkScoped : !group && ll(remote)))
        out.push({
          key: 'remote',
          message: group
            ? `${remote} is a multicast group wider than the link, and local ${local} is link-local; the kernel refuses it ("Invalid combination of local and remote address scopes"): use a group of link scope (ff02::) or a global local`
            : `local ${local} and remote ${remote} mix a link-local and a global address; the kernel refuses it ("Invalid combination of local and remote address scopes")`,
        });
      else if (ll(local) && d.dev === undefined)
        out.push({
          key: 'local',
          message: `${local} is link-local: the kernel needs dev, the link it belongs to ("Local interface required for link-local local/remote addresses")`,
        });
    }
    if (o.sourcePort !== undefined && !d.written('port')) {
      out.push({
        key: 'source_port',
        warning: true,
        message:
          `source_port is pinned but port is left at the default ${VXLAN_PORT}; set port too if the peer listens elsewhere ` +
          `(e.g. port = ${o.sourcePort.low})`,
      });
    }
    return out;
  },

  /**
   * vxlan_vni_in_use(): one vxlan device per VNI, UDP destination port and underlay family in a
   * namespace, whatever its local, remote and dev. Only a device created with a link-local IPv6
   * local compares devs too, with those already there: a link-local and a global one clash when
   * the global one comes second, so in a file they clash (island creates in file order, but a
   * re-creation can come in any order).
   */
  identity(d) {
    const { vni, port } = options(d);
    if (d.local === undefined || vni === undefined || port === undefined) return undefined;
    const family: Family = familyOf(d.local) === 6 ? 6 : 4;
    const linkLocal = family === 6 && addressClass(d.local) === 'link-local';
    return {
      id: `vxlan IPv${family} vni ${vni} port ${port}`,
      ...(linkLocal ? { apart: d.dev ?? '' } : {}),
      key: 'vni',
      message: (first) =>
        `VNI ${vni} on UDP port ${port} is already used by ${first}: the kernel takes one IPv${family} vxlan ` +
        'device per VNI and port, whatever its local, remote or dev; change vni or port',
    };
  },

  underlay: (decl) => (decl as VxlanTunnel).dev,
  underlayTraffic(decl) {
    const t = decl as VxlanTunnel;
    const group = addressClass(t.remote) === 'multicast';
    const answers = !group && t.sourcePort?.low === t.port && t.sourcePort.high === t.port + 1;
    return { proto: UDP, dport: t.port, ...(answers ? { answers } : {}), words: `udp ${t.port}` };
  },
  udpPort: (d) => options(d).port,

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
      // mtu = "auto" (or none): a packet sent with DF (TCP, island's path MTU probes) keeps it
      // outside, so a hop smaller than the tunnel drops it or says so (ICMP) instead of
      // fragmenting every outer packet: the path MTU shows, and island keeps the tunnel under
      // it. A fixed mtu keeps the kernel's default (unset: the outer packet is fragmented), as
      // a tunnel bigger than its path then still carries traffic, slowly.
      df: t.mtu === undefined ? DF_INHERIT : DF_UNSET,
    };
  },

  graphWords(decl) {
    const t = decl as VxlanTunnel;
    const src = t.sourcePort
      ? t.sourcePort.high - t.sourcePort.low <= 1
        ? `${t.sourcePort.low}`
        : `${t.sourcePort.low}-${t.sourcePort.high - 1}`
      : 'any';
    return [`vxlan vni ${t.vni}`, `udp ${src} → ${t.port}`];
  },

  describe(s): string[] {
    const parts = [`vni ${s.vni}`, describeEnds(s), `port ${s.port}`];
    const last = Number(s.srcHigh) - 1;
    if (s.srcLow) parts.push(`srcport ${s.srcLow === last ? last : `${s.srcLow}-${last}`}`);
    return parts;
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
    attrs.push([DF, u8(Number(s.df))]);
    if (s.dev) attrs.push([LINK, u32(devIndex(String(s.dev), ctx))]);
    return encodeAttrs(attrs);
  },

  decode(data, ctx): Spec {
    // in place, one pass (as rtnl.ts reads a link): a Map and a Buffer for each of the 11
    // attributes it reads were most of decoding a 500-vxlan dump
    let vni = 0;
    let local = '';
    let remote = '';
    let port = 0;
    let srcLow = 0;
    let srcHigh = 0;
    let ttl = 0;
    let link = 0;
    let learning = 1;
    let df = 0;
    if (data)
      eachAttr(data, 0, data.length, (type, at, end) => {
        const n = end - at;
        if (type === ID && n >= 4) vni = get32(data, at);
        else if ((type === LOCAL && n === 4) || (type === LOCAL6 && n === 16)) local = ipAt(data, at, n);
        else if ((type === GROUP && n === 4) || (type === GROUP6 && n === 16)) remote = ipAt(data, at, n);
        else if (type === PORT && n >= 2) port = ((data[at] as number) << 8) | (data[at + 1] as number);
        else if (type === PORT_RANGE && n >= 4) {
          srcLow = ((data[at] as number) << 8) | (data[at + 1] as number);
          srcHigh = ((data[at + 2] as number) << 8) | (data[at + 3] as number);
        } else if (type === TTL && n >= 1) ttl = data[at] as number;
        else if (type === LINK && n >= 4) link = get32(data, at);
        else if (type === LEARNING && n >= 1) learning = data[at] as number;
        else if (type === DF && n >= 1) df = data[at] as number;
      });
    return {
      vni,
      local,
      remote,
      port,
      srcLow,
      srcHigh,
      ttl,
      dev: link ? (ctx.ifname(link) ?? `#${link}`) : '',
      learning,
      df,
    };
  },

  /** see stableMac(): the same address at every re-creation */
  mac: (name, s) => stableMac(`island vxlan ${name} ${s.vni} ${s.local} ${s.remote}`),

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
    return (decl as VxlanTunnel).txChecksumOffload ? undefined : { [TX_CHECKSUM]: false };
  },
  unmanaged: (decl) => ((decl as VxlanTunnel).txChecksumOffload === true ? [TX_CHECKSUM] : []),

  /** vxlan_config_validate: one device per VNI, port and address family (the local address does not count). */
  slot: (s) => `VNI ${s.vni} and port ${s.port}${familyOf(String(s.local)) === 6 ? ' (IPv6)' : ''}`,
};
