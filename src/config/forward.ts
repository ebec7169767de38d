/**
 * The [forward] section: which forwarded traffic island accepts, and how its
 * firewall rules are written and watched. Checked like every other section:
 * each problem at its key, with the fix.
 */
import type { KeyPath } from './diagnostic.js';
import type { Reporter } from './report.js';
import { forwardRuleShape, forwardShape, linkName } from './schema.js';
import type { LinkView, RouteView } from './sections.js';
import { compact, each, field, has, isTable, strict } from './sections.js';
import { sysctlName, sysctlTokens, sysctlValuePath } from './sysctl.js';
import type { Cidr, FirewallBackend, ForwardConfig, ForwardRule } from './types.js';

export interface RuleView {
  path: KeyPath;
  in?: string;
  out?: string;
  source?: Cidr;
  destination?: Cidr;
  /** none of the four keys is written (valid or not) */
  empty: boolean;
}

export interface ForwardView {
  path: KeyPath;
  accept: (string | undefined)[];
  rules: RuleView[];
}

const RULE_KEYS = ['in', 'out', 'source', 'destination'] as const;

export function forward(rep: Reporter, raw: unknown): { view: ForwardView; config?: ForwardConfig } {
  const path = ['forward'];
  let ok = strict(rep, forwardShape, raw, path);
  const rawRules = isTable(raw) && Array.isArray(raw.rule) ? (raw.rule as unknown[]) : [];
  const rules: RuleView[] = [];
  const configs: ForwardRule[] = [];
  rawRules.forEach((r, i) => {
    const at = [...path, 'rule', i];
    if (!strict(rep, forwardRuleShape, r, at)) ok = false;
    const view: RuleView = {
      path: at,
      in: field(forwardRuleShape.in, r, 'in'),
      out: field(forwardRuleShape.out, r, 'out'),
      source: field(forwardRuleShape.source, r, 'source'),
      destination: field(forwardRuleShape.destination, r, 'destination'),
      empty: RULE_KEYS.every((k) => !has(r, k)),
    };
    rules.push(view);
    configs.push(compact({ in: view.in, out: view.out, source: view.source, destination: view.destination }));
  });
  const view: ForwardView = { path, accept: each(linkName, raw, 'accept'), rules };
  if (!ok) return { view };
  const config: ForwardConfig = {
    accept: view.accept as string[],
    rules: configs,
    backend: (field(forwardShape.backend, raw, 'backend') ?? 'auto') as FirewallBackend,
    pollMs: field(forwardShape.poll, raw, 'poll') as number,
    input: (field(forwardShape.input, raw, 'input') as boolean | undefined) ?? true,
    clampMss: (field(forwardShape.clamp_mss, raw, 'clamp_mss') as boolean | undefined) ?? true,
  };
  return { view, config };
}

export interface ForwardContext {
  links: LinkView[];
  routes: RouteView[];
  sysctl: Record<string, string>;
  /** whether a link of that name exists on this host; only `island check` asks */
  linkExists?: (name: string) => boolean;
}

export function checkForward(rep: Reporter, f: ForwardView, cx: ForwardContext): void {
  checkAccept(rep, f);
  checkRules(rep, f);
  checkPresence(rep, f, cx);
  checkForwardingSysctls(rep, f, cx);
}

/** "line 3", or "line 3, column 14" when both sit on one line. */
function seenAt(rep: Reporter, first: KeyPath, now: KeyPath): string {
  const a = rep.pos(first);
  return a.line === rep.pos(now).line ? `line ${a.line}, column ${a.col}` : `line ${a.line}`;
}

function checkAccept(rep: Reporter, f: ForwardView): void {
  const first = new Map<string, KeyPath>();
  f.accept.forEach((name, i) => {
    if (name === undefined) return;
    const at = [...f.path, 'accept', i];
    const prev = first.get(name);
    if (prev) rep.error(at, `"${name}" is listed twice (first at ${seenAt(rep, prev, at)})`);
    else first.set(name, at);
  });
}

