/**
 * Run the built island CLI (dist/cli.js) inside a test namespace: one-shot commands with
 * runIsland(), the daemon with startDaemon() (logs parsed, stopped at teardown).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import type { Netns } from './netns.js';
import { type ExecOptions, type ExecResult, exec, privateMounts } from './spawn.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'dist', 'cli.js');

function requireCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: build first (npx tsc -p .); not skipping`);
}

/**
 * Per test process, so that island never talks to the machine's own daemon (/run/island) nor
 * writes its /etc/hosts: every daemon gets its own runtime dir; a test that wants the CLI to
 * reach one passes the same ISLAND_RUNTIME_DIR to both.
 */
const SANDBOX = join(tmpdir(), `island-test-${process.pid}`);
let daemons = 0;
process.on('exit', () => rmSync(SANDBOX, { recursive: true, force: true }));

/**
 * Environment for island: no journald prefix, plain JSON logs; nothing of systemd's or tap's
 * from the test's own environment (`extra` may set NOTIFY_SOCKET, as a notify test does).
 */
function islandEnv(extra: NodeJS.ProcessEnv = {}, runtime = join(SANDBOX, 'cli')): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ISLAND_RUNTIME_DIR: runtime,
    ISLAND_HOSTS_FILE: join(SANDBOX, 'hosts'),
    ...process.env,
  };
  delete env.JOURNAL_STREAM;
  delete env.NOTIFY_SOCKET;
  delete env.NODE_OPTIONS; // tap's loaders are for the test, not for island
  return { ...env, ...extra };
}

const children = new Set<ChildProcess>();
let hooked = false;
function trackChild(c: ChildProcess): void {
  children.add(c);
  c.once('exit', () => children.delete(c));
  if (hooked) return;
  hooked = true;
  // second line of defence: never leave a daemon behind (it would keep its namespace alive)
  process.on('exit', () => {
    for (const ch of children) ch.kill('SIGKILL');
  });
}

export interface RunOptions extends ExecOptions {
  /**
   * Files island finds on the host, by absolute path under /etc or /run: laid over the
   * machine's own (an overlay on /etc or /run in a private mount namespace of the command,
   * upper layer a temporary directory), which stay untouched.
   */
  files?: Record<string, string>;
}

/**
 * argv run with `files` over /etc and /run: `unshare --mount` and one overlay per top-level
 * directory, whose upper layer holds the files. The directory goes with the test process.
 */
