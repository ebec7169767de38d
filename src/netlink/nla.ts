/**
 * Netlink attribute (NLA) encoding for the nested IFLA_INFO_DATA of each link
 * kind. node-netlink has no formatter for IPIP (IFLA_IPTUN_*) and its VXLAN
 * formatter writes ports in host byte order, so every kind encodes its own
 * attributes with these few helpers: one byte-exact path for all kinds.
 */

const NLA_HDRLEN = 4;
const align4 = (n: number) => (n + 3) & ~3;

export type Attr = [type: number, payload: Buffer];

export function encodeAttrs(attrs: Attr[]): Buffer {
  // one buffer, written in place: a 500-tunnel apply encodes thousands of these
  let size = 0;
  for (const [, payload] of attrs) size += align4(NLA_HDRLEN + payload.length);
  const out = Buffer.alloc(size);
  let off = 0;
  for (const [type, payload] of attrs) {
    const len = NLA_HDRLEN + payload.length;
    out.writeUInt16LE(len, off);
    out.writeUInt16LE(type, off + 2);
    payload.copy(out, off + NLA_HDRLEN);
    off += align4(len);
  }
  return out;
}

/** Set on the type of an attribute that holds attributes; genl families with strict validation demand it. */
export const NLA_F_NESTED = 0x8000;

/**
 * Attribute type → payload; the NLA_F_NESTED / BYTEORDER bits are masked off. `only`: the types
 * wanted, the others skipped without a buffer each (a link's dump message holds ~40 attributes,
 * its reader wants 8: most of a 500-link dump's decoding).
 */
export function decodeAttrs(buf: Buffer, only?: readonly number[]): Map<number, Buffer> {
  if (!only) return new Map(decodeAttrList(buf));
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff;
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    if (only.includes(type)) out.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** Every attribute in order, repeated types included (netlink's arrays), flag bits masked off. */
export function decodeAttrList(buf: Buffer): Attr[] {
  const out: Attr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff;
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.push([type, buf.subarray(off + NLA_HDRLEN, off + len)]);
    off += align4(len);
  }
  return out;
}

// Netlink integers are host byte order (little-endian on every arch we ship);
// addresses and UDP ports are network byte order.
export const u8 = (v: number) => Buffer.from([v & 0xff]);
export const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
export const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v & 0xffff, 0);
  return b;
};
export const be16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

export const readU8 = (b: Buffer | undefined) => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
export const readU16 = (b: Buffer | undefined) => (b && b.length >= 2 ? b.readUInt16LE(0) : undefined);
export const readU32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const readBe16 = (b: Buffer | undefined) => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);
/** network byte order, as the kernel keeps a __be32 (a GRE key) */
export const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};
export const readBe32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);
