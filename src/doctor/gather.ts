/**
 * Read this host once for the checks: the files they name (files.ts), the processes of this
 * network namespace, the units enabled at boot, links, addresses, routes, sysctls, the firewall
 * as island's own firewall code reads it (observe.ts, diff.ts), vxlan offload over the ethtool
 * family, the daemon lock. What cannot be read (not root, no nf_tables) is noted, never thrown.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { askHolder } from '../daemon/lock.js';
import { desiredState } from '../desired.js';
import { planFirewall } from '../firewall/diff.js';
import { findKind } from '../kinds/index.js';
import { Ethtool } from '../netlink/ethtool.js';
import { Rtnl } from '../netlink/rtnl.js';
import { isDropId } from '../reconcile/object.js';
import { observe } from '../reconcile/observe.js';
import { readSysctl } from '../reconcile/sysctl.js';
import { DIRS, FILES } from './files.js';
import type { DoctorFacts, Proc } from './types.js';

const MAX_FILE = 1 << 20;
const LOCK = '@island/daemon';

const why = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' ? 'permission denied' : ((e as Error).message ?? String(e));
};

async function readText(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile() || s.size > MAX_FILE) return undefined;
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function files(unread: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const paths = [...FILES];
  for (const dir of DIRS) {
    try {
      for (const e of await readdir(dir)) paths.push(join(dir, e));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') unread.push(`${dir}: ${why(e)}`);
    }
  }
  await Promise.all(
    paths.map(async (p) => {
      const t = await readText(p);
      if (t !== undefined) out.set(p, t);
    }),
  );
  return out;
}

/** The processes whose network namespace is this one's. */
async function processes(unread: string[]): Promise<Proc[]> {
  const mine = await readlink('/proc/self/ns/net');
  const out: Proc[] = [];
  let hidden = 0;
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  await Promise.all(
    pids.map(async (d) => {
      try {
        if ((await readlink(`/proc/${d}/ns/net`)) !== mine) return;
        const [comm, cmdline] = await Promise.all([
          readFile(`/proc/${d}/comm`, 'utf8'),
          readFile(`/proc/${d}/cmdline`, 'utf8'),
        ]);
        out.push({ pid: Number(d), comm: comm.trim(), argv: cmdline.split('\0').filter(Boolean) });
      } catch (e) {
        // gone meanwhile, or another user's (not root)
        if ((e as NodeJS.ErrnoException).code === 'EACCES') hidden++;
      }
    }),
  );
  // root reads every process but a sandbox's own init, now and then
  if (hidden && process.getuid?.() !== 0) unread.push(`${hidden} processes of other users: permission denied`);
  return out.sort((a, b) => a.pid - b.pid);
}

/** Units enabled at boot: the symlinks of /etc/systemd/system/*.wants. */
async function enabledUnits(): Promise<Set<string>> {
  const out = new Set<string>();
  const base = '/etc/systemd/system';
  try {
    for (const d of await readdir(base))
      if (d.endsWith('.wants')) for (const u of await readdir(join(base, d)).catch(() => [])) out.add(u);
  } catch {
    // no systemd
  }
  return out;
}

async function lock(): Promise<DoctorFacts['lock']> {
  // the unix sockets of this network namespace; node binds an abstract name with the whole of
  // sun_path, the rest NULs, which the kernel prints as @ too
  const unix = await readFile('/proc/net/unix', 'utf8');
  const held = unix.split('\n').some((l) => new RegExp(` ${LOCK}@*$`).test(l.trim()));
  if (!held) return { held: false };
  const holder = await askHolder();
  return holder ? { held, holder } : { held };
}

export async function gatherFacts(config: Config | undefined): Promise<DoctorFacts> {
  const unread: string[] = [];
  const want = config ? desiredState(config) : undefined;
  const [fs, procs, enabled, lk] = await Promise.all([
    files(unread),
    processes(unread),
    enabledUnits(),
    lock().catch((e) => {
      unread.push(`the daemon lock: ${why(e)}`);
      return undefined;
    }),
  ]);
  const rtnl = new Rtnl();
  const ethtool = new Ethtool();
  try {
    const keys = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter'];
    const live = await observe(rtnl, keys, want?.firewall);
    const sysctl: Record<string, string> = {};
    for (const [k, v] of Object.entries(live.sysctls)) if (v !== undefined) sysctl[k] = v;
    for (const l of live.links) {
      const v = await readSysctl(`net.ipv4.conf.${l.name}.rp_filter`);
      if (v !== undefined) sysctl[`net.ipv4.conf.${l.name}.rp_filter`] = v;
    }
    const txChecksum = new Map<string, boolean>();
    const offloads = live.links.filter((l) => findKind(l.kind)?.features !== undefined);
    if (offloads.length) {
      try {
        const feats = await ethtool.features(['tx-checksum-ip-generic']);
        for (const l of offloads) {
          const on = feats.get(l.ifindex)?.['tx-checksum-ip-generic'];
          if (on !== undefined) txChecksum.set(l.name, on);
        }
      } catch (e) {
        unread.push(`TX checksum offload: ${why(e)}`);
      }
    }
    const firewall =
      want && live.firewall
        ? { status: planFirewall(want.firewall, live.firewall).status, live: live.firewall }
        : undefined;
    // a table that could not be read; what drops island's traffic is a finding of its own
    for (const s of firewall?.status ?? [])
      if (s.state === 'blocked' && !isDropId(s.id)) unread.push(`${s.object}: ${s.detail}`);
    return {
      ...(config ? { config } : {}),
      processes: procs,
      self: process.pid,
      files: fs,
      enabled,
      links: live.links.map((l) => ({
        ifindex: l.ifindex,
        name: l.name,
        ...(l.kind ? { kind: l.kind } : {}),
        owned: l.owned,
      })),
      addresses: live.addresses,
      routes: live.routes,
      sysctl,
      txChecksum,
      ...(firewall ? { firewall } : {}),
      ...(lk ? { lock: lk } : {}),
      unread,
    };
  } finally {
    rtnl.close();
    ethtool.close();
  }
}
