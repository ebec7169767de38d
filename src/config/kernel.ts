/**
 * What the kernel refuses, or accepts and then never reports back the same way, said before
 * `apply` meets it half-way. Each rule names the kernel code it mirrors; the values were
 * checked against Linux 6.18 in a network namespace (test/kernel/config.test.ts).
 */
import { cidrRange, familyOf, ipToBuffer, ipv4Value } from '../netlink/ip.js';
import type { Cidr, Family } from './types.js';

export type AddressClass = 'unspecified' | 'multicast' | 'broadcast' | 'loopback' | 'link-local' | 'mapped' | 'unicast';

/**
 * The class of an address as the kernel's ipv4_is_* / ipv6_addr_type tell them apart. Read
 * from the bytes once: a file can hold tens of thousands of addresses.
 */
export function addressClass(ip: string): AddressClass {
  if (familyOf(ip) === 4) {
    if (ip === '0.0.0.0') return 'unspecified';
    if (ip === '255.255.255.255') return 'broadcast';
    const n = ipv4Value(ip);
    const a = n >>> 24;
    const b = (n >>> 16) & 255;
    if (a >= 224 && a <= 239) return 'multicast';
    if (a === 127) return 'loopback';
    if (a === 169 && b === 254) return 'link-local';
    return 'unicast';
  }
  const x = ipToBuffer(ip);
  const zeroUpTo = (n: number) => x.subarray(0, n).every((v) => v === 0);
  if (zeroUpTo(16)) return 'unspecified';
  if (zeroUpTo(15) && x[15] === 1) return 'loopback';
  if (x[0] === 0xff) return 'multicast';
  if (x[0] === 0xfe && ((x[1] as number) & 0xc0) === 0x80) return 'link-local';
  if (zeroUpTo(10) && x[10] === 0xff && x[11] === 0xff) return 'mapped';
  return 'unicast';
}

/** A position in an address family's space: exact as a number for IPv4, a bigint for IPv6. */
export type Bound = number | bigint;

/**
 * First and last address of a prefix as integers: plain numbers for IPv4 (exact below 2^53,
 * and without the byte buffers of cidrRange()), bigints for IPv6. Compare within one family.
 */
export function prefixRange(address: string, prefixlen: number, family: Family): [Bound, Bound] {
  if (family === 6) return cidrRange(address, prefixlen);
  const lo = prefixStart(address, prefixlen, 4) as number;
  return [lo, lo + 2 ** (32 - prefixlen) - 1];
}

/** prefixRange()'s first address alone, without the pair (a lookup per route of a big file). */
export function prefixStart(address: string, prefixlen: number, family: Family): Bound {
  if (family === 6) return cidrRange(address, prefixlen)[0];
  const size = 2 ** (32 - prefixlen);
  return Math.floor(ipv4Value(address) / size) * size;
}

const CLASS_WORDS: Record<AddressClass, string> = {
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  loopback: 'a loopback address',
  'link-local': 'a link-local address',
  mapped: 'an IPv4-mapped address',
  unicast: 'a unicast address',
};

export const classWords = (ip: string): string => CLASS_WORDS[addressClass(ip)];

/**
 * An address on a link (tunnel or bridge). IPv4: __inet_insert_ifa() drops 0.0.0.0 without
 * an error, so it would be "missing" forever. IPv6: inet6_addr_add() and ipv6_add_addr()
 * refuse ::, ::1 on any link but lo, and multicast. /0 claims every address as on-link
 * (IPv6 adds a default route through the link for it).
 */
export function interfaceAddressProblem(c: Cidr): string | undefined {
  const cls = addressClass(c.address);
  // the common answer, before any message is made: every address of a file is asked
  if (cls === 'unicast' && c.prefixlen !== 0) return undefined;
  const text = `${c.address}/${c.prefixlen}`;
  if (c.family === 4 && cls === 'unspecified')
    return `${text}: the kernel takes 0.0.0.0 without an error and adds nothing, so it could never be there; use the link's own address`;
  if (c.family === 6 && cls === 'unspecified')
    return `${text}: the kernel refuses :: as an address ("Invalid address")`;
  if (c.family === 6 && cls === 'loopback') return `${text}: the kernel allows ::1 on lo only`;
  if (c.family === 6 && cls === 'multicast')
    return `${text}: the kernel refuses a multicast address as a link's address (it is joined, not assigned)`;
  if (c.prefixlen === 0)
    return `${text}: a /0 address makes every address on-link${c.family === 6 ? ' (the kernel adds a default route through the link)' : ''}; give the subnet's prefix length`;
  return undefined;
}

