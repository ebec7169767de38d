/**
 * Read this host once for the checks: the files they name (files.ts), the processes of this
 * network namespace, the units enabled at boot, the daemon lock, sysctls; and the kernel's
 * links, addresses, routes, firewall and vxlan offload (kernel.ts, over netlink). What cannot
 * be read (not root, no nf_tables) is noted, never thrown.
 */
import { accessSync, constants, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sysctlPath } from '../config/sysctl.js';
import type { Config } from '../config/types.js';
import { askHolder } from '../daemon/lock.js';
import { errnoText, RCU_DIR } from '../daemon/rcu.js';
import { isIslandDaemon } from './daemon.js';
import { DIRS, FILES } from './files.js';
import { offloadAcrossNat } from './nat.js';
import { NETWORKD_COMM } from './networkd.js';
import { NM_COMM } from './networkmanager.js';
import { FIREWALLD_COMM } from './services.js';
import type { DoctorFacts, Proc } from './types.js';

// The host is read with synchronous calls: hundreds of small /proc files, each a few
// microseconds, where a promise per call (a thread-pool round trip each for open, stat, read
// and close) cost ten times the CPU of `island check`'s whole host read.

const MAX_FILE = 1 << 20;
const LOCK = / @island\/daemon@*$/;

export const why = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : ((e as Error).message ?? String(e));
};

function readText(path: string): string | undefined {
  try {
    // most of the files the checks name are absent: no exception made for each (~30 us)
    const s = statSync(path, { throwIfNoEntry: false });
    if (!s?.isFile() || s.size > MAX_FILE) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function files(unread: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const paths = [...FILES];
  for (const dir of DIRS) {
    try {
      if (!statSync(dir, { throwIfNoEntry: false })) continue;
      for (const e of readdirSync(dir)) paths.push(join(dir, e));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') unread.push(`${dir}: ${why(e)}`);
    }
  }
  for (const p of paths) {
    const t = readText(p);
    if (t !== undefined) out.set(p, t);
  }
  return out;
}

/** The programs the checks look for by name: systemd-networkd, NetworkManager, firewalld */
const NAMED = new Set([NETWORKD_COMM, NM_COMM, FIREWALLD_COMM]);
/**
 * The name of a process that may be an island daemon: node's (node, nodejs, ...), or the
 * script's when its shebang names node itself (`#!/usr/bin/node`: cli.js, island)
 */
const MAYBE_ISLAND = /node|island|cli\.c?js/;

/**
 * The processes of this network namespace that a check looks for: named ones, island daemons.
 * Every process's name is read, its command line only when the name may be island's (a host
 * runs hundreds of processes, and check runs on every reload: ~10 us each), and its namespace
 * last, for these few only.
 */
function processes(unread: string[]): Proc[] {
  const mine = readlinkSync('/proc/self/ns/net');
  const out: Proc[] = [];
  let hidden = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (!NAMED.has(comm) && !MAYBE_ISLAND.test(comm)) continue;
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      const p = { pid: Number(d), comm, argv: cmdline.split('\0').filter(Boolean) };
      if (!NAMED.has(comm) && !isIslandDaemon(p)) continue;
      if (readlinkSync(`/proc/${d}/ns/net`) !== mine) continue;
      out.push(p);
    } catch (e) {
      // gone meanwhile, or another user's (not root)
      if ((e as NodeJS.ErrnoException).code === 'EACCES') hidden++;
    }
  }
  // root reads every process but a sandbox's own init, now and then
  if (hidden && process.getuid?.() !== 0) unread.push(`${hidden} processes of other users: permission denied`);
  return out.sort((a, b) => a.pid - b.pid);
}

/** Units enabled at boot: the symlinks of /etc/systemd/system/*.wants. */
function enabledUnits(): Set<string> {
  const out = new Set<string>();
  const base = '/etc/systemd/system';
  try {
    for (const d of readdirSync(base)) {
      if (!d.endsWith('.wants')) continue;
      try {
        for (const u of readdirSync(join(base, d))) out.add(u);
      } catch {
        // not a directory after all
      }
    }
  } catch {
    // no systemd
  }
  return out;
}

async function lock(): Promise<DoctorFacts['lock']> {
  // the unix sockets of this network namespace; node binds an abstract name with the whole of
  // sun_path, the rest NULs, which the kernel prints as @ too
  const unix = readFileSync('/proc/net/unix', 'utf8');
  // a host's thousands of sockets, line by line, only when the name is there at all
  const held = unix.includes(' @island/daemon') && unix.split('\n').some((l) => LOCK.test(l.trim()));
  if (!held) return { held: false };
  const holder = await askHolder();
  return holder ? { held, holder } : { held };
}

