/**
 * The only module that talks rtnetlink requests: a thin, typed layer over
 * node-netlink's RtNetlinkSocket. Everything above it works on plain objects.
 */
import { createRtNetlink, ifla, type RtNetlinkSocket, rt } from 'netlink';
import { bufferToIp, ipToBuffer } from './ip.js';
import { type Attr, encodeAttrs, u32 } from './nla.js';

const NLM_F_ECHO = 0x8;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RT_TABLE_MAIN = 254;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
/** per request: a lost reply fails the request instead of hanging the pass */
const TIMEOUT_MS = 10_000;

/**
 * Request options. localPort 0 as iproute2 does: the kernel answers the
 * sending socket whatever nlmsg_pid says, and node-netlink would otherwise
 * call getsockname() for every message it sends.
 */
const opts = (flags = 0) => ({ flags, timeout: TIMEOUT_MS, localPort: 0 });
const RCVBUF = 1 << 20;
/** IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS: island never reads counters; dumps get ~40% smaller */
const SKIP_STATS = u32(1 << 3);
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;

export interface RawLink {
  ifindex: number;
  name: string;
  up: boolean;
  mtu: number;
  master?: number;
  alias?: string;
  kind?: string;
  /** IFLA_INFO_DATA, decoded by the kind module */
  data?: Buffer;
}

export interface RawAddress {
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefixlen: number;
  scope: number;
}

export interface RawRoute {
  family: 4 | 6;
  dst: string;
  dstLen: number;
  table: number;
  protocol: number;
  type: number;
  gateway?: string;
  oif?: number;
  priority?: number;
}

export interface NewLink {
  name: string;
  kind: string;
  data?: Buffer;
  mtu?: number;
  master?: number;
  up: boolean;
}

/** A kernel refusal: carries the errno name so callers can explain it. */
export class NetlinkError extends Error {
  constructor(
    readonly op: string,
    readonly code: string,
  ) {
    super(`${op}: ${code}`);
  }
}

async function call<T>(op: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const m = /Request rejected: (\w+)/.exec(String((e as Error).message));
    throw new NetlinkError(op, m?.[1] ?? String((e as Error).message));
  }
}

const fam = (f: number | undefined): 4 | 6 | undefined => (f === AF_INET ? 4 : f === AF_INET6 ? 6 : undefined);
const af = (f: 4 | 6) => (f === 4 ? AF_INET : AF_INET6);

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** node-netlink turns known enum values into their names; island compares numbers. */
function enumValue(mapping: Record<string, string | number>, x: string | number | undefined): number {
  if (typeof x === 'number') return x;
  return x === undefined ? 0 : Number(mapping[x] ?? 0);
}

export class Rtnl {
  private readonly sock: RtNetlinkSocket = createRtNetlink();

  constructor() {
    // Replies to pipelined requests (a NEWLINK echo is ~1.5 KiB) must not
    // overflow the socket; a lost ACK would otherwise leave a request hanging
    // until its timeout.
    this.sock.socket.setRecvBufferSize(RCVBUF);
    // An overflow or socket error must not kill the process (node's default
    // for an 'error' event without a listener); the affected requests fail
    // by their timeout and the next pass repairs what they left.
    this.sock.socket.on('error', () => undefined);
  }

  close(): void {
    this.sock.socket.close();
  }

  async links(): Promise<RawLink[]> {
    const msgs = await call('dump links', this.sock.getLinks({}, { extMask: SKIP_STATS }, opts()));
    return msgs.map((m) => {
      const info = m.attrs.linkinfo ? ifla.parseInfo(m.attrs.linkinfo) : undefined;
      return {
        ifindex: m.data.index ?? 0,
        name: m.attrs.ifname ?? '',
        up: Boolean(m.data.flags?.up),
        mtu: m.attrs.mtu ?? 0,
        master: m.attrs.master || undefined,
        alias: m.attrs.ifalias || undefined,
        kind: info?.kind,
        data: info?.data,
      };
    });
  }

  async addresses(): Promise<RawAddress[]> {
    const msgs = await call('dump addresses', this.sock.getAddresses(undefined, undefined, opts()));
    const out: RawAddress[] = [];
    for (const m of msgs) {
      const family = fam(m.data.family);
      const raw = m.attrs.local ?? m.attrs.address;
      if (!family || !raw) continue;
      out.push({
        ifindex: m.data.index ?? 0,
        family,
        address: bufferToIp(raw),
        prefixlen: m.data.prefixlen ?? 0,
        scope: m.data.scope ?? 0,
      });
    }
    return out;
  }

