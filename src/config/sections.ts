/**
 * One entry at a time: strict zod check for the diagnostics, then a field-by-field pick of
 * whatever did validate, so cross-entry checks still see the good parts of a broken entry.
 */
import { z } from 'zod';
import { anyShape, findKind, kindsOf, kindsWithKey, shapeOf } from '../kinds/index.js';
import { type Declared, type LinkKind, oneOf, type Table } from '../kinds/kind.js';
import { declaredAt } from './declared.js';
import type { KeyPath } from './diagnostic.js';
import { fastStrict } from './fast.js';
import { TomlFloat } from './locate.js';
import { type Reporter, reportIssues, unknownKeyMessage } from './report.js';
import { bridgeShape, cidr, daemonShape, describe, linkName, routeShape, type Shape } from './schema.js';
import { sysctlName, sysctlValuePath, sysctlValueProblem } from './sysctl.js';
import type { BridgeConfig, Cidr, DaemonConfig, LinkConfig, RouteConfig, TunnelConfig } from './types.js';

type Raw = Record<string, unknown>;

export function isTable(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof TomlFloat);
}

export function field<S extends z.ZodTypeAny>(schema: S, raw: unknown, key: string): z.output<S> | undefined {
  if (!isTable(raw)) return undefined;
  // an entry strict() found valid with this very schema for the key: its parse holds the value
  const done = validated.get(raw);
  if (done && done.shape[key] === schema) return done.data[key] as z.output<S>;
  const r = schema.safeParse(raw[key]);
  return r.success ? r.data : undefined;
}

/** Array fields element by element; a hole where an element is bad keeps the indices true to the file. */
export function each<S extends z.ZodTypeAny>(schema: S, raw: unknown, key: string): (z.output<S> | undefined)[] {
  if (!isTable(raw) || !Array.isArray(raw[key])) return [];
  return (raw[key] as unknown[]).map((el) => {
    const r = schema.safeParse(el);
    return r.success ? r.data : undefined;
  });
}

export function has(raw: unknown, key: string): boolean {
  return isTable(raw) && raw[key] !== undefined;
}

