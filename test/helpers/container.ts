/**
 * A Debian 12 container with systemd as PID 1, for tests of island as a service.
 *
 * The root is built once by test/systemd/rootfs.sh into /var/cache/island-test (keyed by a hash
 * of the script) and never written to: each container boots from an overlay whose upper layer
 * is a fresh directory under /var/tmp, so a test can install files, reboot the container and
 * find them again, and the next test starts clean. `--private-network` gives the container its
 * own network namespace: nothing it does reaches the host's links, addresses or routes.
 *
 * systemd is not PID 1 on the machines running the tests, so the container is started with
 * `--register=no --keep-unit` and entered with `nsenter -t <its PID 1> -a`.
 *
 * Cleanup: `t.teardown`, a process 'exit' hook and SIGTERM/SIGINT/SIGHUP handlers each stop
 * the container (SIGKILL to systemd-nspawn if it does not shut down), unmount the overlay and
 * remove its directory.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { REPO } from './island.js';
import { mustRun, requireRoot } from './netns.js';
import { type ExecOptions, type ExecResult, exec } from './spawn.mjs';

export const CACHE_DIR = process.env.ISLAND_TEST_CACHE ?? '/var/cache/island-test';
const SYSTEMD_TESTS = join(REPO, 'test', 'systemd');

export interface Container {
  name: string;
  /** the merged root as the host sees it: files written here appear inside */
  root: string;
  /** host PID of the container's PID 1 (changes at each boot) */
  leader(): number;
  /** argv inside every namespace of the container; never throws on a non-zero exit */
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** like exec, but throws with the command's stderr unless it exits 0; returns stdout */
  run(cmd: string[], opts?: ExecOptions): Promise<string>;
  /** `bash -c script` inside (the root has bash); never throws on a non-zero exit */
  sh(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** writes a file into the root (host side), with its mode */
  writeFile(path: string, text: string, mode?: number): Promise<void>;
  /** ms from starting systemd-nspawn to `systemctl is-system-running --wait` answering */
  bootMs: number;
  /** ms spent finding (warm cache) or building (cold) the Debian root */
  rootMs: number;
  /** `systemctl reboot` inside, then boot the same root again; resolves when it is up */
  reboot(): Promise<void>;
  /** the console output of every boot so far (for failure messages) */
  console(): string;
  destroy(): Promise<void>;
}

interface Live {
  nspawn?: ChildProcess;
  dir: string;
  merged: string;
}
const live = new Map<string, Live>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
let hooked = false;

