/**
 * The only module that talks rtnetlink requests. It sends and reads through node-netlink's
 * raw socket (the native addon) and does the rest itself: sequence numbers, ACKs, dumps, and
 * the rtnetlink payloads, of which it reads only the few attributes island compares.
 * node-netlink's generic rt layer parses every attribute of every message (statistics,
 * per-family tables...), which made a 10-link resync cost ~20 ms of CPU and a 500-tunnel
 * converge 3x the kernel's own time; its NetlinkSocket made an object of every message's
 * header, and its reads peeked at each datagram's size first. Everything above this module
 * works on plain objects.
 */
import { availableParallelism } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket, type RawNetlinkSocketOptions } from 'netlink/dist/raw.js';
import { strictCheck } from './addon.js';
import { NetlinkError } from './errors.js';
import { bufferToIp, familyOf, ipAt, ipToBuffer } from './ip.js';
import { parseNetconf, RTM_GETNETCONF } from './netconf.js';
import {
  type AttrIn,
  decodeAttrs,
  eachAttr,
  encodeAttrs,
  get32,
  NLA_F_NESTED,
  NLM_F_DUMP,
  NLMSG_HDRLEN,
  put32,
  putHeader,
  readU32,
  textAt,
  u32,
} from './nla.js';

const NLM_F_ECHO = 0x8;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RT_TABLE_MAIN = 254;
const RT_TABLE_COMPAT = 252;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
export const RTN_UNICAST = 1;
/** rtm_type of a route to one of this host's own addresses */
export const RTN_LOCAL = 2;
const IFA_F_NODAD = 0x02;
/** per request: a lost reply fails the request instead of hanging the pass */
const TIMEOUT_MS = 10_000;

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RCVBUF = 1 << 20;
/**
 * Each read's buffer, and so each datagram's size: the kernel fills a dump's datagrams up to
 * what the reader's last read could take (at most ~32 KiB), so reads this size take a dump in
 * ~8x fewer system calls than reads sized to NLMSG_GOODSIZE, and no peek comes before each.
 */
const READ_SIZE = 32 << 10;
/**
 * Requests that leave together on a socket that sends on a thread (see boundary()): a batch small
 * enough for the kernel to start on while the next ones are built (16 links of an apply from
 * empty), big enough that the thread's wakeups cost little; 16 to 128 measured the same within
 * the runs' spread
 */
const THREAD_BATCH = 64;
/** IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS: island never reads counters; dumps get ~40% smaller */
const SKIP_STATS = u32(1 << 3);
const NETLINK_ROUTE = 0;
// include/uapi/linux/rtnetlink.h
const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWLINKPROP: 108,
} as const;
// if_link.h, if_addr.h, rtnetlink.h attribute numbers
const IFLA = {
  ADDRESS: 1,
  IFNAME: 3,
  MTU: 4,
  LINK: 5,
  MASTER: 10,
  LINKINFO: 18,
  IFALIAS: 20,
  AF_SPEC: 26,
  EXT_MASK: 29,
  PROP_LIST: 52,
  ALT_IFNAME: 53,
} as const;
const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8 } as const;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
const IFF_UP = 0x1;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
// if_link.h: IFLA_AF_SPEC > AF_INET6 > IFLA_INET6_ADDR_GEN_MODE = IN6_ADDR_GEN_MODE_NONE
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;