/** Optional fields are left out rather than set to undefined, so configs compare cleanly. */
export function compact<T extends object>(o: T): T {
  // a loop, not entries/filter/fromEntries: three arrays per key, for every entry of a big file
  const out: Record<string, unknown> = {};
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

// built once per shape, not once per entry: a 500-tunnel file would otherwise build 500
const strictSchemas = new WeakMap<Shape, z.ZodTypeAny>();
function strictSchema(shape: Shape): z.ZodTypeAny {
  let s = strictSchemas.get(shape);
  if (!s) {
    s = z.object(shape).strict();
    strictSchemas.set(shape, s);
  }
  return s;
}

/** What strict() parsed for an entirely valid entry, so its arrays are not parsed a second time. */
const validated = new WeakMap<object, { shape: Shape; data: Raw }>();

/** Run the strict schema and report; true when the entry is entirely valid. */
export function strict(
  rep: Reporter,
  shape: Shape,
  raw: unknown,
  base: KeyPath,
  unknownKey?: (k: string) => string | undefined,
): boolean {
  const data = strictData(rep, shape, raw, base, unknownKey);
  // field() then reads the parse instead of parsing each key again
  if (data !== undefined && isTable(raw)) validated.set(raw, { shape, data });
  return data !== undefined;
}

/**
 * strict(), with what it parsed when the entry is entirely valid, for a caller that reads it from
 * there: not remembered for field() (a WeakMap entry for each of thousands of entries costs more
 * than it saves)
 */
function strictData(
  rep: Reporter,
  shape: Shape,
  raw: unknown,
  base: KeyPath,
  unknownKey?: (k: string) => string | undefined,
): Raw | undefined {
  return fastStrict(shape, raw) ?? zodStrictData(rep, shape, raw, base, unknownKey);
}

/** strictData() by zod itself: what the walk gave up on, with every diagnostic */
function zodStrictData(
  rep: Reporter,
  shape: Shape,
  raw: unknown,
  base: KeyPath,
  unknownKey?: (k: string) => string | undefined,
): Raw | undefined {
  const r = strictSchema(shape).safeParse(raw);
  if (r.success) return r.data as Raw;
  const allowed = Object.keys(shape);
  reportIssues(r.error.issues, {
    rep,
    base,
    data: raw,
    unknownKey: (k) => unknownKey?.(k) ?? unknownKeyMessage(k, allowed),
  });
  return undefined;
}

export interface LinkView {
  path: KeyPath;
  what: Table;
  /** set only when valid */
  name?: string;
  /** whatever string was written, valid or not: references to it are not "undeclared" */
  rawName?: string;
  mtu?: number;
  addresses: (Cidr | undefined)[];
}

export interface TunnelView extends LinkView {
  what: 'tunnel';
  /** set only when the kind is one island knows */
  kind?: LinkKind;
  local?: string;
  remote?: string;
  dev?: string;
  /** the UDP port its packets use on this host (its kind's udpPort()): the health port must not collide with it */
  udpPort?: number;
  keepaliveMs?: number;
  peer?: string;
  /** what its kind sees of it (its checks run on this) */
  declared: Declared;
}

export interface BridgeView extends LinkView {
  what: 'bridge';
  ports: (string | undefined)[];
}

export interface LinkTableView extends LinkView {
  what: 'link';
  /** set only when the kind is one island knows */
  kind?: LinkKind;
  /** the device it sits on */
  parent?: string;
  /** what its kind sees of it (its checks run on this) */
  declared: Declared;
}

export interface RouteView {
  path: KeyPath;
  to?: Cidr;
  via?: string;
  dev?: string;
  metric?: number;
  hasVia: boolean;
  hasDev: boolean;
}

function rawName(raw: unknown): string | undefined {
  return isTable(raw) && typeof raw.name === 'string' ? raw.name : undefined;
}

/** The kind an entry names, or a message saying which kinds its table takes. */
function kindProblem(table: Table, raw: unknown): string | undefined {
  const k = isTable(raw) ? raw.kind : undefined;
  if (typeof k !== 'string' || findKind(k)?.table === table) return undefined;
  return `must be ${oneOf(kindsOf(table).map((x) => x.kind))}, not ${JSON.stringify(k)}`;
}

/**
 * An entry of a table whose entries each name a kind ([[tunnel]], [[link]]): checked against its
 * kind's whole shape (every key of the table when the kind is missing or unknown); its kind's
 * view of it, with the settings of the kind's own keys.
 */
function kinded(rep: Reporter, table: Table, raw: unknown, path: KeyPath) {
  const named = isTable(raw) && typeof raw.kind === 'string' ? findKind(raw.kind) : undefined;
  const kind = named?.table === table ? named : undefined;
  const shape = kind ? shapeOf(kind) : anyShape(table);
  // the walk first, without the closure only zod's messages need
  const data =
    fastStrict(shape, raw) ??
    zodStrictData(rep, shape, raw, path, (key) => {
      const owners = kindsWithKey(table, key);
      return kind && owners.length ? `only valid for kind = ${oneOf(owners.map((k) => k.kind))}` : undefined;
    });
  let ok = data !== undefined;
  // a kind found for this table is the one kindProblem() would find no fault with
  const badKind = kind ? undefined : kindProblem(table, raw);
  if (badKind !== undefined) {
    rep.error([...path, 'kind'], badKind);
    ok = false;
  }
  // a valid entry's values are what strict() parsed; a broken one's, each key that parses alone
  const value = data
    ? (key: string): unknown => data[key]
    : (key: string): unknown => (shape[key] ? field(shape[key], raw, key) : undefined);
  const options = compact(kind?.options?.(value) ?? {});
  const declared: Declared = {
    name: value('name') as string | undefined,
    local: value('local') as string | undefined,
    remote: value('remote') as string | undefined,
    dev: value('dev') as string | undefined,
    parent: value('parent') as string | undefined,
    mtu: value('mtu') as number | undefined,
    options,
    written: (key) => has(raw, key),
  };
  return { ok, kind, value, options, declared, data };
}

export function tunnel(
  rep: Reporter,
  raw: unknown,
  index: number,
  lines = true,
): { view: TunnelView; config?: TunnelConfig } {
  const path = ['tunnel', index];
  const { ok, kind, value, options, declared, data } = kinded(rep, 'tunnel', raw, path);
  const view: TunnelView = {
    path,
    what: 'tunnel',
    kind,
    name: declared.name,
    rawName: rawName(raw),
    local: declared.local,
    remote: declared.remote,
    dev: declared.dev,
    mtu: declared.mtu,
    addresses: (data?.addresses as Cidr[] | undefined) ?? each(cidr, raw, 'addresses'),
    udpPort: kind?.udpPort?.(declared),
    keepaliveMs: value('keepalive') as number | undefined,
    peer: value('peer') as string | undefined,
    declared,
  };
  if (!ok || !kind) return { view };
  const config: TunnelConfig = compact({
    name: view.name as string,
    kind: kind.kind,
    local: view.local as string,
    remote: view.remote as string,
    dev: view.dev,
    ttl: value('ttl') as number | undefined,
    mtu: view.mtu,
    addresses: declaredEach(rep, view.addresses as Cidr[], path, lines),
    keepaliveMs: view.keepaliveMs,
    peer: view.peer,
    ...options,
  });
  return { view, config: withLine(rep, config, path, lines) };
}

export function bridge(
  rep: Reporter,
  raw: unknown,
  index: number,
  lines = true,
): { view: BridgeView; config?: BridgeConfig } {
  const path = ['bridge', index];
  const data = strictData(rep, bridgeShape, raw, path);
  const view: BridgeView = {
    path,
    what: 'bridge',
    name: data ? (data.name as string) : field(bridgeShape.name, raw, 'name'),
    rawName: rawName(raw),
    mtu: data ? (data.mtu as number | undefined) : field(bridgeShape.mtu, raw, 'mtu'),
    addresses: (data?.addresses as Cidr[] | undefined) ?? each(cidr, raw, 'addresses'),
    ports: (data?.ports as string[] | undefined) ?? each(linkName, raw, 'ports'),
  };
  if (!data) return { view };
  const config = compact({
    name: view.name as string,
    mtu: view.mtu,
    addresses: declaredEach(rep, view.addresses as Cidr[], path, lines),
    ports: view.ports as string[],
  });
  return { view, config: withLine(rep, config, path, lines) };
}

export function link(
  rep: Reporter,
  raw: unknown,
  index: number,
  lines = true,
): { view: LinkTableView; config?: LinkConfig } {
  const path = ['link', index];
  const { ok, kind, options, declared, data } = kinded(rep, 'link', raw, path);
  const view: LinkTableView = {
    path,
    what: 'link',
    kind,
    name: declared.name,
    rawName: rawName(raw),
    parent: declared.parent,
    mtu: declared.mtu,
    addresses: (data?.addresses as Cidr[] | undefined) ?? each(cidr, raw, 'addresses'),
    declared,
  };
  if (!ok || !kind) return { view };
  const config: LinkConfig = compact({
    name: view.name as string,
    kind: kind.kind,
    parent: view.parent as string,
    mtu: view.mtu,
    addresses: declaredEach(rep, view.addresses as Cidr[], path, lines),
    ...options,
  });
  return { view, config: withLine(rep, config, path, lines) };
}

export function route(
  rep: Reporter,
  raw: unknown,
  index: number,
  lines = true,
): { view: RouteView; config?: RouteConfig } {
  const path = ['route', index];
  const data = strictData(rep, routeShape, raw, path);
  const view: RouteView = data
    ? {
        path,
        to: data.to as Cidr,
        via: data.via as string | undefined,
        dev: data.dev as string | undefined,
        metric: data.metric as number | undefined,
        hasVia: data.via !== undefined,
        hasDev: data.dev !== undefined,
      }
    : {
        path,
        to: field(routeShape.to, raw, 'to'),
        via: field(routeShape.via, raw, 'via'),
        dev: field(routeShape.dev, raw, 'dev'),
        metric: field(routeShape.metric, raw, 'metric'),
        hasVia: has(raw, 'via'),
        hasDev: has(raw, 'dev'),
      };
  if (!data) return { view };
  const config = compact({ to: view.to as Cidr, via: view.via, dev: view.dev, metric: view.metric });
  return { view, config: withLine(rep, config, path, lines) };
}

/**
 * An entry remembers its own line (see declared.ts) when `lines`: the file's objects, for the
 * messages of a command that acts on them; `island check` acts on none (a WeakMap entry and a
 * position for each of a big file's entries and addresses: ~7% of its CPU at 5,000 tunnels).
 */
function withLine<T extends object>(rep: Reporter, o: T, path: KeyPath, lines: boolean): T {
  return lines ? declaredAt(o, rep.line(path)) : o;
}

/** `path`: the entry's; each element of its `addresses` remembers its own line */
function declaredEach<T extends object>(rep: Reporter, list: T[], path: KeyPath, lines: boolean): T[] {
  return lines ? list.map((x, i) => declaredAt(x, rep.line([...path, 'addresses', i]))) : list;
}

export function daemon(rep: Reporter, raw: unknown): DaemonConfig | undefined {
  const ok = strict(rep, daemonShape, raw ?? {}, ['daemon']);
  if (!ok) return undefined;
  const resyncMs = field(daemonShape.resync, raw ?? {}, 'resync') as number;
  const debounceMs = field(daemonShape.debounce, raw ?? {}, 'debounce') as number;
  const healthPort = field(daemonShape.health_port, raw ?? {}, 'health_port');
  const healthIntervalMs = field(daemonShape.health_interval, raw ?? {}, 'health_interval');
  const rcuExpedited = field(daemonShape.rcu_expedited, raw ?? {}, 'rcu_expedited');
  const metrics = field(daemonShape.metrics, raw ?? {}, 'metrics');
  return compact({ resyncMs, debounceMs, healthPort, healthIntervalMs, rcuExpedited, metrics });
}

/** A sysctl name as sysctl(8) spells it; "/" is its escape for a "." inside an interface name. */
const SYSCTL_NAME = /^[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*$/;

export function sysctl(rep: Reporter, raw: Raw): Record<string, string> {
  const out: Record<string, string> = {};
  /** /proc/sys path → the key that names it first: two spellings are one sysctl */
  const paths = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const path = ['sysctl', key];
    if (isTable(value) && !key.includes('.')) {
      // `net.ipv4.ip_forward = 1` unquoted is a nested table in TOML, not a dotted name
      const [leaf, v] = firstLeaf(key, value);
      const shown = typeof v === 'string' || typeof v === 'number' ? ` = ${JSON.stringify(v)}` : '';
      rep.error(path, `quote the sysctl name so its dots are not read as tables: "${leaf}"${shown}`, 'key');
      continue;
    }
    let bad = false;
    if (!key.startsWith('net.')) {
      rep.error(path, 'island only sets networking sysctls; the name must start with "net."', 'key');
      bad = true;
    } else if (!SYSCTL_NAME.test(key)) {
      rep.error(path, 'not a sysctl name: use letters, digits, "_" and "-" between "." separators', 'key');
      bad = true;
    }
    if (!bad) {
      const name = sysctlName(key);
      const kernelPath = sysctlValuePath(key);
      const first = paths.get(kernelPath);
      if (name.ifname !== undefined && name.ifname.length > 15) {
        rep.error(path, `"${name.ifname}" is ${name.ifname.length} characters long; link names are at most 15`, 'key');
        bad = true;
      } else if (first !== undefined) {
        rep.error(
          path,
          `same sysctl as ${JSON.stringify(first)} (line ${rep.line(['sysctl', first])}): ` +
            (sysctlName(first).path === name.path
              ? `both are /proc/sys/${name.path}`
              : `/proc/sys/${sysctlName(first).path} and /proc/sys/${name.path} are one kernel value`),
          'key',
        );
        bad = true;
      } else paths.set(kernelPath, key);
    }
    const text = sysctlValue(rep, path, value);
    if (!bad && text !== undefined) out[key] = text;
  }
  // values that depend on each other (the port range and its unprivileged start) see the whole table
  const all = { ...out };
  for (const [key, value] of Object.entries(all)) {
    const problem = sysctlValueProblem(key, value, all);
    if (problem !== undefined) {
      rep.error(['sysctl', key], problem);
      delete out[key];
    }
  }
  return out;
}

function sysctlValue(rep: Reporter, path: KeyPath, value: unknown): string | undefined {
  if (typeof value === 'number') {
    // getStaticTOMLValue rounds integers past 2^53; the AST keeps the exact digits
    const node = rep.locator.node(path);
    return node?.type === 'TOMLValue' && node.kind === 'integer' ? node.bigint.toString() : String(value);
  }
  if (typeof value === 'string') {
    if (value.trim() === '') rep.error(path, 'must not be empty');
    // a tab separates a vector's values, as the kernel prints them (sysctl -n net.ipv4.tcp_rmem)
    else if ([...value].some((c) => c.charCodeAt(0) < 0x20 && c !== '\t'))
      rep.error(path, 'must not contain control characters or newlines');
    else return value;
    return undefined;
  }
  rep.error(path, `expected an integer or a string, got ${describe(value)}`);
  return undefined;
}

function firstLeaf(prefix: string, table: Raw): [string, unknown] {
  for (const [k, v] of Object.entries(table)) {
    return isTable(v) ? firstLeaf(`${prefix}.${k}`, v) : [`${prefix}.${k}`, v];
  }
  return [prefix, undefined];
}
