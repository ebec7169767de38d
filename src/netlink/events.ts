/**
 * Kernel change notifications: links, addresses and routes (IPv4 and IPv6), and the
 * per-device IP settings (forwarding, rp_filter: RTM_NEWNETCONF, which a write to those
 * sysctls raises) from rtnetlink multicast groups, on a socket of its own.
 *
 * Multicast delivery is lossy: when the receive buffer fills up (a burst of
 * changes, or a busy event loop) the kernel drops messages and the next
 * receive fails with ENOBUFS. That is reported through `onOverflow`; the
 * caller must then re-read the full state (dump), since it no longer knows
 * what changed. The socket stays open and keeps delivering. This relies on
 * the patched native addon (patches/netlink+0.3.0.patch): the stock one
 * aborts the process on ENOBUFS.
 *
 * To miss nothing, subscribe first and dump afterwards. Overflows come in
 * bursts (one per failed receive), so coalesce the resyncs they trigger.
 */
import type { MessageInfo, NetlinkMessage } from 'netlink';
import { createNetlink } from 'netlink/dist/netlink.js';
import { bufferToIp } from './ip.js';
import { parseNetconf, RTM_DELNETCONF, RTM_NEWNETCONF } from './netconf.js';
import { decodeAttrs, readCstr, readU32 } from './nla.js';

export type RtEventKind = 'link' | 'address' | 'route' | 'netconf';

/**
 * One change notification. Fields by kind:
 * - link: ifindex, ifname, family (0; 7 = AF_BRIDGE for bridge-port state,
 *   where 'del' means "left the bridge", not "link deleted")
 * - address: ifindex, family, dst = the address, dstLen = its prefix length,
 *   ifname = the IPv4 label (usually the interface name; none for IPv6)
 * - route: family, dst ('0.0.0.0' / '::' for a default route), dstLen, table,
 *   protocol (RTPROT_* number), ifindex = the output interface, if any
 * - netconf: family, ifindex (NETCONF_ALL -1 for `all`, and `net.ipv4.ip_forward`;
 *   NETCONF_DEFAULT -2 for `default`), and the settings the message carries (a sysctl
 *   write announces the one it changed; a new device, all of them)
 */
export interface RtEvent {
  kind: RtEventKind;
  op: 'new' | 'del';
  ifindex?: number;
  ifname?: string;
  /** link: IFF_UP, and its MTU (the daemon tells a change of an underlay from its echo) */
  up?: boolean;
  mtu?: number;
  family?: number;
  protocol?: number;
  dst?: string;
  dstLen?: number;
  table?: number;
  forwarding?: number;
  rpFilter?: number;
}

export interface EventSource {
  /** Leave the groups and close the socket; idempotent. */
  close(): void;
}

export interface WatchOptions {
  /**
   * SO_RCVBUF in bytes (default 4 MiB). The kernel caps it at
   * net.core.rmem_max and doubles it for bookkeeping; tests set it tiny.
   */
  recvBufferSize?: number;
}

// RTNLGRP_* (include/uapi/linux/rtnetlink.h): LINK, IPV4_IFADDR, IPV6_IFADDR, IPV4_ROUTE,
// IPV6_ROUTE, IPV4_NETCONF, IPV6_NETCONF
const GROUPS = [1, 5, 9, 7, 11, 24, 25];
const NETLINK_ROUTE = 0;
const AF_INET6 = 10;

// include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h
const TYPES: Partial<Record<number, [RtEventKind, 'new' | 'del']>> = {
  16: ['link', 'new'],
  17: ['link', 'del'],
  20: ['address', 'new'],
  21: ['address', 'del'],
  24: ['route', 'new'],
  25: ['route', 'del'],
};
const IFLA = { IFNAME: 3, MTU: 4 } as const;
const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3 } as const;
const RTA = { DST: 1, OIF: 4, TABLE: 15 } as const;
const LINK_ATTRS = [IFLA.IFNAME, IFLA.MTU];
const ADDR_ATTRS = [IFA.ADDRESS, IFA.LOCAL, IFA.LABEL];
const ROUTE_ATTRS = [RTA.DST, RTA.OIF, RTA.TABLE];
const IFF_UP = 0x1;

/**
 * Start watching. `onEvent` gets one call per notification, `onOverflow`
 * one per ENOBUFS. Anything else (a socket error, an unparsable message, an
 * exception thrown by `onEvent`) goes to `onError`, or is thrown (uncaught)
 * when there is none. The open socket keeps the process alive.
 */
