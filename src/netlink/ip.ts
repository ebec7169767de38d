/** IP address text ⇄ the raw network-order bytes netlink carries. */
import { isIP } from 'node:net';

/**
 * node's isIP(), a dotted quad told by node's own IPv4 expression (lib/internal/net.js) tested
 * here: addresses are most of a file's values, each looked at several times. A test runs as
 * irregexp's native code and allocates nothing; isIP() execs it through its wrappers and builds
 * a match; a character scan runs in the interpreter in a one-shot command (`island check`
 * without TurboFan: 15,000 calls ~9.5 ms scanned, ~2.3 ms tested). Anything else is node's to say.
 */
const V4_PART = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = new RegExp(`^(?:${V4_PART}\\.){3}${V4_PART}$`);

function family(text: string): number {
  return IPV4.test(text) ? 4 : isIP(text);
}

export function ipToBuffer(text: string): Buffer {
  const fam = family(text);
  if (fam === 4) {
    // digit by digit: split/map/Buffer.from cost ~5x as much in cold code (a one-shot run)
    const out = Buffer.alloc(4);
    let part = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 46) part++;
      else out[part] = (out[part] as number) * 10 + (c - 48);
    }
    return out;
  }
  if (fam === 6) return ipv6ToBuffer(text);
  throw new Error(`not an IP address: ${text}`);
}

function ipv6ToBuffer(text: string): Buffer {
  let s = text;
  const out = Buffer.alloc(16);
  // an embedded dotted quad (::ffff:1.2.3.4) becomes two hextets
  const dot = s.lastIndexOf(':');
  const tail = s.slice(dot + 1);
  if (tail.includes('.')) {
    const q = tail.split('.').map(Number);
    s = `${s.slice(0, dot + 1)}${(((q[0] ?? 0) << 8) | (q[1] ?? 0)).toString(16)}:${(((q[2] ?? 0) << 8) | (q[3] ?? 0)).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/** The address of `len` bytes at `at` in b (a netlink attribute's payload), as bufferToIp says it. */
export function ipAt(b: Buffer, at: number, len: number): string {
  if (len === 4) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  return bufferToIp(b.subarray(at, at + len));
}

export function bufferToIp(buf: Buffer): string {
  if (buf.length === 4) return `${buf[0]}.${buf[1]}.${buf[2]}.${buf[3]}`;
  if (buf.length === 16) {
    const g: number[] = [];
    for (let i = 0; i < 16; i += 2) g.push(buf.readUInt16BE(i));
    return compressV6(g);
  }
  throw new Error(`bad address length ${buf.length}`);
}

/** RFC 5952 text: longest run of >= 2 zero groups becomes "::". */
function compressV6(g: number[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an address (lower-case, compressed), or undefined if invalid. */
export function canonicalIp(text: string): string | undefined {
  const fam = family(text);
  // node takes only the plain dotted quad for IPv4 (no leading zeros), which is canonical
  if (fam === 4) return text;
  if (!fam) return undefined;
  return bufferToIp(ipToBuffer(text));
}

export function familyOf(text: string): 4 | 6 | undefined {
  const f = family(text);
  return f === 4 || f === 6 ? f : undefined;
}

/** A valid dotted quad as a 32-bit number, read without allocating (files hold tens of thousands). */
export function ipv4Value(ip: string): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return n * 256 + octet;
}

const v4Mask = (prefixlen: number): number =>
  prefixlen <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefixlen, 32))) >>> 0;

/** The network address of addr/prefixlen, as canonical text. */
export function networkOf(addr: string, prefixlen: number): string {
  if (family(addr) === 4) {
    const v = ipv4Value(addr);
    const n = (v & v4Mask(prefixlen)) >>> 0;
    // already the network (a route's destination, mostly): the text itself, which a valid dotted
    // quad writes as this would (no leading zeros), rather than a new string
    if (n === v >>> 0) return addr;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const b = ipToBuffer(addr);
  for (let bit = prefixlen; bit < b.length * 8; bit++) {
    const i = bit >> 3;
    b[i] = (b[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return bufferToIp(b);
}

/** Whether addr lies inside net/prefixlen (same family). */
export function inSubnet(addr: string, net: string, prefixlen: number): boolean {
  const f = familyOf(addr);
  if (f !== familyOf(net)) return false;
  if (f === 4) return ((ipv4Value(addr) ^ ipv4Value(net)) & v4Mask(prefixlen)) === 0;
  return networkOf(addr, prefixlen) === networkOf(net, prefixlen);
}

/** First and last address of addr/prefixlen as integers: overlap tests without re-parsing text. */
export function cidrRange(addr: string, prefixlen: number): [bigint, bigint] {
  const b = ipToBuffer(addr);
  const bits = BigInt(b.length * 8);
  const value = BigInt(`0x${b.toString('hex')}`);
  const host = (1n << (bits - BigInt(prefixlen))) - 1n;
  const lo = value & ~host;
  return [lo, lo | host];
}

/**
 * Which of many prefixes hold an address, in one lookup per prefix length in use rather than
 * one comparison per prefix: a file of thousands of routes and addresses stays linear.
 */
export class PrefixIndex<T> {
  /** `${family}/${prefixlen}` → network text → the first value added for it */
  private readonly byLen = new Map<string, Map<string, T>>();

  add(addr: string, prefixlen: number, value: T): void {
    const key = `${familyOf(addr)}/${prefixlen}`;
    const nets = this.byLen.get(key) ?? new Map<string, T>();
    this.byLen.set(key, nets);
    const net = networkOf(addr, prefixlen);
    if (!nets.has(net)) nets.set(net, value);
  }

  /** The values of the prefixes that hold addr, shortest prefix length added first. */
  holding(addr: string): T[] {
    const family = familyOf(addr);
    const out: T[] = [];
    for (const [key, nets] of this.byLen) {
      const [f, len] = key.split('/');
      if (Number(f) !== family) continue;
      const v = nets.get(networkOf(addr, Number(len)));
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}