const cidrText = (c: Cidr): string => `${c.address}/${c.prefixlen}`;

function checkRules(rep: Reporter, f: ForwardView): void {
  const seen = new Map<string, RuleView>();
  for (const r of f.rules) {
    if (r.empty) {
      rep.error(
        r.path,
        'needs at least one of "in", "out", "source", "destination"; to accept everything through a link, list it in accept',
        rep.pos(r.path),
      );
      continue;
    }
    if (r.source && r.destination && r.source.family !== r.destination.family) {
      rep.error(
        [...r.path, 'destination'],
        `${cidrText(r.destination)} is IPv${r.destination.family} but source ${cidrText(r.source)} is IPv${r.source.family}; ` +
          'a rule matches one family',
      );
    }
    const key = JSON.stringify([r.in, r.out, r.source && cidrText(r.source), r.destination && cidrText(r.destination)]);
    const prev = seen.get(key);
    if (prev)
      rep.error(r.path, `same rule as forward.rule[${prev.path[2]}] (line ${rep.line(prev.path)})`, rep.pos(r.path));
    else seen.set(key, r);
  }
}

/** A name that is neither island's nor on the host is most often a typo; the rule would match nothing. */
function checkPresence(rep: Reporter, f: ForwardView, cx: ForwardContext): void {
  const exists = cx.linkExists;
  if (!exists) return;
  const declared = new Set(cx.links.map((l) => l.rawName).filter((n) => n !== undefined));
  const check = (name: string | undefined, at: KeyPath) => {
    if (name === undefined || declared.has(name) || exists(name)) return;
    rep.warn(
      at,
      `"${name}" is neither a tunnel or bridge of this file nor a link on this host (a typo?); ` +
        'its rules match nothing until such a link exists',
    );
  };
  f.accept.forEach((name, i) => {
    check(name, [...f.path, 'accept', i]);
  });
  for (const r of f.rules) {
    check(r.in, [...r.path, 'in']);
    check(r.out, [...r.path, 'out']);
  }
}

/** Forwarding sysctls island sets whenever [forward] is present; a file that turns them off contradicts itself. */
function checkForwardingSysctls(rep: Reporter, f: ForwardView, cx: ForwardContext): void {
  // IPv4 forwards what comes in a device only where that device's own forwarding is on
  // (ip_route_input_slow(): IN_DEV_FORWARD): 0 there drops the traffic island accepts in it
  const inbound = new Set([...f.accept, ...f.rules.map((r) => r.in)].filter((x) => x !== undefined));
  for (const [key, value] of Object.entries(cx.sysctl)) {
    const n = sysctlName(key);
    if (n.generic !== 'net.ipv4.conf.<if>.forwarding' || !n.ifname || !inbound.has(n.ifname)) continue;
    if (sysctlTokens(value).some((t) => Number(t) !== 0)) continue;
    rep.error(
      ['sysctl', key],
      `is ${value}, but [forward] accepts traffic in ${n.ifname}, which IPv4 forwards only while ${n.ifname}'s own forwarding is on; remove this line`,
    );
  }
  const v6 =
    cx.links.some((l) => l.addresses.some((a) => a?.family === 6)) ||
    cx.routes.some((r) => r.to?.family === 6) ||
    f.rules.some((r) => r.source?.family === 6 || r.destination?.family === 6);
  const keys = ['net.ipv4.ip_forward', ...(v6 ? ['net.ipv6.conf.all.forwarding'] : [])];
  for (const kept of keys) {
    // the file may spell it as another path of the same kernel value (conf.all.forwarding)
    const key = Object.keys(cx.sysctl).find((k) => sysctlValuePath(k) === sysctlValuePath(kept)) ?? kept;
    const value = cx.sysctl[key];
    if (value === undefined || value === '1') continue;
    rep.error(
      ['sysctl', key],
      `is ${value}, but [forward] needs forwarding on (island keeps it at 1); remove this line or the [forward] section`,
    );
  }
}