export interface RawLink {
  ifindex: number;
  name: string;
  up: boolean;
  mtu: number;
  master?: number;
  /** IFLA_LINK: the device it sits on (a macvlan's parent, a veth's peer), in its own namespace */
  link?: number;
  alias?: string;
  /** alternative names (`ip link property add ... altname`) */
  altnames?: string[];
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

/** One device's IPv4 configuration (net.ipv4.conf.DEV), or all's or default's (NETCONF_ALL, NETCONF_DEFAULT). */
export interface RawNetconf {
  ifindex: number;
  rpFilter?: number;
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

/** The kernel's answer to "how would this host send to dst?" (RTM_GETROUTE, as `ip route get`). */
export interface RouteLookup {
  family: 4 | 6;
  /** rtm_type: RTN_UNICAST (1), RTN_LOCAL (2) for an address of this host, ... */
  type: number;
  gateway?: string;
  oif?: number;
  /** the source address the kernel would pick */
  prefsrc?: string;
}

export interface NewLink {
  name: string;
  kind: string;
  data?: Buffer;
  /** hardware address; the kernel picks a random one when absent */
  mac?: Buffer;
  mtu?: number;
  master?: number;
  /** IFLA_LINK: the device it sits on (a macvlan's parent) */
  link?: number;
  up: boolean;
  /**
   * The ifindex it is to have (the kernel takes it, or refuses with EBUSY): requests about the
   * link can then follow its creation in the same sendmsg, without waiting for its echo.
   */
  ifindex?: number;
}

// a kernel refusal, carrying the errno name so callers can explain it
export { NetlinkError };

/**
 * A dump's reader of one message, where it lies in the datagram (its payload between at and
 * end of b): what it makes of it, undefined for a message it passes over. No Buffer is made
 * for a message (a 500-tunnel dump answers ~2,000).
 */
type Part<T> = (b: Buffer, at: number, end: number) => T | undefined;

interface Queued {
  op: string;
  type: number;
  flags: number;
  payload: Buffer;
  /** a dump's reader of each message */
  part?: Part<unknown>;
  resolve: (answer: unknown[]) => void;
  reject: (e: Error) => void;
}

/** A request sent and not answered yet, by its sequence number. */
interface Open {
  /** a dump's messages as its reader made them, gathered until NLMSG_DONE */
  parts?: unknown[];
  part?: Part<unknown>;
  /** the message type a dump answers with (NEWxxx for GETxxx) */
  partType: number;
  /** answered: a reply, an ACK or a refusal */
  answer(replies: unknown[] | Error): void;
}

/** An NLMSG_ERROR message: an ACK (errno 0: no reply) or a refusal, by the errno's name. */
function refusal(b: Buffer, off: number, len: number): Buffer[] | Error {
  if (len < NLMSG_HDRLEN + 4) return new Error('Invalid ERROR message length');
  const errno = get32(b, off + NLMSG_HDRLEN) | 0;
  if (errno === 0) return [];
  let code = String(errno);
  try {
    code = getSystemErrorName(errno);
  } catch {}
  return new NetlinkError('', code);
}

const fam = (f: number | undefined): 4 | 6 | undefined => (f === AF_INET ? 4 : f === AF_INET6 ? 6 : undefined);
const af = (f: 4 | 6) => (f === 4 ? AF_INET : AF_INET6);

/**
 * What a request in flight fails with when its socket reports an error (ENOBUFS: the kernel
 * dropped answers it had no room for): its answer may be the one dropped.
 */
const LOST = 'rtnetlink socket error';

export interface RtnlOptions {
  /**
   * Send on a thread of libuv's pool (the island-patched addon's SendOnThread, in order, one
   * request batch after another) where the process may use a second CPU: the kernel's work on a
   * batch, done inside sendmsg, runs beside the JavaScript that builds the next one. For a command
   * that sends many requests once; a daemon's heal sends a few, for which the hop to the thread
   * would only add its wakeup.
   */
  sendThread?: boolean;
}

export class Rtnl {
  private sock: RawNetlinkSocket;
  private readonly open = new Map<number, Open>();
  private seq = 0;
  /** whether the socket sends on a thread (the addon may not: then it sends here) */
  private threaded = false;

  constructor(private readonly opts: RtnlOptions = {}) {
    this.sock = this.socket();
  }

  private socket(): RawNetlinkSocket {
    // its types make the buffer sizes mandatory: the receive buffer is set below, the send one stays
    const sock = new RawNetlinkSocket(NETLINK_ROUTE, {
      messagePeeking: false,
      msgBufferSize: READ_SIZE,
    } as RawNetlinkSocketOptions);
    // Replies to pipelined requests (a NEWLINK echo is ~1.5 KiB) must not
    // overflow the socket; a lost ACK would otherwise leave a request hanging
    // until its timeout.
    sock.setRecvBufferSize(RCVBUF);
    // an error event must not kill the process (node's default without a listener)
    sock.on('error', (e: NodeJS.ErrnoException) => this.lost(sock, e));
    sock.on('message', (b: Buffer) => this.receive(b));
    // larger than any reply island asks for: whose it was is in its first header, which is all there is of it
    sock.on('truncatedMessage', (b: Buffer) => {
      if (b.length >= NLMSG_HDRLEN) this.open.get(get32(b, 8))?.answer(new Error('reply truncated'));
    });
    // only a request in flight keeps the process alive
    sock.unref();
    // with one CPU the thread only takes turns with this one: an apply of 500 tunnels from empty
    // pinned to one was ~6 ms slower on it, ~17 ms faster with two
    this.threaded = this.opts.sendThread === true && availableParallelism() > 1 && sock.sendOnThread();
    return sock;
  }

