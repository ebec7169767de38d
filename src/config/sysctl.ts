/**
 * sysctl names and values as the kernel takes them. A name becomes one /proc/sys path,
 * whichever spelling the file uses; a value is compared the way the kernel prints it back;
 * the values the kernel refuses, or stores as something else, are known before a write.
 * The table of known keys was checked against Linux 6.18 (test/kernel/config.test.ts
 * writes each bound into a namespace).
 */

/** Directories whose entries are one per interface: net.ipv4.conf.<if>.<leaf> and the like. */
const PER_INTERFACE = ['net.ipv4.conf.', 'net.ipv6.conf.', 'net.ipv4.neigh.', 'net.ipv6.neigh.', 'net.mpls.conf.'];

export interface SysctlName {
  /** under /proc/sys, e.g. net/ipv4/conf/eth0.100/forwarding */
  path: string;
  /** the interface of a per-interface key ("all" and "default" included) */
  ifname?: string;
  /** the key with the interface written as <if>, e.g. net.ipv4.conf.<if>.forwarding */
  generic: string;
}

/**
 * sysctl(8)'s spelling: "." separates, and "/" stands for a "." inside a component
 * (`net.ipv4.conf.eth0/100.forwarding`). Under the per-interface directories the leaf never
 * holds a dot, so `net.ipv4.conf.eth0.100.forwarding` can only mean interface eth0.100.
 */
export function sysctlName(key: string): SysctlName {
  const parts = key.split('.').map((p) => p.replaceAll('/', '.'));
  const dir = PER_INTERFACE.find((d) => key.startsWith(d));
  if (dir && parts.length >= 5) {
    const head = dir.split('.').length - 1;
    const ifname = parts.slice(head, -1).join('.');
    const leaf = parts[parts.length - 1] as string;
    return {
      path: [...parts.slice(0, head), ifname, leaf].join('/'),
      ifname,
      generic: `${dir}<if>.${leaf}`,
    };
  }
  return { path: parts.join('/'), generic: key };
}

/**
 * Two paths of one kernel value: net.ipv4.ip_forward is conf.all.forwarding (devinet's
 * ctl_forward_entry points at it). A file that sets both differently would flip it at every pass.
 */
const ONE_VALUE: Record<string, string> = { 'net/ipv4/conf/all/forwarding': 'net/ipv4/ip_forward' };

/** The kernel value a name writes: its /proc/sys path, or the path it shares a value with. */
export const sysctlValuePath = (key: string): string => {
  const path = sysctlName(key).path;
  return ONE_VALUE[path] ?? path;
};

/** The kernel answers with tabs between the numbers of a vector ("4096\t87380\t6291456"). */
export function sysctlTokens(value: string): string[] {
  return value
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '');
}

