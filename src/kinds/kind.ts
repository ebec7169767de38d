/**
 * One module per link kind, behind this one interface (like systemd-networkd's netdev
 * vtable): everything that is true of one kind and not of the others. Its keys in the file
 * (the zod shape), the checks across them, how a declared link becomes IFLA_INFO_DATA and a
 * live one is read back, what the kernel lets only one link of it hold, how it is described,
 * whether it carries Ethernet (a bridge port), what sits under it (a tunnel's underlay, a
 * macvlan's parent) and what its encapsulation costs. The loader, check, plan, apply,
 * describe, the firewall, the JSON schema, the man page and `island --help` ask the registry
 * (index.ts); none of them names a kind.
 *
 * In place or re-created: an attribute of spec() that differs re-creates the link, unless its
 * kind's inPlace() names it (the kernel's changelink takes it: a macvlan's mode); the link's
 * mtu, master and up state (every kind) and the features() of its kind are set in place.
 */
import type { z } from 'zod';
import type { Family } from '../config/types.js';
import { sha256 } from '../sha256.js';

export interface KindContext {
  /** ifindex of a live link by name (underlay devices) */
  ifindex(name: string): number | undefined;
  /** name of a live link by ifindex */
  ifname(ifindex: number): string | undefined;
}

/** The comparable attributes of one link: plain values only. */
export type Spec = Record<string, string | number | undefined>;

/**
 * ethtool features island keeps at a value, by the kernel's name (`ethtool -k` prints
 * them): true = on. A feature not named here is left as the kernel has it.
 */
export type Features = Record<string, boolean>;

/** What a feature is called in plan, status and logs. */
const FEATURE_WORDS: Record<string, string> = { 'tx-checksum-ip-generic': 'tx checksum offload' };
export const featureLabel = (name: string): string => FEATURE_WORDS[name] ?? name;

/**
 * The table of island.toml that declares a kind's links: [[tunnel]] (local, remote, dev,
 * keepalive, peer...), [[bridge]] (ports), or [[link]] (a device over a `parent`).
 */
export type Table = 'tunnel' | 'bridge' | 'link';

/** A kind's own keys as zod takes them, by their name in the file. */
export type Keys = Record<string, z.ZodTypeAny>;

/**
 * A declared link as the kind sees it: the table's common keys, and its own keys typed by
 * options(). From a broken entry too (only what validated is there), so checks still run.
 */
export interface Declared {
  name?: string;
  local?: string;
  remote?: string;
  dev?: string;
  /** a [[link]]'s device it sits on */
  parent?: string;
  mtu?: number;
  /** the kind's own settings, as options() made them */
  options: Record<string, unknown>;
  /** whether the entry writes this key at all (valid or not) */
  written(key: string): boolean;
}

/** A problem with one key of a declared link. */
export interface Problem {
  key: string;
  message: string;
  warning?: boolean;
}

/**
 * What the kernel lets only one link of a kind hold: two declared links with equal `id` are one
 * kernel object (the second create fails with EEXIST), unless both carry an `apart` and the two
 * differ. `key` is where check says it; `message` says why, given the first one's name and line.
 */
export interface KernelIdentity {
  id: string;
  apart?: string;
  key: string;
  message(first: string): string;
}

/** The packets a tunnel receives from its remote, for the INPUT accept island keeps. */
export interface Underlay {
  /** IP protocol: 17 (udp), 4 (ipip), 47 (gre) */
  proto: number;
  /** udp: destination port */
  dport?: number;
  /** pinned to its own port (the NAT recipe): the peer's packets answer this host's */
  answers?: boolean;
  /** in words, e.g. "udp 4789", "gre" */
  words: string;
}

