/**
 * Netlink attribute (NLA) encoding for the nested IFLA_INFO_DATA of each link
 * kind. node-netlink has no formatter for IPIP (IFLA_IPTUN_*) and its VXLAN
 * formatter writes ports in host byte order, so every kind encodes its own
 * attributes with these few helpers: one byte-exact path for all kinds.
 */

const NLA_HDRLEN = 4;
const align4 = (n: number) => (n + 3) & ~3;

export type Attr = [type: number, payload: Buffer];
/**
 * An attribute to encode: a number is a u32 (host order), a string NUL-terminated UTF-8 (cstr):
 * written in place, without a Buffer of its own (a 500-tunnel apply encodes ~9,000 of them).
 */
export type AttrIn = [type: number, payload: Buffer | number | string];

/** bytes of an attribute's payload */
const payloadLength = (p: Buffer | number | string): number =>
  typeof p === 'number' ? 4 : typeof p === 'string' ? Buffer.byteLength(p) + 1 : p.length;

/** The attributes, after `head` (a message's fixed header) when given: one buffer either way. */
export function encodeAttrs(attrs: AttrIn[], head?: Buffer): Buffer {
  // one buffer, written in place, with plain loops and byte stores: a one-shot run executes
  // this cold (interpreted), where for-of destructuring, writeUInt16LE's checks and copy()'s
  // wrappers cost ~30 us a call; a 500-tunnel apply makes thousands of these
  let size = 0;
  for (let i = 0; i < attrs.length; i++) size += align4(NLA_HDRLEN + payloadLength((attrs[i] as AttrIn)[1]));
  let off = head ? head.length : 0;
  const out = Buffer.alloc(off + size);
  if (head) out.set(head, 0);
  for (let i = 0; i < attrs.length; i++) {
    // indexed, not destructured: destructuring runs the iterator protocol
    const a = attrs[i] as AttrIn;
    const type = a[0];
    const payload = a[1];
    const len = NLA_HDRLEN + payloadLength(payload);
    out[off] = len & 0xff;
    out[off + 1] = len >>> 8;
    out[off + 2] = type & 0xff;
    out[off + 3] = type >>> 8;
    const at = off + NLA_HDRLEN;
    if (typeof payload === 'number') put32(out, at, payload);
    // the NUL is the buffer's own zero
    else if (typeof payload === 'string') writeText(out, at, payload);
    else if (payload.length <= 16) for (let j = 0; j < payload.length; j++) out[at + j] = payload[j] as number;
    else out.set(payload, at);
    off += align4(len);
  }
  return out;
}

/** text as UTF-8 at off: ASCII (link names, kinds, tokens) by byte stores, the rest by Buffer */
function writeText(out: Buffer, off: number, text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      out.write(text, off, 'utf8');
      return;
    }
    out[off + i] = c;
  }
}

/** Set on the type of an attribute that holds attributes; genl families with strict validation demand it. */
export const NLA_F_NESTED = 0x8000;
/** a dump request's flags (NLM_F_ROOT | NLM_F_MATCH) */
export const NLM_F_DUMP = 0x300;

/** struct nlmsghdr's size */
export const NLMSG_HDRLEN = 16;

/**
 * A message's nlmsghdr at off of out, for a payload of `length` bytes. Port 0, as iproute2
 * sends: the kernel answers the sending socket (a zeroed buffer holds it already).
 */
export function putHeader(out: Buffer, off: number, length: number, type: number, flags: number, seq: number): void {
  put32(out, off, NLMSG_HDRLEN + length);
  put32(out, off + 4, type | (flags << 16));
  put32(out, off + 8, seq);
}

/** One netlink message: its nlmsghdr before `body`. */
export function frame(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + body.length);
  putHeader(out, 0, body.length, type, flags, seq);
  out.set(body, NLMSG_HDRLEN);
  return out;
}

