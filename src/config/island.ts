/**
 * A one-file island: `[island]`, `[[site]]`, `[[host]]` and `[[tunnel]]`s with `ends`, the same
 * file on every host. Checked once for the whole island (the two ends of a tunnel agree by
 * construction), then turned into the part one host plays: a gateway's tunnels, routes and
 * forwarding, or a member's routes via its gateway.
 */
import { z } from 'zod';
import { kindOf, kindsOf } from '../kinds/index.js';
import { type Declared, type KernelIdentity, oneOf } from '../kinds/kind.js';
import { cidrRange, familyOf, inSubnet, networkOf } from '../netlink/ip.js';
import { NAT_KEEPALIVE_MS } from './defaults.js';
import { formatKeyPath, type KeyPath } from './diagnostic.js';
import { hostNameProblem } from './hosts.js';
import { addressClass, classWords, endpointProblems, kernelDeviceName } from './kernel.js';
import { ownAddresses } from './own-addresses.js';
import type { Reporter } from './report.js';
import { cidr, describe, int, ipAddress, prefix, type Shape } from './schema.js';
import { compact, each, field, isTable, strict, tunnel as tunnelSection } from './sections.js';
import { identityClash } from './semantic.js';
import type {
  Cidr,
  HostEntry,
  IslandEnd,
  IslandHost,
  IslandModel,
  IslandSelf,
  IslandSite,
  IslandTunnel,
  RouteConfig,
  TunnelConfig,
} from './types.js';

/** How long the end behind a NAT waits between probes by default: under Linux's 30 s for an unreplied UDP mapping. */

const hostName = z.string().superRefine((s, ctx) => {
  const m = hostNameProblem(s);
  if (m !== undefined) ctx.addIssue({ code: 'custom', message: m });
});

