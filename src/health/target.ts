/**
 * Which inner address a tunnel's probes go to, and from which of its own addresses. Pure: the
 * config checks and the desired state both ask, and must agree.
 */
import { HEALTH_INTERVAL_MS, HEALTH_PORT } from '../config/defaults.js';
import { prefixRange } from '../config/kernel.js';
import type { Cidr, Config, Family } from '../config/types.js';
import type { DesiredPeer } from '../desired.js';
import { bufferToIp, cidrRange, familyOf, inSubnet, ipv4Value } from '../netlink/ip.js';

export interface HostName {
  name: string;
  address: string;
}

export interface PeerChoice {
  peer: string;
  /** the tunnel's own address the probes leave from (same subnet as the peer when there is one) */
  local: string;
  family: Family;
  /** how the peer was found: written in the file, the other end of a /30 /31 /127, or named in [hosts] */
  source: 'peer' | 'point-to-point' | 'hosts';
}

/**
 * The other usable address of a two-host subnet: /31 and /127 (RFC 3021, RFC 6164) have
 * exactly two, an IPv4 /30 two besides its network and broadcast addresses.
 */
export function otherEnd(a: Cidr): string | undefined {
  const bits = a.family === 4 ? 32 : 128;
  const host = bits - a.prefixlen;
  if (!(host === 1 || (a.family === 4 && host === 2))) return undefined;
  const [lo, hi] = cidrRange(a.address, a.prefixlen);
  const me = cidrRange(a.address, bits)[0];
  const hosts = host === 1 ? [lo, hi] : [lo + 1n, hi - 1n];
  if (!hosts.includes(me)) return undefined; // the network or broadcast address itself
  const other = hosts[0] === me ? hosts[1] : hosts[0];
  return other === undefined ? undefined : fromBig(other, a.family);
}

function fromBig(v: bigint, family: Family): string {
  return bufferToIp(Buffer.from(v.toString(16).padStart(family === 4 ? 8 : 32, '0'), 'hex'));
}

/** The tunnel address a probe to `peer` leaves from: one whose subnet holds the peer. */
export function localFor(peer: string, addresses: Cidr[]): Cidr | undefined {
  return addresses.find((a) => a.family === familyOf(peer) && inSubnet(peer, a.address, a.prefixlen));
}

/**
 * The peer of a tunnel: written in the file, else the other end of its first two-host subnet,
 * else the only host of its subnets named in [hosts] (other than its own addresses).
 */
export function choosePeer(explicit: string | undefined, addresses: Cidr[], hosts: HostName[]): PeerChoice | undefined {
  if (explicit !== undefined) {
    const a = localFor(explicit, addresses);
    return a && { peer: explicit, local: a.address, family: a.family, source: 'peer' };
  }
  for (const a of addresses) {
    const other = otherEnd(a);
    if (other !== undefined) return { peer: other, local: a.address, family: a.family, source: 'point-to-point' };
  }
  const mine = new Set(addresses.map((a) => a.address));
  const named = [
    ...new Set(hosts.map((h) => h.address).filter((ip) => !mine.has(ip) && localFor(ip, addresses) !== undefined)),
  ];
  const [only] = named;
  if (named.length !== 1 || only === undefined) return undefined;
  const a = localFor(only, addresses) as Cidr;
  return { peer: only, local: a.address, family: a.family, source: 'hosts' };
}

/** Every tunnel's probed peer (a tunnel with `keepalive` or `peer`): the probes, and ISLAND-INPUT's accept for them. */
export function desiredPeers(cfg: Config): DesiredPeer[] {
  const peers: DesiredPeer[] = [];
  for (const t of cfg.tunnels) {
    if (t.keepaliveMs === undefined && t.peer === undefined) continue;
    // check refused a file where this finds no peer
    const choice = choosePeer(t.peer, t.addresses, cfg.hosts ?? []);
    if (!choice) continue;
    peers.push({
      tunnel: t.name,
      ...choice,
      port: cfg.daemon.healthPort ?? HEALTH_PORT,
      intervalMs: t.keepaliveMs ?? cfg.daemon.healthIntervalMs ?? HEALTH_INTERVAL_MS,
      keepalive: t.keepaliveMs !== undefined,
      waitForPeer: t.remoteBehindNat === true,
    });
  }
  return peers;
}

const PRIVATE: [string, number][] = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  // carrier-grade NAT: the host is behind a NAT by definition
  ['100.64.0.0', 10],
  ['fc00::', 7],
];
const NOT_ROUTED: [string, number][] = [
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['0.0.0.0', 8],
  ['::1', 128],
  ['fe80::', 10],
  ['::', 128],
];

/**
 * Whether an address is in one of `ranges`. IPv4 as numbers, each address read once: check asks
 * it of both ends of every tunnel, where a subnet test per range read both addresses each time.
 */
function inRanges(ranges: [string, number][]): (ip: string) => boolean {
  // the ranges' family by their colon: familyOf() asks node's isIP() of an IPv6 text, whose first
  // call compiles its expression (~4 ms), at every start, for files that may hold no IPv6 at all
  const v4 = ranges.filter(([net]) => !net.includes(':')).map(([net, len]) => prefixRange(net, len, 4));
  const v6 = ranges.filter(([net]) => net.includes(':'));
  return (ip) => {
    const family = familyOf(ip);
    if (family === 6) return v6.some(([net, len]) => inSubnet(ip, net, len));
    if (family !== 4) return false;
    const v = ipv4Value(ip);
    return v4.some(([lo, hi]) => v >= lo && v <= hi);
  };
}

/** An address a NAT typically sits in front of. */
export const isPrivate = inRanges(PRIVATE);

const notRouted = inRanges(NOT_ROUTED);

/** An address reached across the internet: neither private nor loopback / link-local. */
export function isPublic(ip: string): boolean {
  return !isPrivate(ip) && !notRouted(ip);
}