function overlaid(files: Record<string, string>, argv: string[]): string[] {
  mkdirSync(SANDBOX, { recursive: true });
  const dir = mkdtempSync(join(SANDBOX, 'files-'));
  const tops = new Set<string>();
  for (const [path, text] of Object.entries(files)) {
    const top = /^\/(etc|run)\//.exec(path)?.[1];
    if (!top) throw new Error(`${path}: only files under /etc and /run can be laid over the host's`);
    tops.add(top);
    const file = join(dir, top, 'upper', path.slice(top.length + 2));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const layers = [...tops].flatMap((top) => {
    mkdirSync(join(dir, top, 'work'), { recursive: true });
    return [`/${top}`, join(dir, top, 'upper'), join(dir, top, 'work')];
  });
  const script =
    'while [ "$1" != -- ]; do mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1" || exit 125; shift 3; done; shift; exec "$@"';
  return privateMounts(script, 'sh', ...layers, '--', ...argv);
}

/** `node dist/cli.js ...args` inside ns; never throws on a non-zero exit. */
export function runIsland(ns: Netns, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  requireCli();
  const argv = [process.execPath, CLI, ...args];
  return exec(['ip', 'netns', 'exec', ns.name, ...(opts.files ? overlaid(opts.files, argv) : argv)], {
    ...opts,
    env: islandEnv(opts.env),
    label: `island ${args.join(' ')}`,
    onSpawn: trackChild,
  });
}

/** A pino record: level (number), time, msg, and whatever fields island adds. */
// biome-ignore lint/suspicious/noExplicitAny: log records carry arbitrary fields per event
export type LogRecord = Record<string, any>;

export interface Daemon {
  pid: number;
  /** every stdout line that parsed as JSON, in order */
  logs: LogRecord[];
  /** every line of stdout and stderr, raw, in order (for failure messages) */
  lines: string[];
  /** resolves with the first record (already seen or future) that matches; rejects on timeout or daemon exit */
  waitForLog(predicate: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** resolves when the daemon has exited */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, SIGKILL after graceMs (default 3000); resolves with how it ended */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(sig: NodeJS.Signals): void;
}

/** pino's error level and above */
const ERROR_LEVEL = 50;

/** The daemon logged no error (pino level 50 or more); the failure lists what it logged. */
export function noErrorLogged(t: Test, d: Daemon): void {
  const errors = d.logs.filter((r) => r.level >= ERROR_LEVEL);
  t.notOk(errors.length, `no error logged: ${errors.map((r) => r.msg).join('; ')}`);
}

export interface DaemonOptions {
  env?: NodeJS.ProcessEnv;
  /** extra CLI arguments after `daemon -c FILE` */
  args?: string[];
}

/** `island daemon -c configPath` inside ns, stopped at the end of t. */
export function startDaemon(t: Test, ns: Netns, configPath: string, opts: DaemonOptions = {}): Daemon {
  requireCli();
  const argv = ['netns', 'exec', ns.name, process.execPath, CLI, 'daemon', '-c', configPath, ...(opts.args ?? [])];
  const runtime = join(SANDBOX, `daemon-${++daemons}`);
  const child = spawn('ip', argv, { env: islandEnv(opts.env, runtime), stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  const logs: LogRecord[] = [];
  const lines: string[] = [];
  const waiters = new Set<{ pred: (r: LogRecord) => boolean; done: (r: LogRecord) => void }>();
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => {
      ended = { code, signal };
      res(ended);
    });
    child.on('error', (e) => {
      lines.push(`[test harness] could not start island daemon: ${e.message}`);
      ended = { code: -1, signal: null };
      res(ended);
    });
  });

  const onLine = (stream: 'stdout' | 'stderr') => {
    let buf = '';
    return (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.trim() === '') continue;
        lines.push(stream === 'stderr' ? `stderr: ${line}` : line);
        if (stream !== 'stdout') continue;
        let rec: LogRecord;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec === null || typeof rec !== 'object') continue;
        logs.push(rec);
        for (const w of [...waiters]) {
          let hit = false;
          try {
            hit = w.pred(rec);
          } catch {
            // a predicate that throws on an unexpected record does not match it
          }
          if (hit) w.done(rec);
        }
      }
    };
  };
  child.stdout?.setEncoding('utf8').on('data', onLine('stdout'));
  child.stderr?.setEncoding('utf8').on('data', onLine('stderr'));

  const tail = () => lines.slice(-30).join('\n');

  function waitForLog(pred: (r: LogRecord) => boolean, timeoutMs = 30_000): Promise<LogRecord> {
    const seen = logs.find((r) => {
      try {
        return pred(r);
      } catch {
        return false;
      }
    });
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const w = {
        pred,
        done: (r: LogRecord) => {
          clearTimeout(timer);
          waiters.delete(w);
          res(r);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        rej(new Error(`no matching daemon log within ${timeoutMs} ms; last output:\n${tail()}`));
      }, timeoutMs);
      waiters.add(w);
      void exited.then((e) => {
        if (!waiters.has(w)) return;
        clearTimeout(timer);
        waiters.delete(w);
        rej(
          new Error(
            `daemon exited (code ${e.code}, signal ${e.signal}) before a matching log; last output:\n${tail()}`,
          ),
        );
      });
    });
  }

  async function stop(graceMs = 3000) {
    if (ended) return ended;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const r = await exited;
    clearTimeout(killer);
    return r;
  }

  t.teardown(async () => {
    await stop();
    rmSync(runtime, { recursive: true, force: true });
  });

  return {
    pid: child.pid ?? -1,
    logs,
    lines,
    waitForLog,
    exited,
    stop,
    signal: (sig) => {
      child.kill(sig);
    },
  };
}

/** A fresh directory for configs (never /etc), removed at the end of t. */
export async function configDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'island-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes text to <fresh dir>/<name> and returns the path. */
export async function writeConfig(t: Test, text: string, name = 'island.toml'): Promise<string> {
  const path = join(await configDir(t), name);
  await writeFile(path, text);
  return path;
}