  /**
   * The socket reported an error (ENOBUFS: the kernel dropped answers, whose it cannot say):
   * every request in flight fails at once, instead of waiting out TIMEOUT_MS for an answer
   * that may never come (a read is asked again: read()), and later ones go out on a new socket.
   */
  private lost(sock: RawNetlinkSocket, e: NodeJS.ErrnoException): void {
    if (sock !== this.sock || this.closed) return;
    this.sock = this.socket();
    this.strictChecked = undefined;
    sock.close();
    // in the order sent: a batch's last request, answered, would settle those before it as done
    const error = new Error(`${LOST}: ${e.code ?? e.message}`);
    for (const o of [...this.open.values()]) o.answer(error);
  }

  close(): void {
    this.closed = true;
    this.sock.close();
    // what is still in flight fails by its timeout, which must not keep the process alive
    for (const t of this.inFlight) t.unref();
  }

  /** Each message of a datagram to the request it answers: a dump's parts gathered, any other the answer. */
  private receive(b: Buffer): void {
    for (let off = 0; off + NLMSG_HDRLEN <= b.length; ) {
      const len = get32(b, off);
      if (len < NLMSG_HDRLEN || off + len > b.length) return;
      const type = (b[off + 4] as number) | ((b[off + 5] as number) << 8);
      const o = this.open.get(get32(b, off + 8));
      if (o?.parts && type === o.partType) {
        // read where it lies, by the dump's reader (every dump names one)
        const v = o.part?.(b, off + NLMSG_HDRLEN, off + len);
        if (v !== undefined) o.parts.push(v);
      } else if (o?.parts && type === NLMSG_DONE) o.answer(o.parts);
      else if (type === NLMSG_ERROR) {
        const r = refusal(b, off, len);
        // a dump ends with NLMSG_DONE; an ACK of one, if a kernel sent it, says nothing
        if (!(o?.parts && !(r instanceof Error))) o?.answer(r);
      } else if (o && !o.parts && type >= 16) o.answer([b.subarray(off + NLMSG_HDRLEN, off + len)]);
      off += (len + 3) & ~3;
    }
  }

  private queue: Queued[] = [];
  private strictChecked?: boolean;

  /** Whether the kernel filters this socket's dumps; set on the first that would use it. */
  private strict(): boolean {
    if (this.strictChecked === undefined) {
      this.strictChecked = strictCheck(NETLINK_ROUTE, this.sock.address().port);
    }
    return this.strictChecked;
  }
  /** the timeouts of the batches sent and not all answered */
  private readonly inFlight = new Set<NodeJS.Timeout>();
  private closed = false;