export interface LinkKind {
  readonly kind: string;
  readonly table: Table;
  /** the kernel module that makes it, when not named like the kind (gre: ip_gre) */
  readonly module?: string;
  /** one line: `island --help`, island.toml(5), the JSON schema, the example file */
  readonly about: string;
  /**
   * Its keys beyond its table's (with their types, ranges and defaults), and the table's keys
   * it narrows (ipip's local and remote are IPv4 only).
   */
  readonly keys: Keys;
  /** the typed settings of its own keys (camelCase, defaults applied), from each key's value if it validated */
  options?(value: (key: string) => unknown): Record<string, unknown>;
  /** checks across its keys, and what the kernel refuses of them */
  check?(d: Declared): Problem[];
  /** see KernelIdentity; undefined: nothing to clash on (a bridge) */
  identity?(d: Declared): KernelIdentity | undefined;
  /** carries Ethernet frames: it can be a port of a bridge */
  readonly ethernet: boolean;
  /** underlay families (tunnels): local and remote of one family, one of these */
  readonly families?: readonly Family[];
  /**
   * Bytes its encapsulation adds to what the link carries, by underlay family (0: none); with
   * the declaration, what its settings add too (a gre key).
   */
  overhead(family: Family, decl?: object): number;
  /**
   * The kernel keeps its mtu at most its underlay device's less overhead() (vxlan_dev_configure
   * lowers it at creation and refuses to raise it); the IP tunnels follow no such bound.
   */
  readonly underlayMtu?: boolean;
  /** the largest mtu the kernel keeps on it (undefined: 65535) */
  readonly maxMtu?: number;
  /** the device under it that must exist first: a tunnel's dev, a macvlan's parent */
  underlay?(decl: object): string | undefined;
  /** a tunnel's own packets from its remote (undefined: the table's link has none) */
  underlayTraffic?(decl: object): Underlay | undefined;
  /** UDP port its packets use on this host, which the health probes must not take */
  udpPort?(decl: Declared): number | undefined;
  /** its first lines on an edge of `island graph` ("vxlan vni 42", "udp 5533 → 5533") */
  graphWords(decl: object): string[];
  /** attributes the file declares for this link, in the same shape decode() returns */
  spec(decl: object): Spec;
  /** its own words in plan and status ("vni 42", "192.168.3.100 → 138.96.245.50"), before dev, ttl, mtu */
  describe(spec: Spec): string[];
  /** IFLA_INFO_DATA for a new link; undefined when the kind needs none */
  encode(spec: Spec, ctx: KindContext): Buffer | undefined;
  /** a live link's IFLA_INFO_DATA back into a Spec; parent: the device it sits on (IFLA_LINK), by name */
  decode(data: Buffer | undefined, ctx: KindContext, parent?: string): Spec;
  /**
   * Of the spec attributes that differ between the file and the live link, those the kernel
   * changes in place (an RTM_NEWLINK with encode()'s data on the live link); the rest re-create
   * it. Absent: every difference re-creates.
   */
  inPlace?(want: Spec, have: Spec): string[];
  /**
   * The hardware address a new link of this spec gets, the same at every re-creation, so that
   * a peer's neighbour entry for it stays true; undefined: the kernel picks a random one.
   */
  mac?(name: string, spec: Spec): Buffer;
  /** ethtool features the declaration asks island to keep (changed in place); none when absent */
  features?(decl: object): Features | undefined;
  /**
   * Settings the file turned off that the kernel would otherwise hold (`island doctor` asks):
   * e.g. a vxlan's tx_checksum_offload = true leaves TX checksum offload to the kernel.
   */
  unmanaged?(decl: object): string[];
  /**
   * What the kernel lets only one live link of this kind hold at a time (a VXLAN's VNI and
   * port, an ipip tunnel's endpoints), in words; equal for two specs that cannot coexist.
   * Undefined: nothing (a bridge).
   */
  slot?(spec: Spec): string | undefined;
}

/** Names of spec attributes that differ; each one forces a re-create. */
export function specDiff(want: Spec, have: Spec): string[] {
  return Object.keys(want).filter((k) => want[k] !== have[k]);
}

/**
 * A locally administered unicast MAC derived from `what` (the kind, the link's name and what
 * names it on this host): an Ethernet link re-created after `ip link del` keeps the address
 * the peer's neighbour table holds for its inner address. With a random one, frames to the new
 * link were dropped until the peer's ARP entry went stale (about 20 s in the lab demo).
 */
export function stableMac(what: string): Buffer {
  const mac = sha256(what).subarray(0, 6);
  mac[0] = ((mac[0] ?? 0) & 0xfe) | 0x02;
  return mac;
}

/** An underlay device by name, as netlink wants it. */
export function devIndex(dev: string, ctx: KindContext): number {
  const i = ctx.ifindex(dev);
  // plan() never asks to encode a link whose underlay is missing
  if (i === undefined) throw new Error(`underlay device ${dev} does not exist`);
  return i;
}

/** "a" or "an", as the word is said */
export const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');

/** "a", "b" or "c" */
export function oneOf(words: readonly string[]): string {
  const q = words.map((w) => JSON.stringify(w));
  return q.length <= 1 ? (q[0] ?? '') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}
