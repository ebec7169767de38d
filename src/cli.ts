#!/usr/bin/env node
/**
 * island daemon | check | plan | apply | down | status
 * A user error ends in one line and a non-zero exit, never a stack trace.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HELP, OPTIONS } from './commands.js';
import { describeSelf } from './config/island.js';
import { type Diagnostic, formatDiagnostic, loadConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { CommandError } from './control/errors.js';
import { statusCommand } from './control/status.js';
import { unsafeConfigFile } from './daemon/perms.js';
import { desiredState } from './desired.js';
import { graphCommand } from './graph/command.js';
import { hostsLine, hostsSyncCommand } from './hosts/command.js';
import { Ethtool } from './netlink/ethtool.js';
import { NetlinkError, Rtnl } from './netlink/rtnl.js';
import { testCommand } from './reach/command.js';
import { describeAction } from './reconcile/describe.js';
import { actionObject, type ObjectStatus, settle } from './reconcile/plan.js';
import { planOnly, reconcile, teardown } from './reconcile/reconcile.js';
import { tryCommand } from './try/command.js';

class UserError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [cmd = '', ...rest] = argv;
  if (cmd === '-h' || cmd === '--help' || cmd === 'help' || cmd === '') {
    process.stdout.write(`${HELP['']}\n`);
    return cmd === '' ? 2 : 0;
  }
  if (!(cmd in HELP)) throw new UserError(`unknown command "${cmd}" (try island --help)`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: OPTIONS,
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > (cmd === 'try' ? 1 : 0))
    throw new UserError(`unexpected argument "${positionals.at(-1)}" (try island ${cmd} --help)`);
  if (values.help) {
    process.stdout.write(`${HELP[cmd]}\n`);
    return 0;
  }
  const path = values.config;
  // a one-file island: which host's part to take; the daemon and its children see it too
  if (values.host !== undefined) process.env.ISLAND_HOST = values.host;
  switch (cmd) {
    case 'check': {
      // the daemon's rule too: `systemctl reload` runs check first and must refuse what the daemon would
      const unsafe = await unsafeConfigFile(path);
      if (unsafe) process.stderr.write(`${unsafe}\n`);
      // [forward] names neither declared nor on this host are likely typos; only check looks
      const r = await loadConfig(path, {
        linkExists: (name) => existsSync(`/sys/class/net/${name}`),
        adviseKeepalive: true,
        // the file is the same on every host: valid is valid, whichever host this is
        anyHost: values.host === undefined && process.env.ISLAND_HOST === undefined,
      });
      printDiagnostics(r.warnings);
      if (!r.ok) {
        printDiagnostics(r.errors);
        return 1;
      }
      if (unsafe) return 1;
      // the same checks as island doctor, as warnings, where the file is this host's
      const { hostWarnings, isThisHost } = await import('./doctor/command.js');
      if (isThisHost(r.config, values.host))
        for (const w of await hostWarnings(r.config)) process.stderr.write(`${w}\n`);
      const self = r.config.island?.self;
      process.stdout.write(`${path}: ok${self ? ` (${describeSelf(self)})` : ''}\n`);
      return 0;
    }
    case 'plan': {
      const cfg = await mustLoad(path);
      const self = cfg.island?.self;
      if (self) process.stdout.write(`# ${describeSelf(self)}\n`);
      const p = await withNetlink((rtnl, ethtool) => planOnly(rtnl, ethtool, desiredState(cfg)));
      for (const a of p.actions) process.stdout.write(`${describeAction(a)}\n`);
      const hosts = await hostsLine(cfg.hosts ?? [], false);
      if (hosts) process.stdout.write(`${hosts}\n`);
      const stuck = unreached(p.status);
      for (const s of stuck) process.stdout.write(`! ${s.object}: ${s.state}: ${s.detail}\n`);
      const pending = p.actions.length > 0 || Boolean(hosts);
      // "no changes" is read as "the host matches the file": only say it when it does
      if (stuck.length) process.stdout.write(`${notReached(stuck)}\n`);
      else if (!pending) process.stdout.write('no changes\n');
      if (!values['exit-code']) return 0;
      return stuck.length ? EXIT_UNREACHED : pending ? 2 : 0;
    }
    case 'apply': {
      const cfg = await mustLoad(path);
      const { plan, results } = await withNetlink((rtnl, ethtool) => reconcile(rtnl, ethtool, desiredState(cfg)));
      let failed = 0;
      for (const r of results) {
        if (r.error) {
          failed++;
          process.stderr.write(`island: ${actionObject(r.action)}: ${r.error}\n`);
        } else process.stdout.write(`${describeAction(r.action)}\n`);
      }
      // what failed was said above; what waits on something outside island, here
      const failedObjects = new Set(results.filter((r) => r.error).map((r) => actionObject(r.action)));
      const stuck = unreached(settle(plan.status, results)).filter((s) => !failedObjects.has(s.object));
      for (const s of stuck) process.stderr.write(`island: ${s.object}: ${s.detail}\n`);
      const hosts = await hostsLine(cfg.hosts ?? [], true).catch((e: Error) => {
        failed++;
        process.stderr.write(`island: ${e.message}\n`);
        return undefined;
      });
      if (hosts) process.stdout.write(`${hosts}\n`);
      if (stuck.length) process.stdout.write(`${notReached(stuck)}\n`);
      else if (!results.length && !hosts && !failed) process.stdout.write('no changes\n');
      return failed ? 1 : stuck.length ? EXIT_UNREACHED : 0;
    }
    case 'down': {
      const results = await withNetlink((rtnl) => teardown(rtnl));
      let failed = 0;
      for (const r of results) {
        if (r.error) {
          failed++;
          process.stderr.write(`island: ${actionObject(r.action)}: ${r.error}\n`);
        } else process.stdout.write(`${describeAction(r.action)}\n`);
      }
      // the names go with the island, whatever the file says now
      const hosts = await hostsLine([], true).catch((e: Error) => {
        failed++;
        process.stderr.write(`island: ${e.message}\n`);
        return undefined;
      });
      if (hosts) process.stdout.write(`${hosts}\n`);
      if (!results.length && !hosts && !failed) process.stdout.write('nothing to remove\n');
      return failed ? 1 : 0;
    }
    case 'status':
      return statusCommand(path, { json: values.json, check: values.check });
    case 'try':
      return tryCommand(positionals[0], values);
    case 'test':
      return testCommand(path, values);
    case 'graph':
      return graphCommand(path, { svg: values.svg, format: values.format, host: values.host });
    case 'doctor':
      return (await import('./doctor/command.js')).doctorCommand(path);
    case 'hosts-sync':
      return hostsSyncCommand();
    case 'daemon':
      return runDaemon(path);
  }
  return 2;
}

/** plan --exit-code and apply: objects are foreign or blocked, so the file is not reached. */
const EXIT_UNREACHED = 3;