/**
 * A route's gateway: fib_check_nh_v4_gw() refuses multicast and broadcast ("Nexthop has
 * invalid gateway"), ip6_validate_gw() :: and multicast ("Invalid gateway address") and ::1
 * ("Gateway can not be a local address"). 0.0.0.0 means no gateway at all: the route would
 * read back without one.
 */
export function gatewayProblem(via: string): string | undefined {
  const cls = addressClass(via);
  const v6 = familyOf(via) === 6;
  if (cls === 'unspecified' || cls === 'multicast' || cls === 'broadcast' || (v6 && cls === 'loopback'))
    return `${via} is ${CLASS_WORDS[cls]}, which the kernel does not take as a gateway`;
  return undefined;
}

export interface Endpoints {
  local?: string;
  remote?: string;
}

/**
 * The underlay ends of a tunnel, whatever its kind (a kind's check() adds its own: a vxlan's
 * multicast group). Unspecified ends are accepted but never reported back (vxlan_fill_info
 * leaves them out), so the tunnel would be re-created at every pass.
 */
export function endpointProblems(t: Endpoints): readonly { key: 'local' | 'remote'; message: string }[] {
  const { local, remote } = t;
  const lc = local === undefined ? undefined : addressClass(local);
  const rc = remote === undefined ? undefined : addressClass(remote);
  const badLocal = lc === 'unspecified' || lc === 'multicast' || lc === 'broadcast';
  const badRemote = rc === 'unspecified' || rc === 'broadcast';
  // an array only for a tunnel that has something to say: every tunnel of a file is asked
  if (!badLocal && !badRemote) return NO_PROBLEMS;
  const out: { key: 'local' | 'remote'; message: string }[] = [];
  if (badLocal)
    out.push({ key: 'local', message: `${local} is ${CLASS_WORDS[lc]}; local is this host's own underlay address` });
  if (badRemote)
    out.push({ key: 'remote', message: `${remote} is ${CLASS_WORDS[rc]}; remote is the peer's underlay address` });
  return out;
}

const NO_PROBLEMS: readonly never[] = [];

/**
 * Names a declared link cannot have. "all" and "default" are directories of
 * /proc/sys/net/ipv{4,6}/conf and neigh: register_netdevice() fails with EINVAL.
 */
export const PROC_CONF_NAMES = ['all', 'default'];

/**
 * Names the kernel gives devices it creates itself: lo in every namespace, and the fallback
 * device of each tunnel module in every namespace once the module is loaded (ipip's tunl0 among
 * them: island loads it). Declaring one collides with the kernel's own device.
 */
const KERNEL_DEVICES: Record<string, string> = {
  lo: 'the loopback device of every namespace',
  tunl0: "the ipip module's fallback device, in every namespace once ipip is loaded",
  gre0: "the ip_gre module's fallback device",
  gretap0: "the ip_gre module's fallback device",
  erspan0: "the ip_gre module's fallback device",
  sit0: "the sit module's fallback device",
  ip6tnl0: "the ip6_tunnel module's fallback device",
  ip6gre0: "the ip6_gre module's fallback device",
  ip_vti0: "the ip_vti module's fallback device",
  ip6_vti0: "the ip6_vti module's fallback device",
  bonding_masters: "a file of the bonding module in /sys/class/net, where every link's directory lives",
};

export function kernelDeviceName(name: string): string | undefined {
  // own keys only: "constructor" or "toString" name no device, whatever Object.prototype holds
  const what = Object.hasOwn(KERNEL_DEVICES, name) ? KERNEL_DEVICES[name] : undefined;
  return what === undefined ? undefined : `"${name}" is ${what}; pick another name`;
}

/** The metric a route gets when the file gives none: IPv4 0; IPv6 1024 (IP6_RT_PRIO_USER). */
export const defaultMetric = (family: Family): number => (family === 6 ? 1024 : 0);

/** The metric the kernel stores: IPv6 also turns an explicit 0 into 1024 (ip6_route_info_create()). */
export function kernelMetric(family: Family, metric: number | undefined): number {
  return metric === undefined || (family === 6 && metric === 0) ? defaultMetric(family) : metric;
}

/**
 * A route's identity in the kernel: family, table, destination and metric. Two routes with one
 * identity are one route: the second replaces the first. island's routes all live in main.
 */
export function routeIdentity(family: Family, dst: string, dstLen: number, metric: number | undefined): string {
  return `${family} main ${dst}/${dstLen} ${kernelMetric(family, metric)}`;
}
