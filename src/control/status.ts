/**
 * `island status`: desired vs live per object, computed here from the configuration the daemon
 * runs (a try's candidate while one runs; the file when no daemon answers), plus the daemon's
 * live view: peer health, contested objects, a try in progress.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeSelf } from '../config/island.js';
import { type Diagnostic, formatDiagnostic, loadConfig, parseConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { desiredState } from '../desired.js';
import { isDropFinding } from '../firewall/drops.js';
import { ago, describePathMtu, describePeer } from '../health/describe.js';
import type { PeerStatus } from '../health/health.js';
import { hostsStatus } from '../hosts/keeper.js';
import { Ethtool } from '../netlink/ethtool.js';
import { Rtnl } from '../netlink/rtnl.js';
import { withPathMtus } from '../reconcile/mtu.js';
import type { ObjectStatus } from '../reconcile/plan.js';
import { planOnly } from '../reconcile/reconcile.js';
import type { TryStatus } from '../try/session.js';
import { DaemonUnreachable, request } from './client.js';
import { CommandError } from './errors.js';

export interface DaemonView {
  pid: number;
  config: string;
  source: 'file' | 'try';
  text: string;
  summary: string;
  converged: boolean;
  lastPassAt: number;
  contested: string[];
  peers: PeerStatus[];
  /** mtu = "auto" tunnels the daemon lowered to their measured path */
  pathMtus?: Record<string, number>;
  try?: TryStatus;
}

type Daemon = { running: true; view: DaemonView } | { running: false; reason: string; absent: boolean };

async function askDaemon(): Promise<Daemon> {
  try {
    return { running: true, view: (await request({ cmd: 'status' }, undefined, 5000)) as unknown as DaemonView };
  } catch (e) {
    if (e instanceof DaemonUnreachable)
      return { running: false, reason: e.message, absent: e.reason === 'not running' };
    throw e;
  }
}

const peerObject = (p: PeerStatus) => `peer ${p.peer} on ${p.tunnel}`;

export async function statusCommand(path: string, opts: { json?: boolean; check?: boolean }): Promise<number> {
  const daemon = await askDaemon();
  const notes: string[] = [];
  // the daemon's own view of what it runs, when it runs this file
  let cfg: Config;
  const fileResult = await loadConfig(path);
  const same = daemon.running && resolve(daemon.view.config) === resolve(path);
  if (daemon.running && same) {
    const r = parseConfig(daemon.view.text, daemon.view.config);
    if (!r.ok) throw new CommandError(`the daemon's configuration does not parse here: ${r.errors[0]?.message}`);
    cfg = r.config;
    if (daemon.view.source === 'try') notes.push(`running the candidate of island try, not ${path}`);
    else if (!fileResult.ok) notes.push(`${path} is invalid now: the daemon runs the last good configuration`);
    else if (daemon.view.text !== (await readText(path))) notes.push(`${path} changed since the daemon loaded it`);
  } else {
    printDiagnostics(fileResult.warnings);
    if (!fileResult.ok) {
      printDiagnostics(fileResult.errors);
      throw new CommandError(`${path}: invalid (${fileResult.errors.length} error(s)), nothing changed`);
    }
    cfg = fileResult.config;
    if (daemon.running) notes.push(`the daemon runs ${daemon.view.config}, not ${path}: its view is not shown`);
  }
  const self = cfg.island?.self;
  if (self) notes.push(`this host is ${describeSelf(self)}`);
  // what the daemon measured: an auto tunnel it lowered is not drifted
  const measured = daemon.running && same ? daemon.view.pathMtus : undefined;
  const want = withPathMtus(desiredState(cfg), new Map(Object.entries(measured ?? {})));
  const rtnl = new Rtnl();
  const ethtool = new Ethtool();
  let objects: ObjectStatus[];
  try {
    objects = (await planOnly(rtnl, ethtool, want)).status;
  } finally {
    rtnl.close();
    ethtool.close();
  }
  const hosts = await hostsStatus(want.hosts);
  if (hosts) objects.push(hosts);
  const view = daemon.running && same ? daemon.view : undefined;
  const peers = view?.peers ?? [];
  const now = Date.now();

  if (opts.json) {
    const out = {
      config: path,
      objects,
      peers: peers.map((p) => ({ object: peerObject(p), ...p })),
      daemon: view
        ? {
            running: true,
            pid: view.pid,
            config: view.config,
            source: view.source,
            summary: view.summary,
            converged: view.converged,
            lastPassAt: view.lastPassAt,
            contested: view.contested,
            try: view.try,
          }
        : daemon.running
          ? // a daemon runs another file: its live view is not about this one
            { running: true, pid: daemon.view.pid, config: daemon.view.config, shown: false }
          : { running: false, reason: daemon.reason },
      notes,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const rows: [string, string, string][] = objects.map((s) => [s.object, s.state, s.detail ?? '']);
    for (const p of peers) {
      const words = describePeer(p, now).replace(/^(up|down|one-way|waiting)[,:]? ?/, '');
      rows.push([peerObject(p), p.state, `${words}${words ? '; ' : ''}since ${ago(p.since, now)}`]);
    }
    for (const p of peers) {
      const m = describePathMtu(p);
      rows.push([`path mtu on ${p.tunnel}`, m.state, m.detail]);
    }
    const w = Math.max(6, ...rows.map((r) => r[0].length));
    process.stdout.write(`${'OBJECT'.padEnd(w)}  STATE    DETAIL\n`);
    for (const [o, s, d] of rows) process.stdout.write(`${o.padEnd(w)}  ${s.padEnd(7)}  ${d}`.trimEnd().concat('\n'));
    if (view) {
      const contested = view.contested.length ? `; contested (backing off): ${view.contested.join(', ')}` : '';
      process.stdout.write(`daemon: running as pid ${view.pid}: ${view.summary}${contested}\n`);
      if (view.try)
        process.stdout.write(
          `try: ${view.try.candidate} runs; rolled back in ${Math.ceil(view.try.remainingMs / 1000)} s unless confirmed (island try --confirm)\n`,
        );
    } else if (!daemon.running) {
      // not root, say: the daemon may well run, this user cannot ask it
      const what = daemon.absent ? 'not running' : 'no answer';
      process.stdout.write(`daemon: ${what} (${daemon.reason}): desired vs live only, no peer health\n`);
    }
    for (const n of notes) process.stdout.write(`note: ${n}\n`);
  }
  if (!opts.check) return 0;
  if (!view) {
    process.stderr.write(`island: status --check: ${daemon.running ? notes.at(-1) : daemon.reason}\n`);
    return 1;
  }
  const bad = peers.filter((p) => p.state !== 'up');
  for (const p of bad) process.stderr.write(`island: ${peerObject(p)}: ${describePeer(p, now)}\n`);
  // a firewall that drops the island's traffic: every row of island's own may be ok, the traffic is dead
  const drops = objects.filter(isDropFinding);
  for (const d of drops) process.stderr.write(`island: ${d.object}: ${d.detail}\n`);
  return bad.length || drops.length ? 1 : 0;
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

function printDiagnostics(ds: Diagnostic[]): void {
  for (const d of ds) process.stderr.write(`${formatDiagnostic(d)}\n`);
}