const unreached = (status: ObjectStatus[]) => status.filter((s) => s.state === 'foreign' || s.state === 'blocked');

function notReached(stuck: ObjectStatus[]): string {
  const n = (state: string) => stuck.filter((s) => s.state === state).length;
  const parts = [n('foreign') && `${n('foreign')} foreign`, n('blocked') && `${n('blocked')} blocked`].filter(Boolean);
  return `not converged: ${parts.join(', ')}: the host does not match the file`;
}

async function runDaemon(path: string): Promise<number> {
  // one daemon per network namespace, whatever its runtime directory: before anything else
  const { DaemonRunning, lockDaemon } = await import('./daemon/lock.js');
  const { controlSocketPath } = await import('./control/paths.js');
  const lock = await lockDaemon({ config: path, control: controlSocketPath() }).catch((e: unknown) => {
    throw e instanceof DaemonRunning ? new UserError(e.message) : e;
  });
  // loaded here so that one-shot commands do not pay for the logger and event socket
  const { ConfigRejected, Daemon } = await import('./daemon/daemon.js');
  const { createLogger } = await import('./log.js');
  const { Notifier } = await import('./daemon/notify.js');
  const { Service } = await import('./daemon/service.js');
  const { watchConfigFile } = await import('./daemon/watch.js');
  const log = createLogger();
  const notify = await Notifier.fromEnv(log);
  const svc = new Service(notify, log);
  const d = new Daemon({ configPath: path, log, onStatus: svc.onStatus, onPass: svc.onPass });
  const { TrySession } = await import('./try/session.js');
  const { startControl } = await import('./control/handlers.js');
  const tries = new TrySession(d, log);
  // during `island try` the candidate is what is being tested: a reload waits for the try's end
  const reload = (trigger: string) =>
    void svc.reload(trigger, () => (tries.defer(trigger) ? Promise.resolve(true) : d.reload()));
  // before the first pass: SIGHUP's default action would kill a daemon still starting up
  process.on('SIGHUP', () => reload('SIGHUP'));
  try {
    await d.start();
  } catch (e) {
    d.stop();
    if (e instanceof ConfigRejected) {
      for (const l of e.lines) log.error(l);
      await notify.status(`config error: ${e.lines[0]}`);
      notify.close();
      throw new UserError(`${path}: invalid, not starting (${e.lines.length} error(s))`);
    }
    notify.close();
    throw e;
  }
  // in place before READY=1: an edit right after `systemctl start` returns is not missed
  const watch = await watchConfigFile(
    path,
    () => reload('file changed'),
    (err) => log.error({ err: err.message }, `watching ${path}: ${err.message}`),
  );
  const control = await startControl(d, tries, path, log);
  await svc.ready();
  log.info({ config: path, pid: process.pid }, 'island daemon running');
  return new Promise((resolve) => {
    const quit = async (sig: string) => {
      // leaving the network in place: a restart or upgrade must not cut the island
      log.info(`${sig}: stopping, the network stays as it is`);
      await svc.stopping();
      tries.close();
      d.stop();
      await watch.close();
      await control?.close();
      await lock.release();
      resolve(0);
      // requests of a pass cut short by the signal would otherwise hold the
      // loop until their 10 s timeout: systemd would wait that long to stop
      // us; logs are written synchronously, nothing else is pending
      setImmediate(() => process.exit(0));
    };
    process.once('SIGTERM', () => void quit('SIGTERM'));
    process.once('SIGINT', () => void quit('SIGINT'));
  });
}

