/** island.toml → Config, or every problem in it at once with exact positions. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { anyShape } from '../kinds/index.js';
import { DEBOUNCE_MS, RESYNC_MS } from './defaults.js';
import { type Diagnostic, formatDiagnostic } from './diagnostic.js';
import { fastStrict } from './fast.js';
import { checkForward, forward } from './forward.js';
import { hosts as hostsSection } from './hosts.js';
import {
  hostPart,
  hostShape,
  type Identity,
  type IslandFile,
  isIslandFile,
  islandShape,
  localIdentity,
  parseIsland,
  resolveSelf,
  siteShape,
} from './island.js';
import { type Locator, parseToml } from './locate.js';
import { checkPeers } from './peers.js';
import { NeedPositions, quickRead } from './quick.js';
import { Reporter, reportIssues, unknownKeyMessage } from './report.js';
import { bridgeShape, daemonShape, forwardRuleShape, forwardShape, routeShape, topShape } from './schema.js';
import * as section from './sections.js';
import { field } from './sections.js';
import { checkSemantics, checkSysctlLinks } from './semantic.js';
import { decodeUtf8 } from './text.js';
import type { Config, DaemonConfig, IslandSelf } from './types.js';

export type { Diagnostic };
export { formatDiagnostic };

export type LoadResult =
  | { ok: true; config: Config; warnings: Diagnostic[] }
  | { ok: false; errors: Diagnostic[]; warnings: Diagnostic[] };

const DEFAULT_DAEMON: DaemonConfig = { resyncMs: RESYNC_MS, debounceMs: DEBOUNCE_MS };

export interface ParseOptions {
  /**
   * Whether a link of that name exists on this host. Given (by `island check`),
   * names in [forward] that are neither declared nor present are warned about;
   * left out, parsing depends on the text alone.
   */
  linkExists?: (name: string) => boolean;
  /** `island check`: warn about a tunnel that probably crosses a NAT and has no keepalive */
  adviseKeepalive?: boolean;
  /** which host of a one-file island reads it (default: ISLAND_HOST, else this host's addresses) */
  identity?: Identity;
  /** `island check`: a one-file island is valid whichever host reads it, even none of its own */
  anyHost?: boolean;
  /**
   * Whether the config's objects remember the line that declared them (declared.ts), for
   * messages about them at apply time (default true); `island check` applies nothing
   */
  lines?: boolean;
}

/** `input`: the file's bytes (checked to be UTF-8, as TOML requires) or text already decoded. */
export function parseConfig(input: string | Uint8Array, path: string, opts: ParseOptions = {}): LoadResult {
  const decoded = typeof input === 'string' ? { ok: true as const, text: input } : decodeUtf8(input);
  // editors do not count a byte-order mark as a column, so neither do we
  const text = decoded.ok ? (decoded.text.startsWith('\uFEFF') ? decoded.text.slice(1) : decoded.text) : '';
  // the fast path's answer stands only when it has nothing to say: every message comes from
  // the full reader, with its exact positions
  const quick = decoded.ok ? quickRead(text) : undefined;
  if (quick) {
    try {
      const r = validate(quick.value, quick.locator, path, opts);
      if (r.ok && r.warnings.length === 0) return r;
    } catch (e) {
      if (!(e instanceof NeedPositions)) throw e;
    }
  }
  const parsed = decoded.ok ? parseToml(text) : decoded;
  if (!parsed.ok) {
    const { line, col } = parsed.pos;
    return {
      ok: false,
      errors: [{ path, line, col, key: '', message: parsed.message, severity: 'error' }],
      warnings: [],
    };
  }
  return validate(parsed.value, parsed.locator, path, opts);
}

