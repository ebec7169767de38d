/**
 * The health datagram, 18 bytes: small because at a 25 s keepalive it is most of what an idle
 * island sends. A probe asks for a reply; both carry the sender's own view of the path, so each
 * end learns whether the other hears it (a one-way failure shows on the side that still hears).
 *
 *   0  "ISL" 0x01   magic and version
 *   4  type         1 probe, 2 reply, 3 path MTU probe, 4 its acknowledgement, 5 bye (the
 *                   sender's island stops: probe early for its return)
 *   5  flags        bit 0: the sender hears the receiver
 *   6  interval     u16, the sender's probe interval in 100 ms units; 0: it does not probe
 *   8  seq          u32, the probe's; a reply echoes it
 *  12  heard ago    u32 ms since the sender last heard the receiver; 0xffffffff never
 *  16  path MTU     u16, the path MTU the sender measured towards the receiver; 0 not known
 *  18  padding      a path MTU probe only: zeros up to the size probed
 *
 * Islands before path MTU probing sent 16 bytes and ignore types 3 and 4: a peer is only
 * searched once a datagram of 18 bytes or more has come from it.
 */

export const PACKET_BYTES = 18;
/** what islands before path MTU probing send: decoded, but such a peer is not probed for its MTU */
export const OLD_PACKET_BYTES = 16;
const MAGIC = 0x49534c01;
const NEVER = 0xffffffff;

export type PacketType = 'probe' | 'reply' | 'pmtu' | 'pmtu-ack' | 'bye';
// islands before 'bye' drop a type they do not know (decode: undefined)
const TYPES: PacketType[] = ['probe', 'reply', 'pmtu', 'pmtu-ack', 'bye'];

/** IP and UDP headers around the datagram: a probe of an IP size carries this much less. */
export const headerBytes = (family: 4 | 6) => (family === 4 ? 20 : 40) + 8;

export interface Packet {
  type: PacketType;
  seq: number;
  /** the sender hears the receiver */
  hears: boolean;
  /** ms since the sender last heard the receiver; undefined: never */
  heardAgoMs?: number;
  /** the sender's probe interval: how often the receiver should hear from it */
  intervalMs?: number;
  /** the path MTU the sender measured towards the receiver */
  pathMtu?: number;
  /** the sender speaks path MTU probes (it sent the 18-byte datagram) */
  pmtu?: boolean;
}

/** The datagram; `bytes`: a path MTU probe's whole UDP payload, padded with zeros. */
export function encode(p: Packet, bytes = PACKET_BYTES): Buffer {
  const b = Buffer.alloc(Math.max(bytes, PACKET_BYTES));
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt8(TYPES.indexOf(p.type) + 1, 4);
  b.writeUInt8(p.hears ? 1 : 0, 5);
  b.writeUInt16BE(Math.min(0xffff, Math.round((p.intervalMs ?? 0) / 100)), 6);
  b.writeUInt32BE(p.seq >>> 0, 8);
  b.writeUInt32BE(p.heardAgoMs === undefined ? NEVER : Math.min(Math.max(0, Math.round(p.heardAgoMs)), NEVER - 1), 12);
  b.writeUInt16BE(Math.min(p.pathMtu ?? 0, 0xffff), 16);
  return b;
}

/** undefined for anything that is not an island health datagram of this version. */
export function decode(b: Buffer): Packet | undefined {
  if (b.length < OLD_PACKET_BYTES || b.readUInt32BE(0) !== MAGIC) return undefined;
  const type = TYPES[b.readUInt8(4) - 1];
  if (!type) return undefined;
  const ago = b.readUInt32BE(12);
  const interval = b.readUInt16BE(6) * 100;
  const pmtu = b.length >= PACKET_BYTES;
  const pathMtu = pmtu ? b.readUInt16BE(16) : 0;
  return {
    type,
    seq: b.readUInt32BE(8),
    hears: (b.readUInt8(5) & 1) === 1,
    ...(ago === NEVER ? {} : { heardAgoMs: ago }),
    ...(interval ? { intervalMs: interval } : {}),
    ...(pathMtu ? { pathMtu } : {}),
    ...(pmtu ? { pmtu } : {}),
  };
}
