/**
 * The only module that talks to the kernel's ethtool generic-netlink family ("ethtool",
 * linux/ethtool_netlink.h): it reads and sets netdev features as `ethtool -k` / `-K` do,
 * without a process per link per pass.
 *
 * Route: node-netlink's GenericNetlinkSocket, over the NETLINK_GENERIC socket it opens. It
 * resolves the family id through the genl controller and adds and strips the 4-byte genl
 * header; the ethtool attributes are encoded and decoded here with nla.ts, as rtnl.ts does for
 * rtnetlink. A raw NetlinkSocket would need that controller lookup and header written again,
 * for nothing: the library's generic parsers (the slow part rtnl.ts avoids) only ever see the
 * one controller reply per socket.
 *
 * - Read: one FEATURES_GET dump per pass with compact bitsets (a bit array per set: ~160 bytes
 *   per device, measured on a vxlan, against ~3.5 KiB with verbose bitsets, which name every
 *   bit). Bit numbers are not ABI, so which bit is which name comes from the kernel's own
 *   ETH_SS_FEATURES string set, read once per socket.
 * - Write: FEATURES_SET with a verbose WANTED bitset that names each feature and carries no
 *   mask, so every feature not named keeps its wanted state (the kernel then recomputes what
 *   depends on it, e.g. TSO), and OMIT_REPLY: a plain ACK.
 * - Changes: the kernel announces a feature change twice, from the same NETDEV_FEAT_CHANGE
 *   notifier: ETHTOOL_MSG_FEATURES_NTF on this family's "monitor" group, and RTM_NEWLINK
 *   (IFLA_EVENT_FEATURES; `ip monitor link` prints "event FEATURE CHANGE") on rtnetlink's
 *   link group, which the daemon already listens to (events.ts). That one is enough to
 *   trigger a pass for `ethtool -K vx0 tx on`: no second event socket here.
 */
import type { GenericNetlinkSocket } from 'netlink';
import type { Features } from '../kinds/kind.js';
import {
  type Attr,
  cstr,
  decodeAttrList,
  decodeAttrs,
  encodeAttrs,
  NLA_F_NESTED,
  NLM_F_DUMP,
  readCstr,
  readU32,
  u32,
} from './nla.js';
import { NetlinkError } from './rtnl.js';

const FAMILY = 'ethtool';
const VERSION = 1;
/** per request: a lost reply fails the request instead of hanging the pass */
const TIMEOUT_MS = 10_000;
const RCVBUF = 1 << 20;
/** as rtnl.ts: the kernel answers the sending socket whatever nlmsg_pid says */
const opts = (flags = 0) => ({ flags, timeout: TIMEOUT_MS, localPort: 0 });

// include/uapi/linux/ethtool_netlink.h
const MSG = { STRSET_GET: 1, FEATURES_GET: 11, FEATURES_SET: 12 } as const;
const HEADER = { DEV_INDEX: 1, FLAGS: 3 } as const;
const FLAG_COMPACT_BITSETS = 1 << 0;
const FLAG_OMIT_REPLY = 1 << 1;
const BITSET = { BITS: 3, VALUE: 4 } as const;
const BITSET_BITS_BIT = 1;
const BIT = { NAME: 2, VALUE: 3 } as const;
const FEATURES = { HEADER: 1, WANTED: 3, ACTIVE: 4 } as const;
const STRSET = { HEADER: 1, STRINGSETS: 2 } as const;
const STRINGSETS_STRINGSET = 1;
const STRINGSET = { ID: 1, STRINGS: 3 } as const;
const STRING = { INDEX: 1, VALUE: 2 } as const;
// include/uapi/linux/ethtool.h, enum ethtool_stringset
const ETH_SS_FEATURES = 4;

interface Family {
  /** the socket the id was looked up on */
  sock: GenericNetlinkSocket;
  id: number;
  /** feature name → bit number in this kernel's feature bitsets */
  bits: Map<string, number>;
}

const nest = (type: number, attrs: Attr[]): Attr => [type | NLA_F_NESTED, encodeAttrs(attrs)];

/**
 * The socket is opened, and node-netlink's genl modules loaded (~7 ms of a one-shot run's CPU),
 * by the first request: most files declare no features, and a pass then sends none.
 */
export class Ethtool {
  private sock?: GenericNetlinkSocket;
  private family?: Promise<Family>;
  private closed = false;

  close(): void {
    this.closed = true;
    this.sock?.socket.close();
  }

