/**
 * The iptables programs island runs: always with an argv (no shell), always the
 * backend's own binary (iptables-nft-save, ip6tables-legacy-restore, ...) so
 * that the host's `iptables` alternative never decides for island.
 */
import { createRequire } from 'node:module';
import type { Backend, Family, RestoreBatch } from './types.js';

export function program(backend: Backend, family: Family, what: 'save' | 'restore'): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-${backend}-${what}`;
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A program that could not run at all (not installed, killed by the timeout). */
export class ToolError extends Error {}

/**
 * node's child_process, loaded at the first program run: with the dgram, net and stream modules
 * it loads, ~5 ms of CPU at start (a no-op `island apply`, which runs none, paid it).
 */
type ChildProcesses = typeof import('node:child_process');
let loaded: ChildProcesses | undefined;
const childProcesses = (): ChildProcesses =>
  (loaded ??= createRequire(import.meta.url)('node:child_process') as ChildProcesses);

// iptables lives in /usr/sbin, which a user's (or a unit's) PATH may lack
const env = { ...process.env, LC_ALL: 'C', PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin` };

/**
 * Runs argv with `input` on stdin; resolves with its exit code and output, rejects only when it
 * cannot run (`pkg`: the Debian package that ships the program, for the message).
 */
export function runTool(argv: string[], input?: string, timeoutMs = 10_000, pkg = 'iptables'): Promise<ToolResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    // every pipe is a socket and a stream built by cold (interpreted) code: a read with no stdin
    // costs the legacy poll about half as much CPU
    const child = childProcesses().spawn(file, args, {
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ToolError(e.code === 'ENOENT' ? `${file} not found (install the ${pkg} package)` : `${file}: ${e.message}`),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killed) return reject(new ToolError(`${file} did not finish within ${timeoutMs / 1000} s`));
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a program that exits early: its exit code says why
      child.stdin.end(input);
    }
  });
}

/** iptables' complaint, as one line a user can act on: "iptables-nft-restore: line 3 failed: ...". */
export function complaint(program: string, r: ToolResult): string {
  const text = `${r.stderr}\n${r.stdout}`;
  if (/you must be root|Permission denied/i.test(text))
    return `${program}: permission denied (island needs root or CAP_NET_ADMIN)`;
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('#') && !l.startsWith('Try `'))
    // "iptables-nft-restore v1.8.9 (nf_tables): ..." or "iptables-restore: ...": the program is named once
    ?.replace(/^[\w-]+( v[\d.]+( \([\w_]+\))?)?: /, '');
  return `${program}: ${line ?? `exited ${r.code}`}`;
}

/**
 * `iptables-restore --noflush -w 5`: one atomic write of the batch, waiting up
 * to 5 s for the xtables lock that legacy iptables takes.
 */
export async function restore(b: RestoreBatch): Promise<void> {
  const prog = program(b.backend, b.family, 'restore');
  const r = await runTool([prog, '--noflush', '-w', '5'], `${b.lines.join('\n')}\n`);
  if (r.code === 0) return;
  // "line 3 failed" / "Error occurred at line: 3": name the line island wrote, not only its number
  const n = Number(/line:? (\d+)/.exec(r.stderr)?.[1]);
  const what = b.lines[n - 1];
  throw new Error(`${complaint(prog, r)}${what ? ` [island's line ${n}: ${what}]` : ''}`);
}
