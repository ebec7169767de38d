/**
 * The shape of each table in island.toml as zod schemas. Field schemas carry their own
 * messages; checks that need more than one field (or more than one entry) live in semantic.ts.
 */
import { z } from 'zod';
import { canonicalIp, familyOf, networkOf } from '../netlink/ip.js';
import { DEBOUNCE_MS, FIREWALL_POLL_MS, msText, RESYNC_MS } from './defaults.js';
import { interfaceAddressProblem, PROC_CONF_NAMES } from './kernel.js';
import { TomlFloat } from './locate.js';
import type { Cidr, Family } from './types.js';

/** "got integer" etc.: the TOML type of a value, in TOML's words. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'integer';
  if (typeof v === 'boolean') return 'boolean';
  if (v instanceof TomlFloat) return 'float';
  if (v instanceof Date) return 'date-time';
  if (Array.isArray(v)) return 'array';
  return 'table';
}

const between = (min: number, max: number): string => `must be between ${min} and ${max}`;

export function int(min: number, max: number) {
  return z.number().int().min(min, between(min, max)).max(max, between(min, max));
}

/** A string field checked by `problem`, which returns a message or undefined. */
function checked(problem: (s: string) => string | undefined) {
  return z.string().superRefine((s, ctx) => {
    const m = problem(s);
    if (m !== undefined) ctx.addIssue({ code: 'custom', message: m });
  });
}

// regular expressions as constants: a literal in a function is a new object at every call, run
// by the regexp interpreter (V8 compiles one to machine code only once it has run a few times)
const NOT_IN_LINK_NAME = /[^A-Za-z0-9_.-]/;
const DIGITS = /^\d+$/;

export function linkNameProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s === '.' || s === '..') return `"${s}" cannot be a link name`;
  if (PROC_CONF_NAMES.includes(s))
    return `"${s}" cannot be a link name: /proc/sys/net/ipv4/conf/${s} holds the settings of ${s === 'all' ? 'every link' : 'new links'}, and the kernel refuses it`;
  const bad = NOT_IN_LINK_NAME.exec(s);
  if (bad)
    return `${JSON.stringify(s)} contains ${JSON.stringify(bad[0])}; link names may use only letters, digits, "_", "." and "-"`;
  if (s.length > 15) {
    return `"${s}" is ${s.length} characters long; link names are at most 15 (the kernel's IFNAMSIZ is 16 including the NUL)`;
  }
  return undefined;
}

export const linkName = checked(linkNameProblem);

/** A plain address's family, or what is wrong with it: each address of a file is read once here. */
function ipFamily(s: string): Family | string {
  if (s.includes('/')) return `"${s}" has a prefix length; write the plain address`;
  // node accepts IPv6 zone ids ("fe80::1%eth0"), which mean nothing to netlink
  const f = s.includes('%') ? undefined : familyOf(s);
  return f ?? `"${s}" is not a valid IP address`;
}

function ipProblem(s: string): string | undefined {
  const f = ipFamily(s);
  return typeof f === 'string' ? f : undefined;
}

/** An address, optionally of one family only (`why` says so). */
export function address(family?: Family, why = '') {
  return z.string().transform((s, ctx) => {
    const f = ipFamily(s);
    const m =
      typeof f === 'string' ? f : family !== undefined && f !== family ? `"${s}" is IPv${f}; ${why}` : undefined;
    if (m !== undefined) {
      ctx.addIssue({ code: 'custom', message: m });
      return z.NEVER;
    }
    // node takes only the plain dotted quad for IPv4, which is already canonical
    return f === 4 ? s : (canonicalIp(s) as string);
  });
}

export const ipAddress = address();

/** "10.3.1.3/24" → Cidr, or a message saying exactly which part is wrong. */
export function parseCidr(s: string): Cidr | string {
  const slash = s.indexOf('/');
  if (slash < 0) {
    if (ipProblem(s) !== undefined) return `"${s}" is not an address with a prefix length, like "10.3.1.3/24"`;
    const single = `${s}/${familyOf(s) === 6 ? 128 : 32}`;
    return `"${s}" has no prefix length; write "${single}" for a single address, or the subnet's length`;
  }
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  const family = ipFamily(addr);
  if (typeof family === 'string') return family;
  const max = family === 4 ? 32 : 128;
  if (!DIGITS.test(len)) return `prefix length "${len}" is not a number`;
  const prefixlen = Number(len);
  if (prefixlen > max) return `prefix length /${len} is too long for IPv${family} (at most /${max})`;
  // node takes only the plain dotted quad for IPv4, which is already canonical
  return { address: family === 4 ? addr : (canonicalIp(addr) as string), prefixlen, family };
}

