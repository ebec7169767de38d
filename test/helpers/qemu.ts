/**
 * QEMU guests running Debian's own kernel, for what this machine's kernel cannot do (ipip).
 *
 * The guest image (test/qemu/image.sh, cached in /var/cache/island-test, built when absent)
 * is booted with -snapshot: nothing a test does reaches it, and every test starts clean; a
 * reboot inside the guest keeps the snapshot (same QEMU process). Software emulation
 * (`-accel tcg`): /dev/kvm here cannot boot a stock kernel.
 *
 * The guest runs an agent (test/qemu/agent) that executes the scripts this helper drops into
 * a 9p share (cmd.N → out.N, rc.N) and announces every boot (ready.<boot_id>). QEMU runs
 * inside a test namespace (its tap device is there), so the namespace's teardown kills it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { CACHE_DIR } from './debroot.js';
import { REPO } from './island.js';
import { type ExecResult, mustRun, type Netns } from './netns.js';

/** The cached guest image directory (root.img, vmlinuz, initrd.img); built (~3-4 min) when absent. */
export async function qemuImage(): Promise<string> {
  const script = join(REPO, 'test', 'qemu', 'image.sh');
  return (await mustRun(['bash', script, CACHE_DIR], { timeoutMs: 900_000 })).trim();
}

export interface GuestOptions {
  /** a name for logs */
  name: string;
  /** namespace holding the tap device */
  ns: Netns;
  /** tap device in ns (created by the caller) */
  tap: string;
  mac: string;
  /** eth0's address with prefix, set by the agent at each boot */
  addr: string;
  /** default gateway, if any */
  gw?: string;
  /** files to put into the share (visible in the guest under /mnt/q) */
  files?: string[];
  memMb?: number;
}

export interface Guest {
  name: string;
  /** the 9p share on the host (/mnt/q in the guest) */
  share: string;
  /** `bash -c script` in the guest as root; never throws on a non-zero exit */
  run(script: string, timeoutMs?: number): Promise<ExecResult>;
  /** like run, but throws with the output unless it exits 0; returns the output */
  sh(script: string, timeoutMs?: number): Promise<string>;
  /** resolves with the boot id once a boot other than `not` has announced itself */
  waitBoot(not?: string, timeoutMs?: number): Promise<string>;
  /** the serial console so far */
  console(): string;
  /** ms from starting QEMU to the first boot's announcement */
  bootMs: number;
}

let seq = 0;

export async function bootGuest(t: Test, image: string, o: GuestOptions): Promise<Guest> {
  const dir = mkdtempSync(`/var/tmp/island-qemu-${o.name}-`);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const share = join(dir, 'share');
  await mustRun(['mkdir', share]);
  if (o.files?.length) await mustRun(['cp', ...o.files, share]);
  const consoleLog = join(dir, 'console.log');
  const append = [
    'root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 quiet',
    `iq.addr=${o.addr}`,
    ...(o.gw ? [`iq.gw=${o.gw}`] : []),
  ].join(' ');
  const args = [
    'netns',
    'exec',
    o.ns.name,
    'qemu-system-x86_64',
    ...['-accel', 'tcg', '-cpu', 'max', '-m', String(o.memMb ?? 768), '-smp', '1'],
    // no VGA, floppy, parallel port or CD-ROM: the guest kernel probes each one, slowly under TCG
    ...['-nodefaults', '-vga', 'none', '-display', 'none', '-monitor', 'none', '-serial', `file:${consoleLog}`],
    '-snapshot',
    ...['-kernel', join(image, 'vmlinuz'), '-initrd', join(image, 'initrd.img'), '-append', append],
    ...['-drive', `file=${join(image, 'root.img')},format=raw,if=virtio`],
    ...['-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`],
    ...['-device', `virtio-net-pci,netdev=n0,mac=${o.mac}`],
    ...['-virtfs', `local,path=${share},mount_tag=q,security_model=none,id=q`],
  ];
  const log = openSync(join(dir, 'qemu.log'), 'a');
  const t0 = Date.now();
  const qemu: ChildProcess = spawn('ip', args, { stdio: ['ignore', log, log] });
  // the namespace teardown kills it too; this covers a guest whose namespace outlives the test
  t.teardown(() => {
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
  });
  const consoleText = () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '');
  const tail = () =>
    `${o.name} console (last lines):\n${consoleText().split('\n').slice(-25).join('\n')}\nqemu: ${readFileSync(join(dir, 'qemu.log'), 'utf8').trim()}`;

  const boots = () =>
    readdirSync(share)
      .filter((f) => f.startsWith('ready.'))
      .map((f) => f.slice('ready.'.length));
  async function waitBoot(not?: string, timeoutMs = 120_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const b = boots().find((x) => x !== not);
      if (b) return b;
      if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}) before ${o.name} booted\n${tail()}`);
      if (Date.now() > end) throw new Error(`${o.name} did not boot within ${timeoutMs / 1000} s\n${tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function run(script: string, timeoutMs = 60_000): Promise<ExecResult> {
    const n = `${process.pid}-${++seq}`;
    // the agent picks up cmd.*: write under another name, then rename
    writeFileSync(join(share, `tmp-${n}`), script);
    renameSync(join(share, `tmp-${n}`), join(share, `cmd.${n}`));
    const end = Date.now() + timeoutMs;
    const rc = join(share, `rc.${n}`);
    while (!existsSync(rc)) {
      if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}) while ${o.name} ran: ${script}`);
      if (Date.now() > end) {
        const out = existsSync(join(share, `out.${n}`)) ? readFileSync(join(share, `out.${n}`), 'utf8') : '';
        return { stdout: out, stderr: `[test harness] no answer from ${o.name} after ${timeoutMs} ms`, code: -1 };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      stdout: readFileSync(join(share, `out.${n}`), 'utf8'),
      stderr: '',
      code: Number(readFileSync(rc, 'utf8')),
    };
  }

  await waitBoot(undefined, 300_000);
  const bootMs = Date.now() - t0;
  return {
    name: o.name,
    share,
    run,
    async sh(script, timeoutMs) {
      const r = await run(script, timeoutMs);
      if (r.code !== 0) throw new Error(`${o.name} (exit ${r.code}): ${script}\n${r.stdout}${r.stderr}`.trim());
      return r.stdout;
    },
    waitBoot,
    console: consoleText,
    bootMs,
  };
}