export function watchRtnetlink(
  onEvent: (ev: RtEvent) => void,
  onOverflow: () => void,
  onError?: (err: Error) => void,
  opts: WatchOptions = {},
): EventSource {
  const fail = (err: unknown): void => {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!onError) throw e;
    onError(e);
  };

  // node-netlink's NetlinkSocket, not its RtNetlinkSocket: that one's 'message' event drops the
  // message type (new vs del), and it runs the full parser over every message anyway (~40
  // attributes of a link message, on the way from a deletion to its heal); loading it loads
  // its generated rtnetlink tables too (237 KB of source, ~4,400 bound parsers: lab daemon
  // idle ~1 MiB of RSS)
  const nl = createNetlink(NETLINK_ROUTE);
  try {
    nl.setRecvBufferSize(opts.recvBufferSize ?? 4 * 1024 * 1024);
    for (const g of GROUPS) nl.addMembership(g);
  } catch (err) {
    nl.close();
    throw err;
  }
  nl.ref();

  nl.on('message', (msgs: NetlinkMessage[], rinfo: MessageInfo) => {
    if (rinfo.port !== 0) return; // only the kernel speaks on these groups
    for (const m of msgs) {
      try {
        const ev = toEvent(m);
        if (ev) onEvent(ev);
      } catch (err) {
        fail(err);
      }
    }
  });
  nl.on('error', (err) => {
    if (err.code === 'ENOBUFS') onOverflow();
    else fail(err);
  });
  nl.on('invalid', (err: unknown) => fail(err));

  let open = true;
  return {
    close() {
      if (!open) return;
      open = false;
      nl.close();
    },
  };
}

/**
 * The header fields and the few attributes an event carries, read in place: node-netlink's
 * parser decodes every attribute of a link message (~40, statistics included) for each event,
 * on the path from a deletion to its heal.
 */
function toEvent(m: NetlinkMessage): RtEvent | undefined {
  if (m.type === RTM_NEWNETCONF || m.type === RTM_DELNETCONF) return netconfEvent(m);
  const t = TYPES[m.type];
  if (!t) return undefined;
  const [kind, op] = t;
  const d = m.data;
  switch (kind) {
    case 'link': {
      // struct ifinfomsg: family, pad, type, index, flags, change
      if (d.length < 16) return undefined;
      const a = decodeAttrs(d.subarray(16), LINK_ATTRS);
      return {
        kind,
        op,
        ifindex: d.readInt32LE(4),
        ifname: readCstr(a.get(IFLA.IFNAME)),
        family: d.readUInt8(0),
        up: (d.readUInt32LE(8) & IFF_UP) !== 0,
        mtu: readU32(a.get(IFLA.MTU)),
      };
    }
    case 'address': {
      // struct ifaddrmsg: family, prefixlen, flags, scope, index
      if (d.length < 8) return undefined;
      const a = decodeAttrs(d.subarray(8), ADDR_ATTRS);
      const raw = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
      return {
        kind,
        op,
        ifindex: d.readUInt32LE(4),
        ifname: readCstr(a.get(IFA.LABEL)),
        family: d.readUInt8(0),
        dst: raw ? bufferToIp(raw) : undefined,
        dstLen: d.readUInt8(1),
      };
    }
    case 'route': {
      // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
      if (d.length < 12) return undefined;
      const a = decodeAttrs(d.subarray(12), ROUTE_ATTRS);
      const family = d.readUInt8(0);
      const dst = a.get(RTA.DST);
      return {
        kind,
        op,
        ifindex: readU32(a.get(RTA.OIF)),
        family,
        protocol: d.readUInt8(5),
        dst: dst ? bufferToIp(dst) : family === AF_INET6 ? '::' : '0.0.0.0',
        dstLen: d.readUInt8(1),
        table: readU32(a.get(RTA.TABLE)) ?? d.readUInt8(4),
      };
    }
    default:
      return undefined;
  }
}

function netconfEvent(m: NetlinkMessage): RtEvent | undefined {
  if (m.data.length < 4) return undefined;
  const c = parseNetconf(m.data, 0, m.data.length);
  return {
    kind: 'netconf',
    op: m.type === RTM_NEWNETCONF ? 'new' : 'del',
    family: m.data.readUInt8(0),
    ifindex: c.ifindex,
    forwarding: c.forwarding,
    rpFilter: c.rpFilter,
  };
}
