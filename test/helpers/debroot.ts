/**
 * Clean Debian roots (12 and 13) booted with systemd as PID 1 in systemd-nspawn, for the
 * package tests.
 *
 * The roots (test/packaging/debroot.sh, cached in /var/cache/island-test under their own
 * keys, apart from test/systemd's root) have no nodejs: installing the .deb must pull it.
 * A cached root is never written to: each container runs on an overlay of it (upper layer in
 * a temporary directory under /var/tmp), removed at teardown with the container.
 * `--private-network`: the container has its own network namespace and never sees the host's
 * links. This machine has no systemd as PID 1, hence `--register=no --keep-unit`; commands run
 * inside with `nsenter -t LEADER -a`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { REPO } from './island.js';
import { mustRun, requireRoot } from './netns.js';
import { type ExecOptions, type ExecResult, exec } from './spawn.mjs';

export const CACHE_DIR = process.env.ISLAND_TEST_CACHE ?? '/var/cache/island-test';
export { mustRun };

/** The cached clean root of a Debian suite (built now, ~2 min, when absent). */
export async function debRoot(suite: 'bookworm' | 'trixie'): Promise<string> {
  const script = join(REPO, 'test', 'packaging', 'debroot.sh');
  return (await mustRun(['bash', script, suite, CACHE_DIR], { timeoutMs: 900_000 })).trim();
}

/** The clean root with Debian's own nodejs and npm added (noderoot.sh; ~2 min more when absent). */
export async function nodeRoot(suite: 'bookworm' | 'trixie'): Promise<string> {
  const script = join(REPO, 'test', 'packaging', 'noderoot.sh');
  return (await mustRun(['bash', script, suite, CACHE_DIR], { timeoutMs: 1_200_000 })).trim();
}

/**
 * `bash -euo pipefail -c script` in `root` (not booted: an overlay before bootDebRoot boots it)
 * with this machine's network, which a booted container does not have: apt-get and npm reach
 * their mirrors. `env` is all the environment it gets, besides PATH and LANG.
 */
export function runInRoot(
  root: string,
  script: string,
  opts: ExecOptions & { env?: Record<string, string>; bind?: string[] } = {},
): Promise<ExecResult> {
  const env = Object.entries({ LANG: 'C.UTF-8', ...opts.env }).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const binds = (opts.bind ?? []).map((b) => `--bind-ro=${b}`);
  // a machine name of its own: nspawn keeps per-name state under /run/systemd/nspawn
  const machine = `isl-run-${process.pid}-${randomBytes(2).toString('hex')}`;
  return run(
    [
      'systemd-nspawn',
      ...['-q', '-D', root, '-M', machine, '--register=no', '--keep-unit', '--as-pid2', '--pipe', ...env, ...binds],
      ...['bash', '--norc', '-euo', 'pipefail', '-c', script],
    ],
    opts,
  );
}

export interface BootOptions {
  /** called with the overlay's root before the first boot (files to put in, a networked setup) */
  prepare?: (root: string) => Promise<void>;
}

export interface DebContainer {
  /** the container's root as the host sees it (the overlay): files copied here appear inside */
  root: string;
  /** host pid of the container's PID 1 */
  leader: number;
  /** argv inside the container (all its namespaces); never throws on a non-zero exit */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `bash -euo pipefail -c script` inside; throws with the output unless it exits 0; returns stdout */
  sh(script: string, opts?: ExecOptions): Promise<string>;
  /** path of the container's console log on the host */
  log: string;
}

/** A clean environment inside: nothing of the test runner's leaks into apt or island. */
const ENV = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'DEBIAN_FRONTEND=noninteractive'];
const live = new Map<string, () => void>();
let hooked = false;

