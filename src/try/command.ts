/**
 * `island try`, the CLI's half: validate the candidate, hand it to the daemon (which applies it
 * and holds the rollback timer), then wait for Enter on a terminal. A confirm writes the
 * candidate over the configuration file, atomically; the CLI does that, as root, because the
 * daemon's sandbox keeps /etc read-only.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { msText, TRY_TIMEOUT_MS } from '../config/defaults.js';
import { type Diagnostic, formatDiagnostic, parseConfig } from '../config/load.js';
import { duration } from '../config/schema.js';
import { DaemonRefused, DaemonUnreachable, request } from '../control/client.js';
import { CommandError } from '../control/errors.js';
import { readTextOrEmpty, replaceFile } from '../hosts/file.js';
import { MAX_TRY_MS, MIN_TRY_MS } from './session.js';

export interface TryOptions {
  timeout?: string;
  confirm?: boolean;
  rollback?: boolean;
}

const out = (s: string) => process.stdout.write(`${s}\n`);

export async function tryCommand(file: string | undefined, opts: TryOptions): Promise<number> {
  if (opts.confirm && opts.rollback) throw new CommandError('--confirm and --rollback exclude each other');
  if (opts.confirm || opts.rollback) {
    if (file !== undefined) throw new CommandError(`--${opts.confirm ? 'confirm' : 'rollback'} takes no FILE`);
    return opts.confirm ? confirm() : rollback();
  }
  if (file === undefined)
    throw new CommandError(`usage: island try FILE [--timeout ${msText(TRY_TIMEOUT_MS)}] (or --confirm, --rollback)`);
  const timeoutMs = parseTimeout(opts.timeout);
  const candidate = resolve(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(candidate);
  } catch (e) {
    throw new CommandError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // the daemon checks again; here every error is printed, before anything changes (bytes: UTF-8 is checked too)
  const r = parseConfig(bytes, file);
  const text = bytes.toString('utf8');
  printDiagnostics(r.warnings);
  if (!r.ok) {
    printDiagnostics(r.errors);
    throw new CommandError(`${file}: invalid (${r.errors.length} error(s)), nothing changed`);
  }
  const res = await ask({ cmd: 'try', candidate, text, timeoutMs }, timeoutMs);
  const secs = Math.round(timeoutMs / 1000);
  out(`island: running ${file} (${String(res.summary)}); rolled back in ${secs} s unless confirmed`);
  if (!process.stdin.isTTY) {
    out(`confirm with: island try --confirm (within ${secs} s)`);
    return 0;
  }
  return waitForEnter(Number(res.deadline));
}

/** --timeout ("30s", "2m", integer seconds) within [minMs, maxMs]; a bad one ends in one line. Also `island test`'s. */
export function parseTimeout(
  text: string | undefined,
  minMs = MIN_TRY_MS,
  maxMs = MAX_TRY_MS,
  defaultMs = TRY_TIMEOUT_MS,
): number {
  if (text === undefined) return defaultMs;
  const r = duration(minMs, maxMs, defaultMs).safeParse(/^\d+$/.test(text) ? Number(text) : text);
  if (!r.success) throw new CommandError(`--timeout: ${r.error.issues[0]?.message}`);
  return r.data;
}

/** Enter keeps the candidate, Ctrl-C rolls it back now; a closed terminal (SSH gone) leaves it to the daemon. */
async function waitForEnter(deadline: number): Promise<number> {
  out('Press Enter to keep it, Ctrl-C to roll back now (from another shell: island try --confirm).');
  const rl = createInterface({ input: process.stdin });
  const choice = await new Promise<'enter' | 'interrupt' | 'eof' | 'timeout'>((res) => {
    const timer = setTimeout(() => res('timeout'), Math.max(0, deadline - Date.now()) + 500);
    rl.once('line', () => {
      clearTimeout(timer);
      res('enter');
    });
    rl.once('SIGINT', () => {
      clearTimeout(timer);
      res('interrupt');
    });
    rl.once('close', () => {
      clearTimeout(timer);
      res('eof');
    });
  });
  rl.close();
  switch (choice) {
    case 'enter':
      return confirm();
    case 'interrupt':
      return rollback();
    case 'eof':
      out('island: no terminal input: the daemon rolls back unless confirmed (island try --confirm)');
      return 0;
    case 'timeout':
      out('island: not confirmed in time: the daemon rolled back to the previous configuration');
      return 1;
  }
}

async function confirm(): Promise<number> {
  const r = await ask({ cmd: 'confirm' });
  const config = String(r.config);
  const text = String(r.text);
  const previous = String(r.previous);
  const now = await readTextOrEmpty(config);
  if (now.text === text) {
    out(`island: confirmed; ${config} already holds it`);
    return 0;
  }
  // someone saved the file during the try: their edit is not ours to overwrite
  if (now.text !== previous)
    throw new CommandError(
      `confirmed, and the daemon keeps running ${String(r.candidate)}, but ${config} changed during the try: ` +
        `not overwriting it; copy the candidate over it yourself (the daemon reloads the file when it changes)`,
    );
  try {
    if (!(await replaceFile(config, text, previous)))
      throw new CommandError(`${config} changed while being replaced; copy ${String(r.candidate)} over it yourself`);
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw new CommandError(
      `confirmed, and the daemon keeps running ${String(r.candidate)}, but writing ${config} failed ` +
        `(${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the next reload would go back to the file`,
    );
  }
  out(`island: confirmed; ${config} now holds ${String(r.candidate)}`);
  return 0;
}

async function rollback(): Promise<number> {
  const r = await ask({ cmd: 'rollback' });
  out(`island: rolled back to the previous configuration (${String(r.summary)})`);
  return 0;
}

async function ask(req: Record<string, unknown>, passMs = 0): Promise<Record<string, unknown>> {
  try {
    // a try's pass may wait for a slow host; the answer comes after it
    return await request(req, undefined, 30_000 + passMs);
  } catch (e) {
    if (e instanceof DaemonUnreachable)
      throw new CommandError(
        `island try needs the running daemon, which holds the rollback: ${e.message} (systemctl start island)`,
      );
    if (e instanceof DaemonRefused) throw new CommandError(e.message);
    throw e;
  }
}

export function printDiagnostics(ds: Diagnostic[]): void {
  for (const d of ds) process.stderr.write(`${formatDiagnostic(d)}\n`);
}