const run = (cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> => exec(cmd, opts);

/** The cached Debian 12 root; built (1-2 min, once per recipe) when absent. Returns its path. */
export async function debianRoot(): Promise<string> {
  const r = await run(['bash', join(SYSTEMD_TESTS, 'rootfs.sh'), CACHE_DIR], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`could not build the Debian root (exit ${r.code}):\n${r.stderr.trim()}`);
  const root = r.stdout.trim().split('\n').pop() ?? '';
  if (!existsSync(join(root, 'sbin', 'init'))) throw new Error(`${root}: not a bootable root (no /sbin/init)`);
  return root;
}

function leaderOf(nspawnPid: number): number | undefined {
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(nspawnPid)], { encoding: 'utf8' });
    const pid = Number(out.trim().split(/\s+/)[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function stopSync(name: string): void {
  const l = live.get(name);
  if (!l) return;
  if (l.nspawn && l.nspawn.exitCode === null && l.nspawn.signalCode === null) l.nspawn.kill('SIGKILL');
  try {
    execFileSync('umount', ['-l', l.merged], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
  try {
    execFileSync('rm', ['-rf', '--one-file-system', l.dir], { stdio: 'ignore' });
  } catch {
    // best effort at exit
  }
  live.delete(name);
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const name of [...live.keys()]) stopSync(name);
  });
  for (const sig of SIGNALS) {
    const handler = () => {
      for (const name of [...live.keys()]) stopSync(name);
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

export interface ContainerOptions {
  /** files to put into the root before the first boot (island, units, configs) */
  prepare?: (root: string) => Promise<void>;
}

/** Boots a fresh container from the cached root; stopped and removed at the end of t. */
export async function container(t: Test, opts: ContainerOptions = {}): Promise<Container> {
  requireRoot();
  for (const tool of ['systemd-nspawn', 'debootstrap', 'nsenter']) {
    const r = await run(['bash', '-c', `command -v ${tool}`]);
    if (r.code !== 0)
      throw new Error(`${tool} not found (apt-get install systemd-container debootstrap); not skipping`);
  }
  const r0 = performance.now();
  const lower = await debianRoot();
  const rootMs = performance.now() - r0;
  installHooks();
  const name = `isl-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dir = join('/var/tmp', name);
  const merged = join(dir, 'merged');
  const l: Live = { dir, merged };
  live.set(name, l);
  t.teardown(() => destroy());
  await Promise.all(['upper', 'work', 'merged'].map((d) => mkdir(join(dir, d), { recursive: true })));
  await mustRun([
    'mount',
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
    merged,
  ]);
  await opts.prepare?.(merged);

  let leader = 0;
  const consoleLog = join(dir, 'console.log');

  async function boot(): Promise<number> {
    const t0 = performance.now();
    const out = openSync(consoleLog, 'a');
    const child = spawn(
      'systemd-nspawn',
      [
        '-D',
        merged,
        '-b',
        '--register=no',
        '--keep-unit',
        '--private-network',
        '--console=read-only',
        '-M',
        name.slice(0, 64),
      ],
      { stdio: ['ignore', out, out] },
    );
    closeSync(out);
    l.nspawn = child;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited (${child.exitCode}):\n${tail()}`);
      const pid = child.pid ? leaderOf(child.pid) : undefined;
      if (pid) {
        const r = await run(['nsenter', '-t', String(pid), '-a', 'systemctl', 'is-system-running', '--wait'], {
          timeoutMs: 30_000,
        });
        // "degraded" is an answer too: a failed unit is for the test to look at, not a boot failure
        if (r.stdout.trim() === 'running' || r.stdout.trim() === 'degraded') {
          leader = pid;
          return performance.now() - t0;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`container did not finish booting within 60 s:\n${tail()}`);
  }

  function tail(): string {
    try {
      return readFileSync(consoleLog, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '(no console output)';
    }
  }

  async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    return new Promise((res) => {
      const timer = setTimeout(() => res(false), ms);
      child.once('exit', () => {
        clearTimeout(timer);
        res(true);
      });
    });
  }

  async function destroy(): Promise<void> {
    if (!live.has(name)) return;
    const child = l.nspawn;
    // SIGTERM asks systemd-nspawn for a clean shutdown of the container (SIGRTMIN+3 to its init)
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 15_000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5_000);
      }
    }
    await run(['umount', merged]);
    if ((await run(['mountpoint', '-q', merged])).code === 0) await run(['umount', '-l', merged]);
    await rm(dir, { recursive: true, force: true });
    live.delete(name);
  }

  const exec = (cmd: string[], o?: ExecOptions) => run(['nsenter', '-t', String(leader), '-a', ...cmd], o);
  const bootMs = await boot();
  return {
    name,
    root: merged,
    leader: () => leader,
    exec,
    async run(cmd, o) {
      const r = await exec(cmd, o);
      if (r.code !== 0) throw new Error(`in ${name}: ${cmd.join(' ')} failed (exit ${r.code}):\n${r.stderr.trim()}`);
      return r.stdout;
    },
    sh: (script, o) => exec(['bash', '-c', script], o),
    async writeFile(path, text, mode = 0o644) {
      const p = join(merged, path);
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, text, { mode });
      await mustRun(['chmod', mode.toString(8), p]);
    },
    bootMs,
    rootMs,
    async reboot() {
      const child = l.nspawn;
      if (!child) throw new Error('not booted');
      // systemd-nspawn exits when the container reboots (exit status 133); booting again is ours
      await exec(['systemctl', 'reboot']);
      if (!(await waitExit(child, 30_000))) throw new Error(`container did not shut down for the reboot:\n${tail()}`);
      await boot();
    },
    console: tail,
    destroy,
  };
}
