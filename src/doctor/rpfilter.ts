/**
 * Strict reverse-path filtering (net.ipv4.conf.*.rp_filter = 1) drops a packet when this host's
 * own route back to its source leaves by another device than the one it came in on. An island
 * routes asymmetrically where a route through the tunnel covers the far gateway's own underlay
 * address (a one-file island's gateways always have one): the tunnel's outer packets from the
 * far gateway arrive on the underlay while the route back to their source is the tunnel. With
 * rp_filter 1 on the underlay they are dropped, and the tunnel carries nothing (measured in two
 * namespaces: 0 and 2 pass, 1 drops). Likewise on the tunnel for traffic from a network island
 * routes through it whose way back goes elsewhere.
 *
 * The kernel takes the larger of conf.all and conf.DEVICE; a link island has yet to create
 * gets conf.default. The routes compared are the main table's and island's own (those it keeps
 * or will add); policy routing rules are not looked at.
 */
import type { Config } from '../config/types.js';
import { type DesiredRoute, declaredRoutes } from '../desired.js';
import { familyOf, PrefixIndex } from '../netlink/ip.js';
import { assignments, at, dropins, SYSCTL_CONF, SYSCTL_DIRS } from './files.js';
import { strictSomewhere } from './gather.js';
import type { DoctorFacts, Finding } from './types.js';

interface Route {
  dst: string;
  len: number;
  dev: string;
  metric: number;
}

/** The route the kernel takes to an address: longest prefix, then lowest metric. */
function routeLookup(routes: Route[]): (ip: string) => Route | undefined {
  const index = new PrefixIndex<Route>();
  // stable: of one prefix, the lowest metric first, then the earliest
  for (const r of [...routes].sort((a, b) => a.metric - b.metric)) index.add(r.dst, r.len, r);
  return (ip) =>
    index.holding(ip).reduce<Route | undefined>((best, r) => (!best || r.len > best.len ? r : best), undefined);
}

/** The link holding an address, among this host's; each address looked up once (a hub's tunnels share theirs). */
function linkOf(f: DoctorFacts): (address: string) => string | undefined {
  const found = new Map<string, string | undefined>();
  return (address) => {
    if (!found.has(address)) {
      const a = f.addresses.find((x) => x.address === address);
      found.set(address, a && f.links.find((l) => l.ifindex === a.ifindex)?.name);
    }
    return found.get(address);
  };
}

/** The IPv4 routes the kernel will have: the main table's, and island's own (`declared`: the file's IPv4 ones). */
function routesOf(f: DoctorFacts, declared: DesiredRoute[]): Route[] {
  const names = new Map(f.links.map((l) => [l.ifindex, l.name]));
  const live: Route[] = f.routes
    .filter((r) => r.family === 4 && r.type === 1 && r.oif !== undefined && names.has(r.oif))
    .map((r) => ({ dst: r.dst, len: r.dstLen, dev: names.get(r.oif as number) as string, metric: r.priority ?? 0 }));
  const own: Route[] = [];
  // only for a route that names neither dev nor island link (a hub's 500 all name theirs)
  let lookup: ReturnType<typeof routeLookup> | undefined;
  for (const r of declared) {
    let dev = r.dev ?? r.link;
    if (dev === undefined && r.via) {
      lookup ??= routeLookup(live);
      dev = lookup(r.via)?.dev;
    }
    if (dev) own.push({ dst: r.dst, len: r.dstLen, dev, metric: r.metric });
  }
  return [...own, ...live];
}

/** The effective mode on a link, and what sets it. */
function mode(f: DoctorFacts, cfg: Config, link: string): { value: number; key: string } {
  const get = (k: string) => {
    const v = cfg.sysctl[k] ?? f.sysctl[k];
    return v === undefined ? undefined : Number(v);
  };
  const all = get('net.ipv4.conf.all.rp_filter') ?? 0;
  const own = f.links.some((l) => l.name === link)
    ? `net.ipv4.conf.${link}.rp_filter`
    : 'net.ipv4.conf.default.rp_filter';
  const dev = get(own) ?? 0;
  return dev >= all ? { value: dev, key: own } : { value: all, key: 'net.ipv4.conf.all.rp_filter' };
}

/** The sysctl.d lines that set this key to 1 at boot (sysctl.d(5) order; /etc/sysctl.conf last). */
function bootSetting(f: DoctorFacts, key: string): string | undefined {
  const files = [...dropins(f.files, SYSCTL_DIRS), ...(f.files.has(SYSCTL_CONF) ? [SYSCTL_CONF] : [])];
  const name = key.replace(/^net\.ipv4\.conf\.[^.]+\./, '');
  const dev = key.split('.')[3] ?? '';
  let last: { path: string; line: number; value: string } | undefined;
  for (const p of files)
    for (const a of assignments(p, f.files.get(p) ?? '')) {
      const k = a.key.replace(/^-/, '').replaceAll('/', '.');
      const m = /^net\.ipv4\.conf\.(.+)\.(\w+)$/.exec(k);
      if (m?.[2] === name && (m[1] === dev || m[1] === '*')) last = a;
    }
  return last && last.value === '1' ? at(last) : undefined;
}

export function rpFilterFindings(f: DoctorFacts): Finding[] {
  const cfg = f.config;
  if (!cfg) return [];
  if (!strictSomewhere(f.sysctl, cfg)) return [];
  // island's pins are IPv6's alone
  const declared = declaredRoutes(cfg).filter((r) => r.family === 4);
  const routes = routesOf(f, declared);
  // (link, source address, what arrives) that must pass
  const arrivals: { link: string; source: string; what: string }[] = [];
  const holder = linkOf(f);
  for (const t of cfg.tunnels) {
    if (familyOf(t.remote) !== 4) continue;
    const underlay = t.dev ?? holder(t.local);
    if (underlay)
      arrivals.push({ link: underlay, source: t.remote, what: `${t.name}'s outer packets from ${t.remote}` });
  }
  for (const r of declared) {
    const link = r.link;
    if (link) arrivals.push({ link, source: r.dst, what: `traffic from ${r.dst}/${r.dstLen}` });
  }
  const out: Finding[] = [];
  const lookup = routeLookup(routes);
  // once per source: a hub's tunnels mostly share their remote
  const backs = new Map<string, Route | undefined>();
  for (const a of arrivals) {
    if (!backs.has(a.source)) backs.set(a.source, lookup(a.source));
    const back = backs.get(a.source);
    if (!back || back.dev === a.link) continue;
    const m = mode(f, cfg, a.link);
    if (m.value !== 1) continue;
    const boot = bootSetting(f, m.key);
    out.push({
      severity: 'error',
      family: 'rp_filter',
      where: `${m.key} = 1${boot ? ` (set by ${boot})` : ''}`,
      what: `strict reverse-path filtering on ${a.link}`,
      why: `${a.what} arrive on ${a.link}, but the route back to ${a.source} is ${back.dst}/${back.len} dev ${back.dev}: the kernel drops them as spoofed`,
      fix: `loose mode: "net.ipv4.conf.${a.link}.rp_filter" = 2${
        m.key.includes('.all.') ? ' and "net.ipv4.conf.all.rp_filter" = 2' : ''
      } in the file's [sysctl] (island keeps it), or in /etc/sysctl.d/`,
    });
  }
  return out;
}