const siteName = z.string().superRefine((s, ctx) => {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(s))
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(s)} is not a site name: 1-63 letters, digits, "_" and "-", starting with a letter or digit`,
    });
});

export const islandShape = {
  pods: z.array(prefix).default([]),
  services: z.array(prefix).default([]),
  names: z.boolean().default(false),
};

export const siteShape = { name: siteName, subnet: prefix, gateway: hostName };

export const hostShape = {
  name: hostName,
  address: ipAddress,
  public: ipAddress.optional(),
  tcp: z.array(int(1, 65535)).default([]),
};

/** Keys of a per-host [[tunnel]] that a one-file island derives from its sites and hosts. */
export const DERIVED = ['local', 'remote', 'dev', 'addresses', 'peer'] as const;

/** Stand-ins that let the per-host tunnel checks run on what the user wrote: every derived key is replaced per host. */
const STAND_IN = { local: '192.0.2.1', remote: '192.0.2.2' };

/** What the file says of the whole island, before knowing which host reads it. */
export interface IslandFile {
  model: Omit<IslandModel, 'self'>;
  /** each island tunnel's kind-specific settings (vni, ports, ttl, mtu, keepalive...), by name */
  templates: Map<string, TunnelConfig>;
  names: boolean;
}

/** Whether the file describes a one-file island rather than one host. */
export function isIslandFile(root: Record<string, unknown>): boolean {
  return root.site !== undefined || root.island !== undefined || root.host !== undefined;
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const at = (path: KeyPath, ...rest: (string | number)[]): KeyPath => [...path, ...rest];
const cidrText = (c: Cidr): string => `${c.address}/${c.prefixlen}`;
const netText = (c: Cidr): string => `${networkOf(c.address, c.prefixlen)}/${c.prefixlen}`;

export function parseIsland(rep: Reporter, root: Record<string, unknown>): IslandFile | undefined {
  const before = rep.errors.length;
  for (const section of ['bridge', 'link', 'route'] as const) {
    if (root[section] === undefined) continue;
    rep.error(
      [section],
      `a one-file island ([[site]]) is the same file on every host, so it has no per-host [[${section}]]; ` +
        'island derives the routes from the sites and tunnels',
      'key',
    );
  }
  const rawIsland = root.island ?? {};
  const islandOk = strict(rep, islandShape, rawIsland, ['island']);
  const pods = each(prefix, rawIsland, 'pods');
  const services = each(prefix, rawIsland, 'services');
  const names = field(islandShape.names, rawIsland, 'names') ?? false;

  const sites = entries(rep, siteShape, root.site, 'site').map(({ path, value }) => ({ path, site: value }));
  if (root.site !== undefined && sites.length === 0) rep.error(['site'], 'expected at least one [[site]] table');
  if (root.site === undefined)
    rep.error([], 'a one-file island needs [[site]] tables: each site is a subnet behind a gateway', {
      line: 1,
      col: 1,
    });

  // a bad tcp list is reported; the host itself still counts, with no ports
  const hosts = entries(rep, hostShape, root.host, 'host').map(({ path, value }) => ({
    path,
    host: { ...value, tcp: value.tcp ?? [] },
  }));

  for (const h of hosts) {
    for (const key of ['address', 'public'] as const) {
      const ip = h.host[key];
      const bad = ip === undefined ? undefined : hostAddressProblem(ip);
      if (bad) rep.error(at(h.path, key), bad);
    }
  }

  const siteByName = unique(rep, sites, (s) => s.site.name, 'site', false);
  const hostByName = unique(rep, hosts, (h) => h.host.name, 'host', true);
  unique(rep, hosts, (h) => h.host.address, 'host address', false, 'address');
  const siteNets = sites.flatMap((s) =>
    s.site.subnet ? [{ path: at(s.path, 'subnet'), net: s.site.subnet, what: `site ${s.site.name ?? '?'}` }] : [],
  );
  overlapping(rep, siteNets);

  // each host belongs to the site whose subnet holds its address
  const siteOf = new Map<string, string>();
  for (const h of hosts) {
    const { name, address } = h.host;
    if (name === undefined || address === undefined) continue;
    const s = sites.find((x) => x.site.subnet && inSubnet(address, x.site.subnet.address, x.site.subnet.prefixlen));
    if (s?.site.name !== undefined) siteOf.set(name.toLowerCase(), s.site.name);
    else if (sites.every((x) => x.site.subnet)) {
      rep.error(
        at(h.path, 'address'),
        `${address} is in no [[site]] subnet; every host belongs to the site of its LAN`,
      );
    }
  }
  for (const s of sites) {
    const g = s.site.gateway;
    if (g === undefined) continue;
    const h = hostByName.get(g.toLowerCase());
    if (!h) {
      rep.error(at(s.path, 'gateway'), `"${g}" is not a [[host]] of this file; declare it with its address`);
      continue;
    }
    const home = siteOf.get(g.toLowerCase());
    if (s.site.name !== undefined && home !== undefined && home !== s.site.name) {
      rep.error(
        at(s.path, 'gateway'),
        `${g} (${h.host.address}) is on site ${home}'s LAN, not inside ${s.site.subnet ? netText(s.site.subnet) : 'this subnet'}`,
      );
    }
  }
  for (const h of hosts) {
    if (h.host.public === undefined || h.host.name === undefined) continue;
    if (!sites.some((s) => s.site.gateway?.toLowerCase() === h.host.name?.toLowerCase()))
      rep.warn(at(h.path, 'public'), `${h.host.name} is no site's gateway: only a gateway's public address is used`);
  }

  const gatewayOf = (site: string): IslandHost | undefined => {
    const g = siteByName.get(site)?.site.gateway;
    const h = g === undefined ? undefined : hostByName.get(g.toLowerCase())?.host;
    if (!h || h.name === undefined || h.address === undefined) return undefined;
    return { name: h.name, address: h.address, site, tcp: h.tcp, ...(h.public ? { public: h.public } : {}) };
  };

  const templates = new Map<string, TunnelConfig>();
  /** per gateway host, the kernel identity of each tunnel it runs: a second is refused by the kernel */
  const atGateway = new Map<string, { id: KernelIdentity; path: KeyPath; name: string }[]>();
  const tunnels: IslandTunnel[] = [];
  const tunnelNets: { path: KeyPath; net: Cidr; what: string }[] = [];
  const joined = new Map<string, KeyPath>();
  list(root.tunnel).forEach((raw, i) => {
    const path: KeyPath = ['tunnel', i];
    if (!isTable(raw)) {
      rep.error(path, `expected a table, got ${describe(raw)}`);
      return;
    }
    for (const k of DERIVED) {
      if (raw[k] !== undefined)
        rep.error(at(path, k), `${k} is derived from the sites and hosts in a one-file island; remove it`, 'key');
    }
    const rest = Object.fromEntries(
      Object.entries(raw).filter(([k]) => k !== 'ends' && !(DERIVED as readonly string[]).includes(k)),
    );
    const { view, config } = tunnelSection(rep, { ...rest, ...STAND_IN }, i);
    if (config) checkTemplate(rep, path, config, view.declared, templates);
    const ends = parseEnds(rep, raw.ends, at(path, 'ends'), siteByName);
    if (!config || !ends) return;
    const [a, b] = ends;
    const pair = [a.site, b.site].sort().join(' and ');
    const prev = joined.get(pair);
    if (prev) {
      rep.error(at(path, 'ends'), `sites ${pair} are already joined by the tunnel at line ${rep.line(prev)}`);
      return;
    }
    joined.set(pair, at(path, 'ends'));
    const ga = gatewayOf(a.site);
    const gb = gatewayOf(b.site);
    if (ga && gb) {
      checkEnds(rep, path, config, ga, gb);
      for (const [me, them] of [
        [ga, gb],
        [gb, ga],
      ] as const)
        sameKernelTunnel(rep, path, config, me, them, atGateway);
    }
    templates.set(config.name, config);
    tunnels.push({ name: config.name, kind: config.kind, ends });
    tunnelNets.push({ path: at(path, 'ends', a.site), net: a.inner, what: `tunnel ${config.name}` });
  });

  // every pair of sites must be joined, or their hosts cannot reach each other
  const named = sites.map((s) => s.site.name).filter((n): n is string => n !== undefined);
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const pair = [named[i], named[j]].sort().join(' and ');
      if (!joined.has(pair) && rep.errors.length === before) {
        const s = sites.find((x) => x.site.name === named[j]);
        rep.error(
          s?.path ?? ['site'],
          `sites ${pair} are joined by no [[tunnel]]: their hosts could not reach each other`,
          'key',
        );
      }
    }
  }

  const cluster = [
    ...pods.flatMap((p, i) => (p ? [{ path: ['island', 'pods', i], net: p, what: 'the pod range' }] : [])),
    ...services.flatMap((p, i) => (p ? [{ path: ['island', 'services', i], net: p, what: 'the service range' }] : [])),
  ];
  overlapping(rep, tunnelNets, siteNets);
  overlapping(rep, tunnelNets);
  overlapping(rep, cluster, [...siteNets, ...tunnelNets]);
  overlapping(rep, cluster);

  if (!islandOk || rep.errors.length > before) return undefined;
  return {
    model: {
      sites: sites.map((s) => s.site as IslandSite),
      hosts: hosts.map(({ host: h }): IslandHost => {
        const name = h.name as string;
        const site = siteOf.get(name.toLowerCase()) as string;
        return compact({ name, address: h.address as string, site, public: h.public, tcp: h.tcp });
      }),
      tunnels,
      pods: pods as Cidr[],
      services: services as Cidr[],
    },
    templates,
    names,
  };
}

