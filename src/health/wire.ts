/**
 * The health datagram, 16 bytes: small because at a 25 s keepalive it is most of what an idle
 * island sends. A probe asks for a reply; both carry the sender's own view of the path, so each
 * end learns whether the other hears it (a one-way failure shows on the side that still hears).
 *
 *   0  "ISL" 0x01   magic and version
 *   4  type         1 probe, 2 reply
 *   5  flags        bit 0: the sender hears the receiver
 *   6  interval     u16, the sender's probe interval in 100 ms units; 0: it does not probe
 *   8  seq          u32, the probe's; a reply echoes it
 *  12  heard ago    u32 ms since the sender last heard the receiver; 0xffffffff never
 */

export const PACKET_BYTES = 16;
const MAGIC = 0x49534c01;
const NEVER = 0xffffffff;

export type PacketType = 'probe' | 'reply';

export interface Packet {
  type: PacketType;
  seq: number;
  /** the sender hears the receiver */
  hears: boolean;
  /** ms since the sender last heard the receiver; undefined: never */
  heardAgoMs?: number;
  /** the sender's probe interval: how often the receiver should hear from it */
  intervalMs?: number;
}

export function encode(p: Packet): Buffer {
  const b = Buffer.alloc(PACKET_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt8(p.type === 'probe' ? 1 : 2, 4);
  b.writeUInt8(p.hears ? 1 : 0, 5);
  b.writeUInt16BE(Math.min(0xffff, Math.round((p.intervalMs ?? 0) / 100)), 6);
  b.writeUInt32BE(p.seq >>> 0, 8);
  b.writeUInt32BE(p.heardAgoMs === undefined ? NEVER : Math.min(Math.max(0, Math.round(p.heardAgoMs)), NEVER - 1), 12);
  return b;
}

/** undefined for anything that is not an island health datagram of this version. */
export function decode(b: Buffer): Packet | undefined {
  if (b.length < PACKET_BYTES || b.readUInt32BE(0) !== MAGIC) return undefined;
  const t = b.readUInt8(4);
  if (t !== 1 && t !== 2) return undefined;
  const ago = b.readUInt32BE(12);
  const interval = b.readUInt16BE(6) * 100;
  return {
    type: t === 1 ? 'probe' : 'reply',
    seq: b.readUInt32BE(8),
    hears: (b.readUInt8(5) & 1) === 1,
    ...(ago === NEVER ? {} : { heardAgoMs: ago }),
    ...(interval ? { intervalMs: interval } : {}),
  };
}