/** Equal as the kernel prints them: the same words, whatever whitespace separates them. */
export function sameSysctl(live: string | undefined, want: string): boolean {
  if (live === undefined) return false;
  const a = sysctlTokens(live);
  const b = sysctlTokens(want);
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

interface Known {
  /** one entry per value of the vector, inclusive bounds */
  values: [number, number][];
  what?: string;
}

const INT = 2 ** 31 - 1;
const int = (min = -(2 ** 31), max = INT): [number, number] => [min, max];
const one = (min?: number, max?: number): Known => ({ values: [int(min, max)] });

const CONF4 = [
  'forwarding',
  'rp_filter',
  'proxy_arp',
  'proxy_arp_pvlan',
  'arp_ignore',
  'arp_announce',
  'arp_filter',
  'arp_accept',
  'arp_notify',
  'accept_local',
  'route_localnet',
  'src_valid_mark',
  'send_redirects',
  'accept_redirects',
  'log_martians',
  'bc_forwarding',
  'ignore_routes_with_linkdown',
];
const CONF6 = [
  'forwarding',
  'accept_ra',
  'accept_ra_defrtr',
  'disable_ipv6',
  'accept_redirects',
  'autoconf',
  'proxy_ndp',
  'use_tempaddr',
  'keep_addr_on_down',
  'seg6_enabled',
];

/** Keys whose shape is known: how many integers, and the bounds the kernel enforces (proc_do*vec_minmax). */
export const KNOWN_SYSCTLS: Record<string, Known> = {
  'net.ipv4.ip_forward': one(),
  ...Object.fromEntries(CONF4.map((k) => [`net.ipv4.conf.<if>.${k}`, one()])),
  ...Object.fromEntries(CONF6.map((k) => [`net.ipv6.conf.<if>.${k}`, one()])),
  'net.ipv6.conf.<if>.hop_limit': one(1, 255),
  'net.ipv4.ip_default_ttl': one(1, 255),
  'net.ipv4.icmp_echo_ignore_all': one(0, 1),
  'net.ipv4.icmp_echo_ignore_broadcasts': one(0, 1),
  'net.ipv4.tcp_l3mdev_accept': one(0, 1),
  'net.ipv4.udp_l3mdev_accept': one(0, 1),
  'net.ipv4.fib_multipath_use_neigh': one(0, 1),
  'net.ipv4.ip_forward_update_priority': one(0, 1),
  'net.ipv4.tcp_tw_reuse': one(0, 2),
  'net.ipv4.tcp_ecn': one(0, 2),
  'net.ipv4.fib_multipath_hash_policy': one(0, 3),
  'net.ipv6.fib_multipath_hash_policy': one(0, 3),
  'net.ipv4.ip_nonlocal_bind': one(0, 255),
  'net.ipv4.ip_early_demux': one(0, 255),
  'net.ipv4.ip_forward_use_pmtu': one(0, 255),
  'net.ipv6.bindv6only': one(0, 255),
  'net.ipv4.ip_unprivileged_port_start': one(0, 65535),
  'net.ipv4.ip_local_port_range': { values: [int(1, 65535), int(1, 65535)], what: 'low and high port' },
  'net.ipv4.tcp_rmem': { values: [int(1), int(1), int(1)], what: 'min, default and max' },
  'net.ipv4.tcp_wmem': { values: [int(1), int(1), int(1)], what: 'min, default and max' },
};

/** Kernel defaults the port checks fall back on when the file does not set the other key. */
const DEFAULT_UNPRIVILEGED_START = 1024;
const DEFAULT_RANGE_LOW = 32768;

const INTEGER = /^[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)$/;

/**
 * Why the kernel would refuse `value` for `key`, or store it as something else than written
 * (so island would write it again at every pass); undefined when it takes it as is.
 * `all` is the whole [sysctl] table, for the keys that depend on each other.
 */
export function sysctlValueProblem(key: string, value: string, all: Record<string, string>): string | undefined {
  const tokens = sysctlTokens(value);
  for (const t of tokens) {
    if (!INTEGER.test(t)) continue;
    if (t.startsWith('+')) return `"${t}": the kernel refuses a "+" sign; write ${t.slice(1)}`;
    if (/^-?0[0-7]*[89]/.test(t))
      return `the kernel reads "${t}" as octal, where 8 and 9 are no digits; write ${t.replace(/^(-?)0+(?=\d)/, '$1')}`;
    const canonical = kernelInteger(t);
    if (canonical !== t) {
      const how = /^-?0[xX]/.test(t) ? 'as hexadecimal ' : /^-?0[0-9]/.test(t) ? 'as octal ' : '';
      return `the kernel reads "${t}" ${how}and shows it back as ${canonical}; write ${canonical}`;
    }
  }
  const known = KNOWN_SYSCTLS[sysctlName(key).generic];
  if (!known) return undefined;
  const n = known.values.length;
  const shape = n === 1 ? 'one integer' : `${n} integers (${known.what})`;
  if (tokens.length !== n || tokens.some((t) => !/^-?[0-9]+$/.test(t))) {
    const kernel =
      tokens.length < n && tokens.length > 0
        ? ' (the kernel would keep the missing ones as they are, and show them back)'
        : tokens.length > n
          ? ' (the kernel would ignore the rest, and show back fewer)'
          : '';
    return `expects ${shape}, got ${JSON.stringify(value)}${kernel}`;
  }
  const nums = tokens.map(Number);
  for (let i = 0; i < n; i++) {
    const [min, max] = known.values[i] as [number, number];
    const v = nums[i] as number;
    if (v < min || v > max) {
      const which = n === 1 ? '' : `value ${i + 1} of ${n} (${v}): `;
      return `${which}the kernel refuses ${v}: it takes ${min} to ${max}${max === INT ? ' (2^31 - 1)' : ''}`;
    }
  }
  if (key === 'net.ipv4.ip_local_port_range') {
    const [low, high] = nums as [number, number];
    if (low > high) return `low port ${low} is above high port ${high}; the kernel refuses a reversed range`;
    const start = intOf(all['net.ipv4.ip_unprivileged_port_start']);
    if (low < (start ?? DEFAULT_UNPRIVILEGED_START)) {
      return start === undefined
        ? `low port ${low} is below net.ipv4.ip_unprivileged_port_start (1024 unless lowered), which the kernel refuses; set that key in [sysctl] too`
        : `low port ${low} is below net.ipv4.ip_unprivileged_port_start = ${start} in this file; the kernel refuses it`;
    }
  }
  // with both keys in the file, the range's own check above says it once
  if (key === 'net.ipv4.ip_unprivileged_port_start' && all['net.ipv4.ip_local_port_range'] === undefined) {
    const v = nums[0] as number;
    if (v > DEFAULT_RANGE_LOW)
      return `${v} is above the low end of net.ipv4.ip_local_port_range (${DEFAULT_RANGE_LOW} unless changed), which the kernel refuses; set that key in [sysctl] too`;
  }
  return undefined;
}

function intOf(s: string | undefined): number | undefined {
  return s !== undefined && /^-?[0-9]+$/.test(s.trim()) ? Number(s) : undefined;
}

/** The kernel's proc_get_long(): base 0 (0x hexadecimal, a leading 0 octal), printed back in decimal. */
function kernelInteger(t: string): string {
  const neg = t.startsWith('-');
  const digits = t.replace(/^[+-]/, '');
  let v: bigint;
  if (/^0[xX]/.test(digits)) v = BigInt(digits);
  else if (digits.length > 1 && digits.startsWith('0')) v = BigInt(`0o${digits.slice(1)}`);
  else v = BigInt(digits);
  return (neg && v !== 0n ? -v : v).toString();
}

/**
 * net.* sysctls are per network namespace; /proc/sys/net always shows the
 * reader's own namespace, so island in a namespace configures that namespace.
 * Dots map to slashes and slashes to dots, as sysctl(8) does
 * (net.ipv4.conf.eth0/100.forwarding is net/ipv4/conf/eth0.100/forwarding); a
 * per-interface key may also name eth0.100 with its dot (sysctlName).
 */
export function sysctlPath(key: string): string {
  return `/proc/sys/${sysctlName(key).path}`;
}
