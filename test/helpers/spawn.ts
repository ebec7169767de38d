/**
 * The one way tests run a program to its end: an argv (no shell), a timeout that kills it,
 * its output collected, never a throw for a non-zero exit. Namespaces (netns.ts), containers
 * (container.ts, debroot.ts) and the island CLI (island.ts) all run through it.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** exit code; 128+n for a process killed by signal n; -1 if it could not be started */
  code: number;
}

export interface ExecOptions {
  /** kill the command after this long (default 30 s) */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** written to the command's stdin (default: stdin is closed at once) */
  input?: string;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export interface SpawnOptions extends ExecOptions {
  /** the timeout when opts.timeoutMs is not given */
  defaultTimeoutMs?: number;
  /** what the timeout message calls the command (default: its argv) */
  label?: string;
  /** sees the child as soon as it exists (to kill it if the test file dies first) */
  onSpawn?: (child: ChildProcess) => void;
}

/** Runs cmd to its end; a timeout kills it (SIGKILL) and says so at the end of stderr. */
export function exec(cmd: string[], opts: SpawnOptions = {}): Promise<ExecResult> {
  const [file, ...args] = cmd;
  if (file === undefined) throw new Error('empty command');
  const timeoutMs = opts.timeoutMs ?? opts.defaultTimeoutMs ?? 30_000;
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      stderr += `\n[test harness] ${opts.label ?? cmd.join(' ')} killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    // EPIPE if the command never reads: its exit code says what happened
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${stderr}${stderr ? '\n' : ''}${e.message}`, code: -1 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? 128 + ((signal && SIGNAL_NUMBERS[signal]) || 0) });
    });
  });
}