/**
 * Each table of an array section: checked strictly (every problem reported), and whatever did
 * validate picked key by key, so the whole-island checks still see the good parts of a bad entry.
 */
function entries<S extends Shape>(
  rep: Reporter,
  shape: S,
  raw: unknown,
  section: string,
): { path: KeyPath; value: Partial<{ [K in keyof S]: z.output<S[K]> }> }[] {
  return list(raw).map((r, i) => {
    const path: KeyPath = [section, i];
    strict(rep, shape, r, path);
    const picked = Object.fromEntries(Object.keys(shape).map((k) => [k, field(shape[k] as z.ZodTypeAny, r, k)]));
    return { path, value: compact(picked) as Partial<{ [K in keyof S]: z.output<S[K]> }> };
  });
}

/** `ends = { sopnode = "10.3.1.2/24", r2lab = "10.3.1.3/24" }`: two sites, each gateway's inner address, one subnet. */
function parseEnds(
  rep: Reporter,
  raw: unknown,
  path: KeyPath,
  sites: Map<string, { site: Partial<IslandSite> }>,
): [IslandEnd, IslandEnd] | undefined {
  const example = 'ends = { sopnode = "10.3.1.2/24", r2lab = "10.3.1.3/24" }';
  if (raw === undefined) {
    rep.error(path, `required key is missing: the two sites it joins with their inner addresses, e.g. ${example}`);
    return undefined;
  }
  if (!isTable(raw)) {
    rep.error(path, `expected a table of two sites, e.g. ${example}; got ${describe(raw)}`);
    return undefined;
  }
  const entries = Object.entries(raw);
  if (entries.length !== 2) {
    rep.error(path, `a tunnel joins exactly two sites; got ${entries.length}, e.g. ${example}`);
    return undefined;
  }
  const out: IslandEnd[] = [];
  for (const [site, value] of entries) {
    if (!sites.has(site)) {
      const known = [...sites.keys()].map((s) => `"${s}"`).join(', ');
      rep.error(at(path, site), `"${site}" is not a [[site]] of this file${known ? ` (sites: ${known})` : ''}`, 'key');
      continue;
    }
    const r = cidr.safeParse(value);
    if (!r.success) {
      rep.error(at(path, site), r.error.issues[0]?.message ?? 'not an address with a prefix length');
      continue;
    }
    out.push({ site, inner: r.data });
  }
  const [a, b] = out;
  if (!a || !b) return undefined;
  if (a.inner.address === b.inner.address) {
    rep.error(at(path, b.site), `same inner address as ${a.site}; each end needs its own`);
    return undefined;
  }
  if (
    a.inner.family !== b.inner.family ||
    a.inner.prefixlen !== b.inner.prefixlen ||
    netText(a.inner) !== netText(b.inner)
  ) {
    rep.error(
      at(path, b.site),
      `${cidrText(b.inner)} is not in ${a.site}'s subnet ${netText(a.inner)}; both ends share one subnet`,
    );
    return undefined;
  }
  return [a, b];
}