/** The parsed file's values → Config, or every problem, placed by `locator`. */
function validate(root: Record<string, unknown>, locator: Locator, path: string, opts: ParseOptions): LoadResult {
  const rep = new Reporter(path, locator);

  // the walk first: zod would make a context for each of the file's thousands of entries
  const top = fastStrict(topShape, root) ? undefined : z.object(topShape).strict().safeParse(root);
  if (top && !top.success) {
    const sections = Object.keys(topShape);
    reportIssues(top.error.issues, {
      rep,
      base: [],
      data: root,
      unknownKey: (k) => misplacedKey(k) ?? unknownKeyMessage(k, sections, 'section'),
    });
  }
  // a section of the wrong type was reported above; its entries are not worth a second opinion
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  // a one-file island derives tunnels and routes per host; its own checks cover them
  const island = isIslandFile(root) ? { file: parseIsland(rep, root) } : undefined;
  const perHost = (v: unknown): unknown[] => (island ? [] : list(v));
  const lines = opts.lines ?? true;
  const tunnels = perHost(root.tunnel).map((raw, i) => section.tunnel(rep, raw, i, lines));
  const bridges = perHost(root.bridge).map((raw, i) => section.bridge(rep, raw, i, lines));
  const links = perHost(root.link).map((raw, i) => section.link(rep, raw, i, lines));
  const routes = perHost(root.route).map((raw, i) => section.route(rep, raw, i, lines));
  const sysctl = section.isTable(root.sysctl) ? section.sysctl(rep, root.sysctl) : {};
  const daemon =
    root.daemon === undefined
      ? DEFAULT_DAEMON
      : section.isTable(root.daemon)
        ? section.daemon(rep, root.daemon)
        : undefined;
  const fwd = section.isTable(root.forward) ? forward(rep, root.forward) : undefined;
  const names = section.isTable(root.hosts) ? hostsSection(rep, root.hosts) : undefined;

  // each section's views once, for every check that reads them
  const tunnelViews = tunnels.map((t) => t.view);
  const routeViews = routes.map((r) => r.view);
  const bridgeViews = bridges.map((b) => b.view);
  const linkViews = links.map((l) => l.view);
  checkSemantics(rep, { tunnels: tunnelViews, bridges: bridgeViews, links: linkViews, routes: routeViews });
  const allLinks = [...tunnelViews, ...bridgeViews, ...linkViews];
  checkSysctlLinks(rep, allLinks, sysctl);
  checkPeers(rep, tunnelViews, {
    hosts: names ?? [],
    healthPort: daemon?.healthPort,
    adviseKeepalive: opts.adviseKeepalive,
  });
  if (fwd && !island) {
    checkForward(rep, fwd.view, { links: allLinks, routes: routeViews, sysctl, linkExists: opts.linkExists });
  }

  const errors = rep.errors;
  const warnings = rep.warnings;
  if (errors.length > 0 || daemon === undefined) return { ok: false, errors, warnings };
  const config: Config = {
    path,
    tunnels: tunnels.map((t) => t.config).filter((c) => c !== undefined),
    bridges: bridges.map((b) => b.config).filter((c) => c !== undefined),
    links: links.map((l) => l.config).filter((c) => c !== undefined),
    routes: routes.map((r) => r.config).filter((c) => c !== undefined),
    sysctl,
    daemon,
    ...(fwd?.config ? { forward: fwd.config } : {}),
    ...(names ? { hosts: names } : {}),
  };
  if (!island?.file) return { ok: true, config, warnings };
  const self = resolveSelf(island.file.model, opts.identity ?? localIdentity());
  if (typeof self === 'string') {
    if (opts.anyHost) return { ok: true, config: { ...config, island: island.file.model }, warnings };
    return { ok: false, errors: [{ path, line: 1, col: 1, key: '', message: self, severity: 'error' }], warnings };
  }
  return { ok: true, config: withHostPart(config, island.file, self), warnings };
}

/** The per-host config a one-file island means for `self`: its tunnels, routes, forwarding and names. */
function withHostPart(config: Config, file: IslandFile, self: IslandSelf): Config {
  const part = hostPart(file, self);
  const own = config.forward;
  const forward =
    part.accept.length === 0
      ? own
      : {
          accept: [...(own?.accept ?? []), ...part.accept.filter((a) => !own?.accept.includes(a))],
          rules: own?.rules ?? [],
          backend: own?.backend ?? 'auto',
          pollMs: own?.pollMs ?? (field(forwardShape.poll, {}, 'poll') as number),
          input: own?.input ?? true,
          clampMss: own?.clampMss ?? true,
        };
  // a name in [hosts] wins over the same name derived from [[host]]
  const written = new Set((config.hosts ?? []).map((h) => h.name.toLowerCase()));
  const hosts = [...(config.hosts ?? []), ...part.hosts.filter((h) => !written.has(h.name.toLowerCase()))];
  return {
    ...config,
    tunnels: part.tunnels,
    routes: part.routes,
    ...(forward ? { forward } : {}),
    ...(hosts.length || config.hosts ? { hosts } : {}),
    island: { ...file.model, self },
  };
}

const SECTION_KEYS: [string, string[]][] = [
  ['[island]', Object.keys(islandShape)],
  ['[[site]]', Object.keys(siteShape)],
  ['[[host]]', Object.keys(hostShape)],
  ['[[tunnel]]', Object.keys(anyShape('tunnel'))],
  ['[[bridge]]', Object.keys(bridgeShape)],
  ['[[link]]', Object.keys(anyShape('link'))],
  ['[[route]]', Object.keys(routeShape)],
  ['[daemon]', Object.keys(daemonShape)],
  ['[forward]', Object.keys(forwardShape)],
  ['[[forward.rule]]', Object.keys(forwardRuleShape)],
];

/** A section's key written above every table header lands at the top level. */
function misplacedKey(key: string): string | undefined {
  const homes = SECTION_KEYS.filter(([, keys]) => keys.includes(key)).map(([header]) => header);
  if (homes.length === 0) return undefined;
  return `not a section; "${key}" belongs inside a ${homes.join(' or ')} table, below its header`;
}

/** What the OS said, in the words people search for. */
function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

export async function loadConfig(path: string, opts: ParseOptions = {}): Promise<LoadResult> {
  return (await loadConfigText(path, opts)).result;
}

/** loadConfig, plus the text it parsed (the daemon shows `island status` exactly what it runs). */
export async function loadConfigText(
  path: string,
  opts: ParseOptions = {},
): Promise<{ result: LoadResult; text?: string }> {
  let bytes: Buffer;
  try {
    // synchronous: a few kilobytes, where node's promise readFile is an open, a stat, reads and
    // a close, each a thread-pool round trip on a one-shot command's critical path
    bytes = readFileSync(path);
  } catch (e) {
    const error: Diagnostic = {
      path,
      line: 1,
      col: 1,
      key: '',
      message: `cannot read: ${reason(e)}`,
      severity: 'error',
    };
    return { result: { ok: false, errors: [error], warnings: [] } };
  }
  // decoded once, for the parser and for the caller; not UTF-8: there is no text to show, and result says why
  const decoded = decodeUtf8(bytes);
  const result = parseConfig(decoded.ok ? decoded.text : bytes, path, opts);
  return decoded.ok ? { result, text: decoded.text } : { result };
}