/** An address on a link, as the kernel's address code takes it. */
export const cidr = z.string().transform((s, ctx) => {
  const r = parseCidr(s);
  const problem = typeof r === 'string' ? r : interfaceAddressProblem(r);
  if (problem !== undefined) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return r as Cidr;
});

/** A route destination: a network, so host bits must be clear. */
export const prefix = z.string().transform((s, ctx): Cidr => {
  if (s === 'default') {
    ctx.addIssue({ code: 'custom', message: 'write "0.0.0.0/0" (or "::/0" for IPv6) for a default route' });
    return z.NEVER;
  }
  const r = parseCidr(s);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  const net = networkOf(r.address, r.prefixlen);
  if (net !== r.address) {
    ctx.addIssue({ code: 'custom', message: `"${s}" has host bits set; did you mean "${net}/${r.prefixlen}"?` });
    return z.NEVER;
  }
  return r;
});

/**
 * `source_port = p` or `[low, high]` (inclusive, as people think) → the kernel's [low, high).
 * The kernel keeps high in 16 bits, so 65535 can never be inside the range.
 */
export const sourcePort = z.unknown().transform((v, ctx): { low: number; high: number } => {
  const fail = (message: string, path: number[] = []): undefined => {
    ctx.addIssue({ code: 'custom', message, path });
    return undefined;
  };
  const port = (x: unknown, path: number[]): number | undefined => {
    if (typeof x !== 'number') return fail(`expected a port number, got ${describe(x)}`, path);
    if (x < 1 || x > 65535) return fail(between(1, 65535), path);
    return x;
  };
  let range: { low: number; high: number } | undefined;
  if (typeof v === 'number') {
    const p = port(v, []);
    if (p === 65535) {
      fail(
        'port 65535 cannot be pinned: the kernel takes the range as [low, high) and high is 16 bits, ' +
          'so pinning would need high = 65536; pick a port up to 65534',
      );
    } else if (p !== undefined) range = { low: p, high: p + 1 };
  } else if (!Array.isArray(v)) {
    fail(`expected a port number or [low, high], got ${describe(v)}`);
  } else if (v.length !== 2) {
    fail(`expected [low, high] (two ports), got ${v.length} element${v.length === 1 ? '' : 's'}`);
  } else {
    const low = port(v[0], [0]);
    const high = port(v[1], [1]);
    if (low === undefined || high === undefined) {
      // already reported
    } else if (low > high) fail(`low port ${low} is above high port ${high}`);
    else if (high === 65535) {
      fail(
        'the range cannot end at 65535: the kernel takes it as [low, high) and high is 16 bits; end it at 65534',
        [1],
      );
    } else range = { low, high: high + 1 };
  }
  return range ?? z.NEVER;
});

const DURATION = /^(\d+)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms" | "30s" | "5m" | "1h" | integer seconds → milliseconds. */
export function duration(minMs: number, maxMs: number, defaultMs: number) {
  return z
    .unknown()
    .transform((v, ctx): number => {
      const fail = (message: string): never => {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      };
      let ms: number;
      if (typeof v === 'number') ms = v * 1000;
      else if (typeof v === 'string') {
        const m = DURATION.exec(v.trim());
        if (!m)
          return fail(`"${v}" is not a duration; write e.g. "500ms", "30s", "5m", or an integer number of seconds`);
        ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
      } else {
        return fail(`expected a duration like "30s" or an integer number of seconds, got ${describe(v)}`);
      }
      if (ms < minMs) return fail(`must be at least ${msText(minMs)}`);
      if (ms > maxMs) return fail(`must be at most ${msText(maxMs)}`);
      return ms;
    })
    .optional()
    .transform((ms) => ms ?? defaultMs);
}

/** Like duration(), but a key left out stays undefined. */
export function optionalDuration(minMs: number, maxMs: number) {
  return duration(minMs, maxMs, Number.NaN).transform((ms) => (Number.isNaN(ms) ? undefined : ms));
}

/**
 * The keys of every [[tunnel]], whatever its kind; a kind adds its own and may narrow these
 * (kinds/<kind>.ts). `kind` is checked against the registry (sections.ts).
 */
export const tunnelShape = {
  name: linkName,
  kind: z.string(),
  local: ipAddress,
  remote: ipAddress,
  dev: linkName.optional(),
  ttl: int(1, 255).optional(),
  // "auto" is what no mtu means: the underlay's less the headers, at most what the path carries
  mtu: z
    .union([int(68, 65535), z.literal('auto')], {
      errorMap: (_, ctx) => ({
        message: Number.isInteger(ctx.data)
          ? between(68, 65535)
          : `expected an integer or "auto", got ${describe(ctx.data)}`,
      }),
    })
    .optional()
    .transform((v) => (v === 'auto' ? undefined : v)),
  addresses: z.array(cidr).default([]),
  // WireGuard's PersistentKeepalive takes 1..65535 s; an hour is already past every NAT's timeout
  keepalive: optionalDuration(1000, 3_600_000),
  peer: ipAddress.optional(),
};