export interface GatherOptions {
  /**
   * `island check`, run on every reload: only the facts a check could find something in, and
   * no netlink unless one could. Links, addresses and routes are read when strict rp_filter is
   * set somewhere or NetworkManager runs, TX checksum offload when a tunnel across a NAT leaves
   * it to the kernel; the firewall (every table, and iptables programs) is island doctor's alone.
   */
  frugal?: boolean;
}

/**
 * net.ipv4.conf.*.rp_filter of this namespace, from /proc/sys: every link's, all and default, a
 * file each (~15 us; kernel.ts reads them in one netlink dump where it reads the kernel anyway).
 * Synchronous: a promise per link (a thread-pool round trip each for open, stat, read and close)
 * was ~150 ms CPU in a namespace of 500 tunnels.
 */
export function rpFilters(only?: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  let names = only ?? [];
  try {
    names = only ?? readdirSync('/proc/sys/net/ipv4/conf');
  } catch {
    // no IPv4
  }
  for (const n of names) {
    try {
      out[`net.ipv4.conf.${n}.rp_filter`] = readFileSync(`/proc/sys/net/ipv4/conf/${n}/rp_filter`, 'utf8').trim();
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const RP_ALL = 'net.ipv4.conf.all.rp_filter';

/** conf.all loose (2) makes every link loose: the kernel takes the larger of all's mode and the link's. */
const everyLinkLoose = (sysctl: Record<string, string>, cfg: Config) =>
  Number(cfg.sysctl[RP_ALL] ?? sysctl[RP_ALL]) > 1;

/** Only strict mode (1) drops: without it on any link, in the file or on the host, no route needs looking up. */
export function strictSomewhere(sysctl: Record<string, string>, cfg: Config): boolean {
  if (everyLinkLoose(sysctl, cfg)) return false;
  return Object.entries({ ...sysctl, ...cfg.sysctl }).some(([k, v]) => k.endsWith('rp_filter') && Number(v) === 1);
}

/**
 * Whether a check could find something in links, addresses, routes or link features, and the
 * rp_filter values read to tell when they are every link's (a file each, hundreds on a hub):
 * read only when nothing cheaper said (conf.all's and default's, the file's [sysctl],
 * NetworkManager, a NAT).
 */
function kernelNeeded(config: Config | undefined, procs: Proc[]): { needed: boolean; rp?: Record<string, string> } {
  const base = rpFilters(['all', 'default']);
  if (!config) return { needed: false, rp: base };
  const nm = procs.some((p) => p.comm === NM_COMM);
  // the kernel's offload is a finding's only across a NAT
  if (nm || strictSomewhere(base, config) || offloadAcrossNat(config).size > 0) return { needed: true };
  if (everyLinkLoose(base, config)) return { needed: false, rp: base };
  const rp = rpFilters();
  return { needed: strictSomewhere(rp, config), rp };
}

/** Whether the daemon could keep rcu_expedited at 1: asked only when the file sets the key. */
function rcu(): NonNullable<DoctorFacts['rcu']> {
  const normal = readText(`${RCU_DIR}/rcu_normal`)?.trim();
  const out: NonNullable<DoctorFacts['rcu']> = normal === undefined ? {} : { normal };
  try {
    // W_OK answers EROFS for a read-only /sys (a container's) without writing
    accessSync(`${RCU_DIR}/rcu_expedited`, constants.W_OK);
  } catch (e) {
    out.unwritable = errnoText(e);
  }
  return out;
}

export async function gatherFacts(config: Config | undefined, opts: GatherOptions = {}): Promise<DoctorFacts> {
  const unread: string[] = [];
  const fs = files(unread);
  const procs = processes(unread);
  const enabled = enabledUnits();
  const lk = await lock().catch((e) => {
    unread.push(`the daemon lock: ${why(e)}`);
    return undefined;
  });
  const host = {
    ...(config ? { config } : {}),
    processes: procs,
    self: process.pid,
    files: fs,
    enabled,
    ...(lk ? { lock: lk } : {}),
    ...(config?.daemon.rcuExpedited ? { rcu: rcu() } : {}),
    unread,
  };
  const need = opts.frugal ? kernelNeeded(config, procs) : undefined;
  if (need && !need.needed) {
    const rp = need.rp ?? {};
    const forward = readText(sysctlPath('net.ipv4.ip_forward'))?.trim();
    const sysctl = forward === undefined ? rp : { ...rp, 'net.ipv4.ip_forward': forward };
    return { ...host, links: [], addresses: [], routes: [], sysctl, txChecksum: new Map() };
  }
  const { kernelFacts } = await import('./kernel.js');
  const rpFilter = need?.rp;
  return {
    ...host,
    ...(await kernelFacts(config, unread, { firewall: !opts.frugal, ...(rpFilter ? { rpFilter } : {}) })),
  };
}
