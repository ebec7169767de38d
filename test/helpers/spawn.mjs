/**
 * The one way tests and bench run a program to its end: an argv (no shell), a timeout that
 * kills it, its output collected, never a throw for a non-zero exit. Namespaces (netns.ts),
 * containers (container.ts, debroot.ts), the island CLI (island.ts) and bench (bench/lib.mjs)
 * all run through it. JavaScript with JSDoc types: bench runs under plain node.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/**
 * @typedef {object} ExecResult
 * @property {string} stdout
 * @property {string} stderr
 * @property {number} code exit code; 128+n for a process killed by signal n; -1 if it could not be started
 */

/**
 * @typedef {object} ExecOptions
 * @property {number} [timeoutMs] kill the command after this long (default 30 s)
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string} [input] written to the command's stdin (default: stdin is closed at once)
 */

/**
 * @typedef {object} SpawnOptionsOnly
 * @property {number} [defaultTimeoutMs] the timeout when timeoutMs is not given
 * @property {string} [label] what the timeout message calls the command (default: its argv)
 * @property {(child: import('node:child_process').ChildProcess) => void} [onSpawn] sees the
 *   child as soon as it exists (to kill it if the test file or the bench dies first)
 * @typedef {ExecOptions & SpawnOptionsOnly} SpawnOptions
 */

/**
 * @typedef {object} TimedOnly
 * @property {NodeJS.Signals | null} signal the signal that ended it, if one did
 * @property {number} ms wall time from spawn to the process' exit
 * @property {boolean} timedOut the timeout killed it
 * @typedef {ExecResult & TimedOnly} TimedResult
 */

/** @type {Partial<Record<NodeJS.Signals, number>>} */
const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Runs cmd to its end; a timeout kills it (SIGKILL) and says so at the end of stderr.
 * @param {string[]} cmd
 * @param {SpawnOptions} [opts]
 * @returns {Promise<ExecResult>}
 */
export async function exec(cmd, opts = {}) {
  const { stdout, stderr, code } = await execTimed(cmd, opts);
  return { stdout, stderr, code };
}

/**
 * exec(), and also how it ended and how long it ran: what bench measures.
 * @param {string[]} cmd
 * @param {SpawnOptions} [opts]
 * @returns {Promise<TimedResult>}
 */
export function execTimed(cmd, opts = {}) {
  const [file, ...args] = cmd;
  if (file === undefined) throw new Error('empty command');
  const timeoutMs = opts.timeoutMs ?? opts.defaultTimeoutMs ?? 30_000;
  return new Promise((resolve) => {
    const t0 = performance.now();
    let ms = 0;
    let timedOut = false;
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (/** @type {string} */ d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (/** @type {string} */ d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      stderr += `\n[test harness] ${opts.label ?? cmd.join(' ')} killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    // EPIPE if the command never reads: its exit code says what happened
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
    child.on('exit', () => {
      ms = performance.now() - t0;
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${stderr}${stderr ? '\n' : ''}${e.message}`, code: -1, signal: null, ms, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const c = code ?? 128 + ((signal && SIGNAL_NUMBERS[signal]) || 0);
      resolve({ stdout, stderr, code: c, signal, ms, timedOut });
    });
  });
}

/**
 * `sh -c script ...args` in a mount namespace of its own, private: what the script mounts (a
 * file over /etc/hosts, an overlay, /sys read-only) is seen by it and what it execs alone.
 * @param {string} script
 * @param {string[]} args the script's $0, $1...
 * @returns {string[]}
 */
export function privateMounts(script, ...args) {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, ...args];
}