/** a NUL-terminated string attribute's payload */
export const cstr = (s: string) => Buffer.from(`${s}\0`);
/** a NUL-terminated string attribute's text, up to its first NUL; undefined when absent */
export const readCstr = (b: Buffer | undefined): string | undefined => (b ? textAt(b, 0, b.length) : undefined);

/** the text of a NUL-terminated string payload that lies between at and end of b, read in place */
export function textAt(b: Buffer, at: number, end: number): string {
  let z = at;
  while (z < end && b[z] !== 0) z++;
  return b.toString('utf8', at, z);
}

/**
 * Each attribute between off and end of b: its type (flag bits masked off) and where its payload
 * lies, without a Buffer each (decodeAttrList's walk, for readers that take a few values in place).
 */
export function eachAttr(
  b: Buffer,
  off: number,
  end: number,
  fn: (type: number, at: number, end: number) => void,
): void {
  while (off + NLA_HDRLEN <= end) {
    const len = (b[off] as number) | ((b[off + 1] as number) << 8);
    if (len < NLA_HDRLEN || off + len > end) return;
    fn(((b[off + 2] as number) | ((b[off + 3] as number) << 8)) & 0x3fff, off + NLA_HDRLEN, off + len);
    off += align4(len);
  }
}

/**
 * Attribute type → payload; the NLA_F_NESTED / BYTEORDER bits are masked off. `only`: the types
 * wanted, the others skipped without a buffer each (a link's dump message holds ~40 attributes,
 * its reader wants 8: most of a 500-link dump's decoding).
 */
export function decodeAttrs(buf: Buffer, only?: readonly number[]): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    // byte loads, not readUInt16LE: see encodeAttrs
    const len = (buf[off] as number) | ((buf[off + 1] as number) << 8);
    const type = ((buf[off + 2] as number) | ((buf[off + 3] as number) << 8)) & 0x3fff;
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    if (!only || only.includes(type)) out.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** Every attribute in order, repeated types included (netlink's arrays), flag bits masked off. */
export function decodeAttrList(buf: Buffer): Attr[] {
  const out: Attr[] = [];
  eachAttr(buf, 0, buf.length, (type, at, end) => out.push([type, buf.subarray(at, end)]));
  return out;
}

// Netlink integers are host byte order (little-endian on every arch we ship);
// addresses and UDP ports are network byte order.
// byte stores rather than Buffer.from([..]) and writeUInt*: cold code (see encodeAttrs)
export const u8 = (v: number) => {
  const b = Buffer.alloc(1);
  b[0] = v & 0xff;
  return b;
};
export const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  put32(b, 0, v);
  return b;
};
export const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b[0] = v & 0xff;
  b[1] = (v >>> 8) & 0xff;
  return b;
};
export const be16 = (v: number) => {
  const b = Buffer.alloc(2);
  b[0] = (v >>> 8) & 0xff;
  b[1] = v & 0xff;
  return b;
};

/** v as 32 bits, host (little-endian) order, at off: byte stores, for cold code */
export function put32(b: Buffer, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** 32 bits, host (little-endian) order, at off, unsigned: byte loads (Buffer's readers go through a wrapper each) */
export const get32 = (b: Buffer, off: number): number =>
  ((b[off] as number) |
    ((b[off + 1] as number) << 8) |
    ((b[off + 2] as number) << 16) |
    ((b[off + 3] as number) << 24)) >>>
  0;

export const readU8 = (b: Buffer | undefined) => (b && b.length >= 1 ? (b[0] as number) : undefined);
export const readU16 = (b: Buffer | undefined) =>
  b && b.length >= 2 ? (b[0] as number) | ((b[1] as number) << 8) : undefined;
export const readU32 = (b: Buffer | undefined) => (b && b.length >= 4 ? get32(b, 0) : undefined);
export const readBe16 = (b: Buffer | undefined) =>
  b && b.length >= 2 ? ((b[0] as number) << 8) | (b[1] as number) : undefined;
/** network byte order, as the kernel keeps a __be32 (a GRE key) */
export const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};
export const readBe32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);