const run = (cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> =>
  exec(cmd, { ...opts, defaultTimeoutMs: 120_000 });

function leaderOf(nspawn: number): number | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(nspawn)], { encoding: 'utf8' }).trim();
    const pid = Number(out.split(/\s+/)[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Boots `lowerRoot` (read-only, overlaid) and waits for systemd to reach its default target. */
export async function bootDebRoot(
  t: Test,
  lowerRoot: string,
  label: string,
  opts: BootOptions = {},
): Promise<DebContainer> {
  requireRoot();
  const dir = mkdtempSync('/var/tmp/island-debroot-');
  const [upper, work, merged] = ['upper', 'work', 'root'].map((d) => join(dir, d)) as [string, string, string];
  await mustRun(['mkdir', upper, work, merged]);
  await mustRun([
    'mount',
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lowerRoot},upperdir=${upper},workdir=${work}`,
    merged,
  ]);
  const log = join(dir, 'console.log');
  const machine = `isl-${label}-${process.pid}-${randomBytes(2).toString('hex')}`;
  let nspawn: ChildProcess | undefined;
  let leader: number | undefined;

  const cleanupSync = () => {
    if (leader) {
      try {
        process.kill(leader, 'SIGKILL');
      } catch {
        // gone
      }
    }
    nspawn?.kill('SIGKILL');
    try {
      execFileSync('umount', ['-l', merged], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
    try {
      execFileSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
    } catch {
      // best effort
    }
    live.delete(dir);
  };
  live.set(dir, cleanupSync);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of [...live.values()]) c();
    });
  }
  t.teardown(async () => {
    // an orderly poweroff (SIGRTMIN+4 to systemd), so the overlay is quiet when it is unmounted
    if (leader && nspawn && nspawn.exitCode === null) {
      const exited = new Promise((r) => nspawn?.once('exit', r));
      try {
        process.kill(leader, 'SIGRTMIN+4');
      } catch {
        // gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    cleanupSync();
  });

  await opts.prepare?.(merged);
  nspawn = spawn(
    'systemd-nspawn',
    ['-D', merged, '-b', '--register=no', '--keep-unit', '--private-network', '-M', machine, '--console=read-only'],
    { stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')] },
  );
  const started = Date.now();
  while (!leader) {
    if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited ${nspawn.exitCode}; see ${log}`);
    if (Date.now() - started > 30_000) throw new Error(`no container PID 1 after 30 s; see ${log}`);
    await new Promise((r) => setTimeout(r, 50));
    leader = leaderOf(nspawn.pid as number);
  }
  const pid = leader;
  const exec = (cmd: string[], opts?: ExecOptions) => run(['nsenter', '-t', String(pid), '-a', ...ENV, ...cmd], opts);
  // --norc: bash takes a socket on stdin for a remote shell and would read /etc/bash.bashrc
  const sh = async (script: string, opts?: ExecOptions) => {
    const r = await exec(['bash', '--norc', '-euo', 'pipefail', '-c', script], opts);
    if (r.code !== 0) throw new Error(`in ${machine} (exit ${r.code}): ${script}\n${r.stdout}${r.stderr}`.trim());
    return r.stdout;
  };
  // PID 1 exists before its namespaces are complete: retry until systemctl can be entered
  let state: ExecResult = { stdout: '', stderr: '', code: -1 };
  while (Date.now() - started < 60_000) {
    state = await exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 });
    if (/^(running|degraded)/.test(state.stdout.trim())) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (state.stdout.trim() !== 'running') {
    const failed = await exec(['systemctl', '--failed', '--no-legend']);
    throw new Error(`${machine} did not boot cleanly: ${state.stdout.trim() || state.stderr.trim()}\n${failed.stdout}`);
  }
  return { root: merged, leader: pid, exec, sh, log };
}

/** What a file-list comparison (as piuparts does) looks at: everything but volatile and package-manager state. */
export const FILE_LIST_SCRIPT = `find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \\
  -o -path /var/tmp -o -path /var/cache/apt -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log \\
  -o -path /var/cache/debconf -o -path /var/cache/ldconfig -o -path /root/debs \\) -prune -o -print | sort`;