  async routes(): Promise<RawRoute[]> {
    const msgs = await call('dump routes', this.sock.getRoutes(undefined, undefined, opts()));
    const out: RawRoute[] = [];
    for (const m of msgs) {
      const family = fam(m.data.family);
      if (!family) continue;
      const dstLen = m.data.dstLen ?? 0;
      out.push({
        family,
        dst: m.attrs.dst ? bufferToIp(m.attrs.dst) : family === 4 ? '0.0.0.0' : '::',
        dstLen,
        table: m.attrs.table ?? m.data.table ?? 0,
        protocol: enumValue(rt.RouteProtocol, m.data.protocol),
        type: enumValue(rt.RouteType, m.data.type),
        gateway: m.attrs.gateway ? bufferToIp(m.attrs.gateway) : undefined,
        oif: m.attrs.oif,
        priority: m.attrs.priority,
      });
    }
    return out;
  }

  /** ifindex of a link by name, or undefined when there is none */
  async linkIndex(name: string): Promise<number | undefined> {
    try {
      const [m] = await this.sock.getLink({}, { ifname: name }, opts());
      return m?.data.index;
    } catch {
      return undefined;
    }
  }

  /** Creates the link and returns its ifindex (NLM_F_ECHO saves a lookup). */
  async createLink(l: NewLink): Promise<number> {
    const info: Attr[] = [[IFLA_INFO_KIND, cstr(l.kind)]];
    if (l.data) info.push([IFLA_INFO_DATA, l.data]);
    const attrs: ifla.LinkAttrs = { ifname: l.name, linkinfo: encodeAttrs(info) };
    if (l.mtu !== undefined) attrs.mtu = l.mtu;
    if (l.master !== undefined) attrs.master = l.master;
    const [echo] = await call(
      `create ${l.kind} ${l.name}`,
      this.sock.newLink({ flags: l.up ? { up: true } : {}, change: { up: true } }, attrs, {
        ...opts(NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO),
      }),
    );
    const index = echo?.data.index ?? (await this.linkIndex(l.name));
    if (index === undefined) throw new NetlinkError(`create ${l.kind} ${l.name}`, 'link vanished right after creation');
    return index;
  }

  async setLink(
    ifindex: number,
    name: string,
    ch: { up?: boolean; mtu?: number; master?: number; alias?: string },
  ): Promise<void> {
    const attrs: ifla.LinkAttrs = {};
    if (ch.mtu !== undefined) attrs.mtu = ch.mtu;
    if (ch.master !== undefined) attrs.master = ch.master;
    if (ch.alias !== undefined) attrs.ifalias = ch.alias;
    const data =
      ch.up === undefined
        ? { index: ifindex }
        : { index: ifindex, flags: ch.up ? { up: true as const } : {}, change: { up: true as const } };
    await call(`set link ${name}`, this.sock.setLink(data, attrs, opts()));
  }

  async deleteLink(ifindex: number, name: string): Promise<void> {
    await call(`delete link ${name}`, this.sock.delLink({ index: ifindex }, undefined, opts()));
  }

  async addAddress(ifindex: number, family: 4 | 6, address: string, prefixlen: number): Promise<void> {
    const raw = ipToBuffer(address);
    await call(
      `add address ${address}/${prefixlen}`,
      this.sock.newAddress(
        // No DAD: tunnel and bridge addresses are assigned by one authority
        // (this file); waiting ~2 s in "tentative" would delay routes via them.
        { family: af(family), prefixlen, index: ifindex, flags: family === 6 ? { nodad: true } : {} },
        { local: raw, address: raw },
        opts(NLM_F_CREATE | NLM_F_REPLACE),
      ),
    );
  }

  async deleteAddress(ifindex: number, family: 4 | 6, address: string, prefixlen: number): Promise<void> {
    const raw = ipToBuffer(address);
    await call(
      `delete address ${address}/${prefixlen}`,
      this.sock.delAddress({ family: af(family), prefixlen, index: ifindex }, { local: raw, address: raw }, opts()),
    );
  }

  async replaceRoute(r: RawRoute): Promise<void> {
    await call(
      `add route ${r.dst}/${r.dstLen}`,
      this.sock.newRoute(
        {
          family: af(r.family),
          dstLen: r.dstLen,
          table: r.table,
          protocol: r.protocol,
          scope: r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
          type: RTN_UNICAST,
        },
        routeAttrs(r),
        opts(NLM_F_CREATE | NLM_F_REPLACE),
      ),
    );
  }

  async deleteRoute(r: RawRoute): Promise<void> {
    await call(
      `delete route ${r.dst}/${r.dstLen}`,
      this.sock.delRoute(
        { family: af(r.family), dstLen: r.dstLen, table: r.table, protocol: r.protocol, type: RTN_UNICAST },
        routeAttrs(r),
        opts(),
      ),
    );
  }
}

function routeAttrs(r: RawRoute) {
  return {
    dst: r.dstLen > 0 ? ipToBuffer(r.dst) : undefined,
    gateway: r.gateway ? ipToBuffer(r.gateway) : undefined,
    oif: r.oif,
    priority: r.priority,
    table: r.table,
  };
}