/** The tunnel as its kind sees it at one gateway: local its address, remote the other's. */
function atEnd(t: TunnelConfig, local: string, remote: string): Declared {
  return { name: t.name, local, remote, mtu: t.mtu, options: t, written: (k) => k in t };
}

/** What the kernel or the NAT would refuse, said at the tunnel. */
function checkEnds(rep: Reporter, path: KeyPath, t: TunnelConfig, a: IslandHost, b: IslandHost): void {
  if (a.public !== undefined && b.public !== undefined) {
    rep.error(
      at(path, 'ends'),
      `both gateways (${a.name}, ${b.name}) are behind a NAT (public is set on both): neither could reach the other first`,
    );
  }
  const kind = kindOf(t.kind);
  const families = kind.families ?? [4, 6];
  const fa = familyOf(a.public ?? a.address);
  const fb = familyOf(b.public ?? b.address);
  const used = [familyOf(a.address), familyOf(b.address), fa, fb];
  const off = used.find((f) => f !== undefined && !families.includes(f));
  if (off !== undefined) {
    const fits = kindsOf('tunnel').filter((k) => (k.families ?? [4, 6]).includes(off));
    rep.error(
      at(path, 'kind'),
      `${t.kind} runs over IPv${families.join('/IPv')} only, and ${a.name} or ${b.name} has an IPv${off} address; use kind = ${oneOf(fits.map((k) => k.kind))}`,
    );
  } else if (fa !== fb || familyOf(a.address) !== familyOf(b.public ?? b.address)) {
    rep.error(at(path, 'ends'), `the gateways ${a.name} and ${b.name} reach each other over different IP families`);
  } else {
    // each gateway's own tunnel: local its address, remote the other's public address or its address
    for (const [me, them] of [
      [a, b],
      [b, a],
    ] as const) {
      const remote = them.public ?? them.address;
      // a host address of the wrong kind was said at the [[host]] already
      if (hostAddressProblem(me.address) || hostAddressProblem(remote)) continue;
      const ends = (kind.check?.(atEnd(t, me.address, remote)) ?? []).filter(
        (p) => !p.warning && (p.key === 'local' || p.key === 'remote'),
      );
      const problem = [...endpointProblems({ local: me.address, remote }), ...ends][0];
      if (problem) {
        rep.error(at(path, 'ends'), `at ${me.name}: ${problem.message}`);
        return;
      }
    }
  }
}