async function mustLoad(path: string): Promise<Config> {
  const r = await loadConfig(path);
  printDiagnostics(r.warnings);
  if (!r.ok) {
    printDiagnostics(r.errors);
    throw new UserError(`${path}: invalid (${r.errors.length} error(s)), nothing changed`);
  }
  return r.config;
}

function printDiagnostics(ds: Diagnostic[]): void {
  for (const d of ds) process.stderr.write(`${formatDiagnostic(d)}\n`);
}

async function withNetlink<T>(fn: (rtnl: Rtnl, ethtool: Ethtool) => Promise<T>): Promise<T> {
  const rtnl = new Rtnl();
  const ethtool = new Ethtool();
  try {
    return await fn(rtnl, ethtool);
  } finally {
    rtnl.close();
    ethtool.close();
  }
}

function explain(e: unknown): string {
  if (e instanceof NetlinkError && (e.code === 'EPERM' || e.code === 'EACCES'))
    return `${e.op}: permission denied (island needs root or CAP_NET_ADMIN)`;
  if (e instanceof Error && /EPERM|EACCES/.test(e.message))
    return 'permission denied (island needs root or CAP_NET_ADMIN)';
  return e instanceof Error ? e.message : String(e);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`island: ${explain(e)}\n`);
    if (process.env.ISLAND_DEBUG && e instanceof Error && !(e instanceof UserError || e instanceof CommandError))
      process.stderr.write(`${e.stack}\n`);
    process.exitCode =
      e instanceof UserError || e instanceof CommandError || e instanceof NetlinkError || isArgError(e) ? 1 : 70;
  },
);

function isArgError(e: unknown): boolean {
  return e instanceof Error && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');
}