  /**
   * A request and its reply (none for an ACK; a kernel refusal rejects). Requests made in the
   * same turn of the event loop leave together in one sendmsg: the kernel reads a buffer's
   * messages one after another, each answered on its own, a refusal included (netlink_rcv_skb).
   */
  private send(op: string, type: number, payload: Buffer, flags: number, part?: Part<unknown>): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const r = resolve as (answer: unknown[]) => void;
      this.queue.push({ op, type, flags: flags | NLM_F_REQUEST, payload, part, resolve: r, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /**
   * The requests made so far are whole (an action's: a link's create and its marks): on a socket
   * that sends on a thread, they leave now when they are a batch's worth, so that the kernel works
   * on them while the caller makes the next ones. A link's requests never leave in two sendmsgs: a
   * kill -9 between the two would leave it made and unmarked.
   */
  boundary(): void {
    if (this.threaded && this.queue.length >= THREAD_BATCH) this.flush();
  }

  private flush(): void {
    // sent already (boundary()) before the turn's end
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    // closed meanwhile (a daemon stopping mid-pass): failed when a sent request would have
    // timed out, not at once (a pass failing during shutdown would log an error for nothing),
    // and, like those (close()), without keeping the process alive for it
    if (this.closed) {
      setTimeout(() => {
        for (const q of batch) q.reject(new NetlinkError(q.op, 'Netlink socket is closed'));
      }, TIMEOUT_MS).unref();
      return;
    }
    const mine = new Map<number, Queued>();
    let timer: NodeJS.Timeout | undefined;
    // the first answer settles a request: an echo's ACK, which follows it, finds none
    const settle = (seq: number): Queued | undefined => {
      const q = mine.get(seq);
      if (!q) return undefined;
      mine.delete(seq);
      this.open.delete(seq);
      if (!this.open.size && !this.closed) this.sock.unref();
      if (!mine.size && timer) {
        clearTimeout(timer);
        this.inFlight.delete(timer);
      }
      return q;
    };
    // Only the last request asks for an ACK: the kernel answers a refusal whether asked or not,
    // and takes the requests in order, so when the last one's answer comes every request before
    // it without an answer of its own was carried out (500 tunnels: 2,000 ACKs fewer, each a
    // recvmsg and a callback). A dump's parts come as the socket is read, after the requests
    // behind it: a batch with a dump has every request acknowledged.
    const ackAll = batch.some((q) => (q.flags & NLM_F_DUMP) === NLM_F_DUMP);
    const last = batch[batch.length - 1];
    let size = 0;
    for (const q of batch) size += NLMSG_HDRLEN + ((q.payload.length + 3) & ~3);
    // one buffer for the batch: nlmsghdr, payload, padding to 4 bytes, for each request
    const out = Buffer.alloc(size);
    let off = 0;
    for (const q of batch) {
      this.seq = (this.seq % 0xffffffff) + 1;
      const seq = this.seq;
      const flags = q.flags | (ackAll || q === last ? NLM_F_ACK : 0);
      putHeader(out, off, q.payload.length, q.type, flags, seq);
      q.payload.copy(out, off + NLMSG_HDRLEN);
      off += NLMSG_HDRLEN + ((q.payload.length + 3) & ~3);
      mine.set(seq, q);
      this.open.set(seq, {
        parts: (q.flags & NLM_F_DUMP) === NLM_F_DUMP ? [] : undefined,
        part: q.part,
        partType: q.type - 2,
        answer: (r) => {
          if (!settle(seq)) return;
          if (q === last && !ackAll) for (const s of [...mine.keys()]) settle(s)?.resolve([]);
          if (r instanceof Error) q.reject(new NetlinkError(q.op, r instanceof NetlinkError ? r.code : r.message));
          else q.resolve(r);
        },
      });
    }
    this.sock.ref();
    const fail = (error: Error) => {
      for (const seq of [...mine.keys()]) {
        const q = settle(seq);
        q?.reject(new NetlinkError(q.op, error.message));
      }
    };
    // per request: a lost reply fails it instead of hanging the pass
    timer = setTimeout(() => fail(new Error('Timeout has been reached')), TIMEOUT_MS);
    this.inFlight.add(timer);
    try {
      this.sock.send(out, { port: 0 }, (error) => error && fail(error));
    } catch (e) {
      // closed meanwhile
      fail(e as Error);
    }
  }

  /** A request answered by an object (an echo, a GET), or by none (an ACK: no element). */
  private request(op: string, type: number, payload: AttrIn[] | Buffer, flags = 0, head?: Buffer): Promise<Buffer[]> {
    return this.send(op, type, Array.isArray(payload) ? encodeAttrs(payload, head) : payload, flags);
  }

  /** A request that only asks (a dump, a GET): one that failed by a socket error is asked once more. */
  private async read(op: string, type: number, payload: Buffer, flags = 0, part?: Part<unknown>): Promise<Buffer[]> {
    try {
      return await this.send(op, type, payload, flags, part);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code.startsWith(LOST))) throw e;
      return this.send(op, type, payload, flags, part);
    }
  }

  /**
   * A change the kernel only acknowledges: no promise more than the request's own (a 500-tunnel
   * apply makes 3,000 of these, and an async wrapper was three promises more each).
   */
  private act(op: string, type: number, attrs: AttrIn[], head: Buffer, flags = 0): Promise<void> {
    return this.send(op, type, encodeAttrs(attrs, head), flags) as Promise<unknown> as Promise<void>;
  }

  /** Each message of a dump, as `part` reads it where it lies. */
  private dump<T>(op: string, type: number, payload: Buffer, part: Part<T>): Promise<T[]> {
    return this.read(op, type, payload, NLM_F_DUMP, part) as Promise<unknown[]> as Promise<T[]>;
  }