/** A [[tunnel]]'s own keys, as a per-host file's tunnel is checked: names the kernel holds, what its kind refuses of them. */
function checkTemplate(
  rep: Reporter,
  path: KeyPath,
  t: TunnelConfig,
  declared: Declared,
  templates: Map<string, TunnelConfig>,
): void {
  const taken = kernelDeviceName(t.name);
  if (taken) rep.error(at(path, 'name'), taken);
  else if (templates.has(t.name)) rep.error(at(path, 'name'), `duplicate tunnel name "${t.name}"`);
  // the ends are stand-ins here: checkEnds() checks the real ones
  const own = { ...declared, local: undefined, remote: undefined };
  for (const p of kindOf(t.kind).check?.(own) ?? []) {
    if (DERIVED.includes(p.key as never)) continue;
    if (p.warning) rep.warn(at(path, p.key), p.message);
    else rep.error(at(path, p.key), p.message);
  }
}

/**
 * Two [[tunnel]]s that one gateway would run as one kernel object (each kind's identity()):
 * two vxlan with the same VNI and port, two ipip to far gateways behind one public address.
 */
function sameKernelTunnel(
  rep: Reporter,
  path: KeyPath,
  t: TunnelConfig,
  me: IslandHost,
  them: IslandHost,
  seen: Map<string, { id: KernelIdentity; path: KeyPath; name: string }[]>,
): void {
  const remote = them.public ?? them.address;
  const id = kindOf(t.kind).identity?.(atEnd(t, me.address, remote));
  if (!id) return;
  const mine = seen.get(me.name) ?? [];
  seen.set(me.name, mine);
  const prev = mine.find((o) => identityClash(o.id, id));
  if (!prev) {
    mine.push({ id, path, name: t.name });
    return;
  }
  const first = `tunnel ${prev.name} (line ${rep.line(at(prev.path, 'name'))}), and both run on ${me.name}`;
  // local, remote and dev are derived from the ends
  rep.error(at(path, DERIVED.includes(id.key as never) ? 'ends' : id.key), id.message(first));
}

/** A [[host]] address: its own unicast address, which tunnels start from and routes go via. */
function hostAddressProblem(ip: string): string | undefined {
  const cls = addressClass(ip);
  if (cls === 'unicast' || cls === 'link-local' || cls === 'mapped') return undefined;
  return `${ip} is ${classWords(ip)}; a host's address is its own unicast address`;
}

/** Report every name seen twice; returns the first of each. */
function unique<T extends { path: KeyPath }>(
  rep: Reporter,
  items: T[],
  key: (x: T) => string | undefined,
  what: string,
  ignoreCase: boolean,
  field = 'name',
): Map<string, T> {
  const seen = new Map<string, T>();
  for (const x of items) {
    const k0 = key(x);
    if (k0 === undefined) continue;
    const k = ignoreCase ? k0.toLowerCase() : k0;
    const prev = seen.get(k);
    if (prev)
      rep.error(at(x.path, field), `duplicate ${what} "${k0}" (first at line ${rep.line(at(prev.path, field))})`);
    else seen.set(k, x);
  }
  return seen;
}

interface Range {
  path: KeyPath;
  net: Cidr;
  what: string;
}

/** Each range of `mine` against the others of `mine` (or against `others` when given). */
function overlapping(rep: Reporter, mine: Range[], others?: Range[]): void {
  const meets = (a: Cidr, b: Cidr) => {
    if (a.family !== b.family) return false;
    const [a0, a1] = cidrRange(a.address, a.prefixlen);
    const [b0, b1] = cidrRange(b.address, b.prefixlen);
    return a0 <= b1 && b0 <= a1;
  };
  mine.forEach((m, i) => {
    const against = others ?? mine.slice(0, i);
    const hit = against.find((o) => o !== m && meets(m.net, o.net));
    if (hit) {
      rep.error(
        m.path,
        `${netText(m.net)} (${m.what}) overlaps ${netText(hit.net)} (${hit.what}, ${formatKeyPath(hit.path)} at line ${rep.line(hit.path)})`,
      );
    }
  });
}

/** What tells this host which part it plays: a name given by the admin, or its own addresses. */
export interface Identity {
  /** --host or ISLAND_HOST: a [[host]] name, or a site name for an unnamed member of it */
  host?: string;
  /** this host's addresses */
  addresses: string[];
}

/** ISLAND_HOST if set (the CLI's --host sets it too), and this host's own addresses. */
export function localIdentity(): Identity {
  const addresses = ownAddresses();
  const host = process.env.ISLAND_HOST;
  return host ? { host, addresses } : { addresses };
}