export const bridgeShape = {
  name: linkName,
  mtu: int(68, 65535).optional(),
  addresses: z.array(cidr).default([]),
  ports: z.array(linkName).default([]),
};

/**
 * The keys of every [[link]]: an island link over a device of the host, neither a tunnel nor a
 * bridge (the macvlan or ipvlan host shim); its kind adds its own (kinds/<kind>.ts).
 */
export const linkShape = {
  name: linkName,
  kind: z.string(),
  parent: linkName,
  mtu: int(68, 65535).optional(),
  addresses: z.array(cidr).default([]),
};

export const routeShape = {
  to: prefix,
  via: ipAddress.optional(),
  dev: linkName.optional(),
  metric: int(0, 4294967295).optional(),
};

export const daemonShape = {
  // a day is plenty, and keeps it far below setTimeout's 2^31-1 ms limit
  resync: duration(1000, 86_400_000, RESYNC_MS),
  debounce: duration(0, 5000, DEBOUNCE_MS),
  health_port: int(1, 65535).optional(),
  health_interval: optionalDuration(1000, 3_600_000),
  // the kernel's RCU grace periods, which a deletion's RTNL or nf_tables hold waits out, expedited
  rcu_expedited: z.boolean().optional(),
  // node_exporter's textfile collector reads *.prom files of one directory; the daemon replaces the file
  metrics: z
    .string()
    .superRefine((s, ctx) => {
      if (!/^\/[^\0]*[^/]\.prom$/.test(s) || s.split('/').some((p) => p === '..' || p === '.'))
        ctx.addIssue({
          code: 'custom',
          message: `must be an absolute file path ending in ".prom" (node_exporter's textfile collector reads *.prom files), e.g. "/var/lib/prometheus/node-exporter/island.prom"; got ${JSON.stringify(s)}`,
        });
    })
    .optional(),
};

export const FIREWALL_BACKENDS = ['auto', 'nft', 'legacy'] as const;

const firewallBackend = z.string().superRefine((s, ctx) => {
  if (!(FIREWALL_BACKENDS as readonly string[]).includes(s)) {
    ctx.addIssue({ code: 'custom', message: `must be "auto", "nft" or "legacy", not ${JSON.stringify(s)}` });
  }
});

/** A forward rule's source or destination: a network, never "everything" (leave the key out for that). */
export const matchPrefix = z.string().transform((s, ctx): Cidr => {
  const fail = (message: string): never => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (s === 'any' || s === 'default') return fail('leave the key out to match any address');
  const r = parseCidr(s);
  if (typeof r === 'string') return fail(r);
  // iptables prints 0.0.0.0/0 as no match at all: the rule would never read back as written
  if (r.prefixlen === 0) return fail(`"${s}" matches every address; leave the key out instead`);
  const net = networkOf(r.address, r.prefixlen);
  if (net !== r.address) return fail(`"${s}" has host bits set; did you mean "${net}/${r.prefixlen}"?`);
  return r;
});

export const forwardShape = {
  accept: z.array(linkName).default([]),
  rule: z.array(z.unknown()).default([]),
  backend: firewallBackend.optional(),
  // legacy iptables raises no event: this is how long a flush can go unnoticed
  poll: duration(100, 60_000, FIREWALL_POLL_MS),
  // false: no ISLAND-INPUT chain for the tunnels' own packets (status still says when INPUT drops them)
  input: z.boolean().optional(),
  // false: no ISLAND-MSS chain (TCP MSS of SYNs into the tunnels clamped to their MTU)
  clamp_mss: z.boolean().optional(),
};

export const forwardRuleShape = {
  in: linkName.optional(),
  out: linkName.optional(),
  source: matchPrefix.optional(),
  destination: matchPrefix.optional(),
};

/** Sections are only type-checked here; their entries are checked one by one so one bad entry spoils nothing else. */
export const topShape = {
  tunnel: z.array(z.unknown()).optional(),
  bridge: z.array(z.unknown()).optional(),
  link: z.array(z.unknown()).optional(),
  route: z.array(z.unknown()).optional(),
  sysctl: z.record(z.unknown()).optional(),
  daemon: z.record(z.unknown()).optional(),
  forward: z.record(z.unknown()).optional(),
  hosts: z.record(z.unknown()).optional(),
  // a one-file island (config/island.ts)
  island: z.record(z.unknown()).optional(),
  site: z.array(z.unknown()).optional(),
  host: z.array(z.unknown()).optional(),
};

export type Shape = z.ZodRawShape;
