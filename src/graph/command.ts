/**
 * `island graph`: the file as Graphviz DOT on stdout, or rendered by Graphviz's own `dot`
 * (`--svg`, `-T svg|png|pdf`). It needs no daemon and no root: a one-file island draws on any
 * machine. When this host's daemon answers on the control socket and runs the same file, its
 * live view colours the graph.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { localIdentity, resolveSelf } from '../config/island.js';
import { type Diagnostic, formatDiagnostic, loadConfigText, parseConfig } from '../config/load.js';
import type { Config, TunnelConfig } from '../config/types.js';
import { DaemonUnreachable, request } from '../control/client.js';
import { CommandError } from '../control/errors.js';
import type { DaemonView } from '../control/status.js';
import type { ObjectStatus } from '../reconcile/plan.js';
import { graphDot, type LiveView } from './dot.js';

export const GRAPH_FORMATS = ['dot', 'svg', 'png', 'pdf'] as const;

export interface GraphOptions {
  svg?: boolean;
  format?: string;
  /** --host given on the command line: the part of another host, maybe */
  host?: string;
}

export async function graphCommand(path: string, opts: GraphOptions): Promise<number> {
  const format = opts.svg ? 'svg' : (opts.format ?? 'dot');
  if (opts.svg && opts.format !== undefined && opts.format !== 'svg')
    throw new CommandError(`--svg and -T ${opts.format} disagree: give one of them`);
  if (!(GRAPH_FORMATS as readonly string[]).includes(format))
    throw new CommandError(`-T ${format}: not a format island graph renders (${GRAPH_FORMATS.join(', ')})`);

  // the same file on every host: valid is valid, whichever machine draws it
  const { result, text } = await loadConfigText(path, { anyHost: process.env.ISLAND_HOST === undefined });
  printDiagnostics(result.warnings);
  if (!result.ok) {
    printDiagnostics(result.errors);
    throw new CommandError(`${path}: invalid (${result.errors.length} error(s)), nothing drawn`);
  }
  const cfg = result.config;
  const notes: string[] = [];
  const live = await liveView(path, cfg, text, opts, notes);
  const dot = graphDot({ path, cfg, gatewayTunnels: gatewayTunnels(cfg, text ?? '', path), live, notes });
  if (format === 'dot') {
    process.stdout.write(dot);
    return 0;
  }
  await render(dot, format);
  return 0;
}

/** Each gateway's own tunnels, as it derives them from the file (vni, ports, keepalive, remote). */
export function gatewayTunnels(cfg: Config, text: string, path: string): Map<string, TunnelConfig[]> {
  const out = new Map<string, TunnelConfig[]>();
  for (const site of cfg.island?.sites ?? []) {
    const r = parseConfig(text, path, { identity: { host: site.gateway, addresses: [] } });
    if (r.ok) out.set(site.gateway, r.config.tunnels);
  }
  return out;
}

/** The daemon's view when it runs this file on this host; otherwise a note says why there is none. */
async function liveView(
  path: string,
  cfg: Config,
  text: string | undefined,
  opts: GraphOptions,
  notes: string[],
): Promise<LiveView | undefined> {
  if (cfg.island && opts.host !== undefined) {
    // `--host NAME` draws NAME's part from any machine; this machine's daemon speaks for this machine
    const here = resolveSelf(cfg.island, { addresses: localIdentity().addresses });
    if (typeof here === 'string' || here.host?.toLowerCase() !== opts.host.toLowerCase()) {
      notes.push(`no live state: --host ${opts.host} is not this machine, whose daemon speaks only for itself`);
      return undefined;
    }
  }
  let view: DaemonView & { objects?: ObjectStatus[] };
  try {
    view = (await request({ cmd: 'status' }, undefined, 3000)) as unknown as typeof view;
  } catch (e) {
    if (e instanceof DaemonUnreachable) {
      notes.push(`no live state: ${e.reason === 'not running' ? 'no island daemon runs here' : e.reason}`);
      return undefined;
    }
    throw e;
  }
  if (resolve(view.config) !== resolve(path)) {
    notes.push(`no live state: the daemon (pid ${view.pid}) runs ${view.config}, not ${path}`);
    return undefined;
  }
  if (view.source === 'try') notes.push('the daemon runs the candidate of island try, not the file');
  else if (text !== undefined && view.text !== text) notes.push(`${path} changed since the daemon loaded it`);
  return { source: `daemon pid ${view.pid}`, at: Date.now(), objects: view.objects ?? [], peers: view.peers ?? [] };
}

/** Graphviz's dot turns the DOT text into the format; its output goes to stdout as it comes. */
function render(dot: string, format: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn('dot', [`-T${format}`], { stdio: ['pipe', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      fail(
        new CommandError(
          e.code === 'ENOENT'
            ? `cannot render ${format}: Graphviz's dot is not installed (apt install graphviz); without --svg or -T, island graph prints DOT`
            : `cannot run dot: ${e.message}`,
        ),
      ),
    );
    child.on('close', (code, signal) => {
      // SIGPIPE: the reader of our stdout went away (`island graph --svg | head`): dot did its part
      if (code === 0 || signal === 'SIGPIPE') done();
      else
        fail(
          new CommandError(
            `dot -T${format} failed (${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}`,
          ),
        );
    });
    child.stdin.on('error', () => {});
    child.stdin.end(dot);
  });
}

function printDiagnostics(ds: Diagnostic[]): void {
  for (const d of ds) process.stderr.write(`${formatDiagnostic(d)}\n`);
}