export function resolveSelf(m: IslandFile['model'], id: Identity): IslandSelf | string {
  const gatewayOf = (site: string) => m.sites.find((s) => s.name === site)?.gateway.toLowerCase();
  const asHost = (h: IslandHost, how: string): IslandSelf => ({
    host: h.name,
    site: h.site,
    role: gatewayOf(h.site) === h.name.toLowerCase() ? 'gateway' : 'member',
    how,
  });
  if (id.host !== undefined) {
    const h = m.hosts.find((x) => x.name.toLowerCase() === id.host?.toLowerCase());
    if (h) return asHost(h, `named ${id.host}`);
    const s = m.sites.find((x) => x.name === id.host);
    if (s) return { site: s.name, role: 'member', how: `named ${s.name}` };
    const choices = [...m.hosts.map((x) => x.name), ...m.sites.map((x) => x.name)].join(', ');
    return `"${id.host}" is neither a [[host]] nor a [[site]] of the island (${choices})`;
  }
  for (const a of id.addresses) {
    const h = m.hosts.find((x) => x.address === a);
    if (h) return asHost(h, `address ${a}`);
  }
  for (const a of id.addresses) {
    const s = m.sites.find((x) => inSubnet(a, x.subnet.address, x.subnet.prefixlen));
    if (s) return { site: s.name, role: 'member', how: `address ${a} in ${netText(s.subnet)}` };
  }
  const mine = id.addresses.length ? id.addresses.join(', ') : 'none';
  return `this host is none of the island's: its addresses (${mine}) are neither a [[host]] address nor inside a [[site]] subnet; name it with --host NAME or ISLAND_HOST`;
}

/** "faraday: gateway of site r2lab (address 192.168.3.100)", "a member of site r2lab (named r2lab)" */
export function describeSelf(self: IslandSelf): string {
  const who = self.host === undefined ? 'a member' : `${self.host}: ${self.role}`;
  return `${who} of site ${self.site} (${self.how})`;
}

/** This host's part: what a per-host file would have said. */
export interface HostPart {
  tunnels: TunnelConfig[];
  routes: RouteConfig[];
  /** links whose forwarded traffic a gateway accepts */
  accept: string[];
  hosts: HostEntry[];
}

export function hostPart(f: IslandFile, self: IslandSelf): HostPart {
  const m = f.model;
  const gateway = (site: string): IslandHost => {
    const name = m.sites.find((s) => s.name === site)?.gateway.toLowerCase();
    return m.hosts.find((h) => h.name.toLowerCase() === name) as IslandHost;
  };
  const site = (name: string): IslandSite => m.sites.find((s) => s.name === name) as IslandSite;
  const subnet = (c: Cidr): Cidr => ({ ...c, address: networkOf(c.address, c.prefixlen) });
  const tunnels: TunnelConfig[] = [];
  const routes: RouteConfig[] = [];
  const accept: string[] = [];
  const me = gateway(self.site);
  for (const t of m.tunnels) {
    const mine = t.ends.find((e) => e.site === self.site);
    const far = t.ends.find((e) => e.site !== self.site);
    if (!mine || !far) continue;
    const farSite = site(far.site);
    if (self.role === 'gateway') {
      const them = gateway(far.site);
      const template = f.templates.get(t.name) as TunnelConfig;
      // the end behind a NAT sends first and keeps the mapping open; the far end sends to the NAT's outside
      const keepaliveMs = template.keepaliveMs ?? (me.public !== undefined ? NAT_KEEPALIVE_MS : undefined);
      tunnels.push(
        compact({
          ...template,
          local: me.address,
          remote: them.public ?? them.address,
          addresses: [mine.inner],
          peer: far.inner.address,
          keepaliveMs,
          remoteBehindNat: them.public !== undefined || undefined,
        }),
      );
      routes.push({ to: farSite.subnet, via: far.inner.address, dev: t.name });
      accept.push(t.name);
    } else {
      // over the host's own ethernet: the kernel finds the device from the gateway's subnet
      routes.push({ to: farSite.subnet, via: me.address }, { to: subnet(mine.inner), via: me.address });
    }
  }
  const hosts = f.names ? m.hosts.map((h) => ({ name: h.name, address: h.address })) : [];
  return { tunnels, routes, accept, hosts };
}