  /**
   * The active state of the named features on every device of this namespace: ifindex →
   * name → on. One dump. Throws a one-line Error when the kernel cannot say (no ethtool
   * family: CONFIG_ETHTOOL_NETLINK off).
   */
  async features(names: string[]): Promise<Map<number, Features>> {
    const f = await this.resolve();
    const bits = names.map((n) => [n, bitOf(f, n)] as const);
    const req = encodeAttrs([nest(FEATURES.HEADER, [[HEADER.FLAGS, u32(FLAG_COMPACT_BITSETS)]])]);
    const replies = await call(
      'read ethtool features',
      f.sock.request(f.id, MSG.FEATURES_GET, VERSION, req, opts(NLM_F_DUMP)),
    );
    const out = new Map<number, Features>();
    for (const m of replies) {
      const a = decodeAttrs(m.data);
      const ifindex = readU32(decodeAttrs(a.get(FEATURES.HEADER) ?? Buffer.alloc(0)).get(HEADER.DEV_INDEX));
      const active = decodeAttrs(a.get(FEATURES.ACTIVE) ?? Buffer.alloc(0)).get(BITSET.VALUE);
      if (ifindex === undefined || !active) continue;
      const on = (bit: number) =>
        bit < active.length * 8 && (active.readUInt32LE((bit >> 5) * 4) & (1 << (bit & 31))) !== 0;
      out.set(ifindex, Object.fromEntries(bits.map(([n, bit]) => [n, on(bit)])));
    }
    return out;
  }

  /** Set the named features' wanted state on one device (`ethtool -K`); the others are left alone. */
  async setFeatures(ifindex: number, name: string, want: Features): Promise<void> {
    const f = await this.resolve();
    for (const n of Object.keys(want)) bitOf(f, n);
    const bits = Object.entries(want).map(([n, on]) => {
      const bit: Attr[] = [[BIT.NAME, cstr(n)]];
      if (on) bit.push([BIT.VALUE, Buffer.alloc(0)]);
      return nest(BITSET_BITS_BIT, bit);
    });
    const req = encodeAttrs([
      nest(FEATURES.HEADER, [
        [HEADER.DEV_INDEX, u32(ifindex)],
        [HEADER.FLAGS, u32(FLAG_OMIT_REPLY)],
      ]),
      nest(FEATURES.WANTED, [nest(BITSET.BITS, bits)]),
    ]);
    await call(`set features of ${name}`, f.sock.request(f.id, MSG.FEATURES_SET, VERSION, req, opts()));
  }

  /** The family id and the feature names' bits, looked up once; a failure is tried again next time. */
  private resolve(): Promise<Family> {
    this.family ??= this.lookup().catch((e: unknown) => {
      this.family = undefined;
      throw e;
    });
    return this.family;
  }

  private async lookup(): Promise<Family> {
    const [{ createGenericNetlink }, genl] = await Promise.all([
      import('netlink/dist/genl/genl.js'),
      import('netlink/dist/genl/structs.js'),
    ]);
    if (this.closed) throw new Error('the ethtool socket is closed');
    if (!this.sock) {
      this.sock = createGenericNetlink();
      this.sock.socket.setRecvBufferSize(RCVBUF);
      // as rtnl.ts: a socket error must not kill the process; the request fails by its timeout
      this.sock.socket.on('error', () => undefined);
    }
    const sock = this.sock;
    let id: number | undefined;
    try {
      const [m] = await sock.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: FAMILY }, opts());
      id = m?.familyId;
    } catch (e) {
      if (/ENOENT/.test((e as Error).message))
        throw new Error('the kernel has no ethtool netlink family (built without CONFIG_ETHTOOL_NETLINK)');
      throw new NetlinkError('look up the ethtool netlink family', (e as Error).message);
    }
    if (id === undefined) throw new Error('the genl controller did not say which id the ethtool family has');
    const req = encodeAttrs([
      nest(STRSET.HEADER, []),
      nest(STRSET.STRINGSETS, [nest(STRINGSETS_STRINGSET, [[STRINGSET.ID, u32(ETH_SS_FEATURES)]])]),
    ]);
    const [reply] = await call('read the feature names', sock.request(id, MSG.STRSET_GET, VERSION, req, opts()));
    const bits = new Map<string, number>();
    const sets = decodeAttrs(reply?.data ?? Buffer.alloc(0)).get(STRSET.STRINGSETS) ?? Buffer.alloc(0);
    for (const [, set] of decodeAttrList(sets)) {
      const s = decodeAttrs(set);
      if (readU32(s.get(STRINGSET.ID)) !== ETH_SS_FEATURES) continue;
      for (const [, one] of decodeAttrList(s.get(STRINGSET.STRINGS) ?? Buffer.alloc(0))) {
        const a = decodeAttrs(one);
        const index = readU32(a.get(STRING.INDEX));
        const value = readCstr(a.get(STRING.VALUE));
        if (index !== undefined && value) bits.set(value, index);
      }
    }
    return { sock, id, bits };
  }
}

function bitOf(f: Family, name: string): number {
  const bit = f.bits.get(name);
  if (bit === undefined) throw new Error(`this kernel has no netdev feature named ${name}`);
  return bit;
}

async function call<T>(op: string, p: Promise<[T[], unknown]>): Promise<T[]> {
  try {
    return (await p)[0];
  } catch (e) {
    const m = /Request rejected: (\w+)/.exec(String((e as Error).message));
    throw new NetlinkError(op, m?.[1] ?? String((e as Error).message));
  }
}