  links(): Promise<RawLink[]> {
    const req = encodeAttrs([[IFLA.EXT_MASK, SKIP_STATS]], ifinfomsg(0, 0, 0));
    return this.dump('dump links', RTM.GETLINK, req, parseLink);
  }

  addresses(): Promise<RawAddress[]> {
    return this.dump('dump addresses', RTM.GETADDR, Buffer.alloc(8), parseAddress);
  }

  /** rp_filter of every device, all and default in one dump (`ip netconf`), where /proc/sys takes a file each. */
  netconf4(): Promise<RawNetconf[]> {
    // struct netconfmsg: the family, padded to 4
    const req = Buffer.alloc(4);
    req[0] = AF_INET;
    return this.dump('dump netconf', RTM_GETNETCONF, req, netconfEntry);
  }

  /** Every route, or those of one table and type (`main`: the main table's unicast routes). */
  routes(only?: { table: number; type: number }): Promise<RawRoute[]> {
    const req = Buffer.alloc(12);
    if (only && only.table < 256 && this.strict()) {
      // the kernel sends those only (strict checking: see addon.ts)
      req[4] = only.table;
      req[7] = only.type;
    }
    return this.dump('dump routes', RTM.GETROUTE, req, (d, p, end) => parseRoute(d, p, end, only));
  }

  /**
   * The route the kernel picks for a packet this host sends to dst (no route: a NetlinkError,
   * ENETUNREACH; an unreachable, prohibit or blackhole route: EHOSTUNREACH, EACCES, EINVAL).
   */
  async routeGet(dst: string): Promise<RouteLookup> {
    const family = familyOf(dst);
    if (!family) throw new NetlinkError(`route to ${dst}`, 'not an IP address');
    const h = Buffer.alloc(12);
    h.writeUInt8(af(family), 0);
    h.writeUInt8(family === 4 ? 32 : 128, 1);
    const req = encodeAttrs([[RTA.DST, ipToBuffer(dst)]], h);
    const [d] = await this.read(`route to ${dst}`, RTM.GETROUTE, req);
    if (!d) throw new NetlinkError(`route to ${dst}`, 'no answer');
    const a = decodeAttrs(d.subarray(12));
    const gateway = a.get(RTA.GATEWAY);
    const prefsrc = a.get(RTA.PREFSRC);
    return {
      family,
      type: d[7] as number,
      gateway: gateway ? bufferToIp(gateway) : undefined,
      oif: readU32(a.get(RTA.OIF)),
      prefsrc: prefsrc ? bufferToIp(prefsrc) : undefined,
    };
  }

  /** ifindex of a link by name, or undefined when there is none */
  async linkIndex(name: string): Promise<number | undefined> {
    try {
      const attrs: AttrIn[] = [
        [IFLA.IFNAME, name],
        [IFLA.EXT_MASK, SKIP_STATS],
      ];
      const [d] = await this.read(`get link ${name}`, RTM.GETLINK, encodeAttrs(attrs, ifinfomsg(0, 0, 0)));
      return d ? get32(d, 4) | 0 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Creates the link and returns its ifindex (the requested one, or from NLM_F_ECHO: no lookup). */
  createLink(l: NewLink): Promise<number> {
    const info: AttrIn[] = [[IFLA_INFO_KIND, l.kind]];
    if (l.data) info.push([IFLA_INFO_DATA, l.data]);
    const attrs: AttrIn[] = [
      [IFLA.IFNAME, l.name],
      [IFLA.LINKINFO, encodeAttrs(info)],
    ];
    if (l.mtu !== undefined) attrs.push([IFLA.MTU, l.mtu]);
    if (l.mac !== undefined) attrs.push([IFLA.ADDRESS, l.mac]);
    if (l.master !== undefined) attrs.push([IFLA.MASTER, l.master]);
    if (l.link !== undefined) attrs.push([IFLA.LINK, l.link]);
    const op = `create ${l.kind} ${l.name}`;
    const head = ifinfomsg(l.ifindex ?? 0, l.up ? IFF_UP : 0, IFF_UP);
    const index = l.ifindex;
    if (index) return this.request(op, RTM.NEWLINK, attrs, NLM_F_CREATE | NLM_F_EXCL, head).then(() => index);
    return this.request(op, RTM.NEWLINK, attrs, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO, head).then(async ([echo]) => {
      const i = echo ? get32(echo, 4) | 0 : await this.linkIndex(l.name);
      if (i === undefined) throw new NetlinkError(op, 'link vanished right after creation');
      return i;
    });
  }

  /**
   * One request, which the kernel carries out whole under its lock: a rename (the link must be
   * down for it: the kernel renames before it applies `up`), the alias, mtu, master, up.
   */
  setLink(
    ifindex: number,
    name: string,
    ch: { up?: boolean; mtu?: number; master?: number; alias?: string; rename?: string },
  ): Promise<void> {
    const attrs: AttrIn[] = [];
    if (ch.rename !== undefined) attrs.push([IFLA.IFNAME, ch.rename]);
    if (ch.mtu !== undefined) attrs.push([IFLA.MTU, ch.mtu]);
    if (ch.master !== undefined) attrs.push([IFLA.MASTER, ch.master]);
    // not NUL-terminated, as iproute2 sends it
    if (ch.alias !== undefined) attrs.push([IFLA.IFALIAS, Buffer.from(ch.alias)]);
    const head = ch.up === undefined ? ifinfomsg(ifindex, 0, 0) : ifinfomsg(ifindex, ch.up ? IFF_UP : 0, IFF_UP);
    return this.act(`set link ${name}`, RTM.SETLINK, attrs, head);
  }

  /**
   * No IPv6 link-local address when the link comes up (ip link set X addrgenmode none), hence
   * none of the router solicitations and MLD reports a link sends at once when it has one.
   * The kernel refuses it on a link that cannot carry IPv6 at all (mtu below 1280, IPv6
   * disabled at boot): EAFNOSUPPORT, which says the same.
   */
  noLinkLocal6(ifindex: number, name: string): Promise<void> {
    const req = this.act(`set addrgenmode none on ${name}`, RTM.SETLINK, NO_LINK_LOCAL6, ifinfomsg(ifindex, 0, 0));
    return req.catch((e: unknown) => {
      if (!(e instanceof NetlinkError && e.code === 'EAFNOSUPPORT')) throw e;
    });
  }

  /**
   * The kind's own attributes of an existing link, changed in place (a macvlan's mode): an
   * RTM_NEWLINK without NLM_F_CREATE reaches the kind's changelink; RTM_SETLINK never does.
   */
  changeLink(ifindex: number, name: string, kind: string, data: Buffer): Promise<void> {
    const info = encodeAttrs([
      [IFLA_INFO_KIND, kind],
      [IFLA_INFO_DATA, data],
    ]);
    return this.act(`change ${kind} ${name}`, RTM.NEWLINK, [[IFLA.LINKINFO, info]], ifinfomsg(ifindex, 0, 0));
  }

  /** RTM_NEWLINKPROP: give the link an alternative name (kernel 5.5+). */
  addAltname(ifindex: number, name: string, altname: string): Promise<void> {
    const list = encodeAttrs([[IFLA.ALT_IFNAME, altname]]);
    const attrs: AttrIn[] = [[IFLA.PROP_LIST | NLA_F_NESTED, list]];
    const op = `add altname ${altname} to ${name}`;
    return this.act(op, RTM.NEWLINKPROP, attrs, ifinfomsg(ifindex, 0, 0), NLM_F_CREATE | NLM_F_EXCL);
  }

  deleteLink(ifindex: number, name: string): Promise<void> {
    return this.act(`delete link ${name}`, RTM.DELLINK, [], ifinfomsg(ifindex, 0, 0));
  }

  addAddress(ifindex: number, family: 4 | 6, address: string, prefixlen: number): Promise<void> {
    // No DAD: tunnel and bridge addresses are assigned by one authority
    // (this file); waiting ~2 s in "tentative" would delay routes via them.
    const flags = family === 6 ? IFA_F_NODAD : 0;
    const [head, attrs] = addrMsg(ifindex, family, address, prefixlen, flags);
    return this.act(`add address ${address}/${prefixlen}`, RTM.NEWADDR, attrs, head, NLM_F_CREATE | NLM_F_REPLACE);
  }

  deleteAddress(ifindex: number, family: 4 | 6, address: string, prefixlen: number): Promise<void> {
    const [head, attrs] = addrMsg(ifindex, family, address, prefixlen, 0);
    return this.act(`delete address ${address}/${prefixlen}`, RTM.DELADDR, attrs, head);
  }

  replaceRoute(r: RawRoute): Promise<void> {
    const [head, attrs] = routeMsg(r, r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    return this.act(`add route ${r.dst}/${r.dstLen}`, RTM.NEWROUTE, attrs, head, NLM_F_CREATE | NLM_F_REPLACE);
  }

  deleteRoute(r: RawRoute): Promise<void> {
    // scope NOWHERE (255) on delete: match any scope, as iproute2 does
    const [head, attrs] = routeMsg(r, 255);
    return this.act(`delete route ${r.dst}/${r.dstLen}`, RTM.DELROUTE, attrs, head);
  }
}

/** `addrgenmode none`: IFLA_AF_SPEC > AF_INET6 > IFLA_INET6_ADDR_GEN_MODE */
const NO_LINK_LOCAL6: AttrIn[] = [
  [
    IFLA.AF_SPEC,
    encodeAttrs([[AF_INET6, encodeAttrs([[IFLA_INET6_ADDR_GEN_MODE, Buffer.from([IN6_ADDR_GEN_MODE_NONE])]])]]),
  ],
];

function ifinfomsg(index: number, flags: number, change: number): Buffer {
  const b = Buffer.alloc(16);
  put32(b, 4, index);
  put32(b, 8, flags);
  put32(b, 12, change);
  return b;
}

/** the link attributes parseLink reads, by type (1: read) */
const LINK_READS = new Uint8Array(64);
for (const t of [IFLA.IFNAME, IFLA.MTU, IFLA.LINK, IFLA.MASTER, IFLA.LINKINFO, IFLA.IFALIAS, IFLA.PROP_LIST])
  LINK_READS[t] = 1;

/**
 * A link's dump message, in one pass over its attributes: numbers and names read where they
 * lie, only the kind's data kept as a Buffer (a Map and a Buffer for each attribute kept were
 * most of a 500-link dump's decoding: 5.5 -> ~2.5 ms).
 */
function parseLink(d: Buffer, p: number, stop: number): RawLink {
  let name = '';
  let mtu = 0;
  let master: number | undefined;
  let link: number | undefined;
  let alias: string | undefined;
  let kind: string | undefined;
  let data: Buffer | undefined;
  let altnames: string[] | undefined;
  // the top level inline, not through eachAttr: ~40 attributes a link, a call each in cold code;
  // the ~33 it does not read passed over by one table look, not seven comparisons each
  for (let off = p + 16; off + 4 <= stop; ) {
    const len = (d[off] as number) | ((d[off + 1] as number) << 8);
    if (len < 4 || off + len > stop) break;
    const type = (d[off + 2] as number) | (((d[off + 3] as number) & 0x3f) << 8);
    const at = off + 4;
    const end = off + len;
    off += (len + 3) & ~3;
    if (LINK_READS[type] !== 1) continue;
    if (type === IFLA.IFNAME) name = textAt(d, at, end);
    else if (type === IFLA.MTU) mtu = end - at >= 4 ? get32(d, at) : 0;
    else if (type === IFLA.MASTER) master = (end - at >= 4 && get32(d, at)) || undefined;
    else if (type === IFLA.LINK) link = (end - at >= 4 && get32(d, at)) || undefined;
    else if (type === IFLA.IFALIAS) alias = textAt(d, at, end) || undefined;
    else if (type === IFLA.LINKINFO)
      eachAttr(d, at, end, (t, a, e) => {
        if (t === IFLA_INFO_KIND) kind = textAt(d, a, e);
        else if (t === IFLA_INFO_DATA) data = d.subarray(a, e);
      });
    else if (type === IFLA.PROP_LIST) {
      const names: string[] = [];
      eachAttr(d, at, end, (t, a, e) => {
        if (t === IFLA.ALT_IFNAME) names.push(textAt(d, a, e));
      });
      if (names.length) altnames = names;
    }
  }
  return {
    ifindex: get32(d, p + 4) | 0,
    name,
    up: (get32(d, p + 8) & IFF_UP) !== 0,
    mtu,
    master,
    link,
    alias,
    ...(altnames ? { altnames } : {}),
    kind,
    data,
  };
}

/** An address's dump message (its ifaddrmsg at p): IFA_LOCAL, else IFA_ADDRESS (a point-to-point peer's). */
function parseAddress(d: Buffer, p: number, stop: number): RawAddress | undefined {
  const family = fam(d[p] as number);
  if (!family) return undefined;
  let local: string | undefined;
  let address: string | undefined;
  eachAttr(d, p + 8, stop, (type, at, end) => {
    if (type === IFA.LOCAL) local = ipAt(d, at, end - at);
    else if (type === IFA.ADDRESS) address = ipAt(d, at, end - at);
  });
  const text = local ?? address;
  if (text === undefined) return undefined;
  return { ifindex: get32(d, p + 4), family, address: text, prefixlen: d[p + 1] as number, scope: d[p + 3] as number };
}

function netconfEntry(d: Buffer, p: number, stop: number): RawNetconf | undefined {
  const { ifindex, rpFilter } = parseNetconf(d, p, stop);
  return ifindex === undefined ? undefined : { ifindex, ...(rpFilter === undefined ? {} : { rpFilter }) };
}

/**
 * A route's dump message (its rtmsg at p); `only` a table and type: the others are passed over
 * before they are decoded (the local table holds two routes per address, and IPv6 one more per
 * link: a no-op apply of 500 tunnels, on a kernel that does not filter, 2,500 routes, 1,000 read).
 */
function parseRoute(d: Buffer, p: number, stop: number, only?: { table: number; type: number }): RawRoute | undefined {
  const family = fam(d[p] as number);
  if (!family) return undefined;
  // a table above 255 is RT_TABLE_COMPAT in the header and only named by RTA_TABLE
  const headTable = d[p + 4] as number;
  if (only && ((d[p + 7] as number) !== only.type || (headTable !== only.table && headTable !== RT_TABLE_COMPAT)))
    return undefined;
  let dst: string | undefined;
  let gateway: string | undefined;
  let table = headTable;
  let oif: number | undefined;
  let priority: number | undefined;
  // the attributes inline, as parseLink reads them: a closure and a call each for 1,000 routes
  for (let off = p + 12; off + 4 <= stop; ) {
    const len = (d[off] as number) | ((d[off + 1] as number) << 8);
    if (len < 4 || off + len > stop) break;
    const type = ((d[off + 2] as number) | ((d[off + 3] as number) << 8)) & 0x3fff;
    const at = off + 4;
    off += (len + 3) & ~3;
    if (type === RTA.DST) dst = ipAt(d, at, len - 4);
    else if (type === RTA.GATEWAY) gateway = ipAt(d, at, len - 4);
    else if (len < 8) continue;
    else if (type === RTA.TABLE) table = get32(d, at);
    else if (type === RTA.OIF) oif = get32(d, at);
    else if (type === RTA.PRIORITY) priority = get32(d, at);
  }
  if (only && table !== only.table) return undefined;
  return {
    family,
    dst: dst ?? (family === 4 ? '0.0.0.0' : '::'),
    dstLen: d[p + 1] as number,
    table,
    protocol: d[p + 5] as number,
    type: d[p + 7] as number,
    gateway,
    oif,
    priority,
  };
}

/** an ifaddrmsg and its attributes */
function addrMsg(
  ifindex: number,
  family: 4 | 6,
  address: string,
  prefixlen: number,
  flags: number,
): [Buffer, AttrIn[]] {
  const h = Buffer.alloc(8);
  h[0] = af(family);
  h[1] = prefixlen;
  put32(h, 4, ifindex);
  const raw = ipToBuffer(address);
  const attrs: AttrIn[] = [
    [IFA.LOCAL, raw],
    [IFA.ADDRESS, raw],
  ];
  if (flags) attrs.push([IFA.FLAGS, flags]);
  return [h, attrs];
}

/** an rtmsg and its attributes */
function routeMsg(r: RawRoute, scope: number): [Buffer, AttrIn[]] {
  const h = Buffer.alloc(12);
  h[0] = af(r.family);
  h[1] = r.dstLen;
  h[4] = r.table < 256 ? r.table : 0;
  h[5] = r.protocol;
  h[6] = scope;
  h[7] = RTN_UNICAST;
  const attrs: AttrIn[] = [[RTA.TABLE, r.table]];
  if (r.dstLen > 0) attrs.push([RTA.DST, ipToBuffer(r.dst)]);
  if (r.gateway) attrs.push([RTA.GATEWAY, ipToBuffer(r.gateway)]);
  if (r.oif !== undefined) attrs.push([RTA.OIF, r.oif]);
  if (r.priority !== undefined) attrs.push([RTA.PRIORITY, r.priority]);
  return [h, attrs];
}
