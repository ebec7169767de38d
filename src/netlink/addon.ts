/**
 * Which native addon node-netlink loads. The prebuilt one shipped in the npm
 * tarball aborts the process on a netlink receive overflow; island needs the
 * copy patched and built from source at install (scripts/build-native.mjs).
 * node-gyp-build silently falls back to the prebuild when that build is
 * missing, so the daemon checks and says so at start.
 */
import type { Socket } from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';

export function netlinkAddonPath(): string {
  const pkg = createRequire(import.meta.url).resolve('netlink/package.json');
  // resolved from netlink itself: the same node-gyp-build it loads with
  const gypBuild = createRequire(pkg)('node-gyp-build') as { path(dir: string): string };
  return gypBuild.path(dirname(pkg));
}

export function patchedAddonLoaded(): boolean {
  try {
    return netlinkAddonPath().includes(`${sep}build${sep}Release${sep}`);
  } catch {
    return false;
  }
}

/** What island's patch adds to the addon (patches/netlink+0.3.0.patch); absent from the prebuild. */
interface Addon {
  setsockoptInt?: (fd: number, level: number, name: number, value: number) => void;
  sendUnixDatagram?: (path: string, data: Buffer) => void;
  mallocTrim?: () => boolean;
  dropFilePages?: () => number;
}

/**
 * The addon node-netlink's sockets run on: its module in require's cache, where node-netlink's
 * load put it (finding its path again is node-gyp-build's directory scan, ~0.5 ms of a one-shot
 * apply), else loaded from that path.
 */
function loadedAddon(): Addon {
  const require = createRequire(import.meta.url);
  const loaded = Object.keys(require.cache).find((f) => f.endsWith('.node') && f.includes(`${sep}netlink${sep}`));
  return ((loaded && require.cache[loaded]?.exports) ?? require(netlinkAddonPath())) as Addon;
}

/** IP_MTU_DISCOVER / IPV6_MTU_DISCOVER and their PROBE value (linux/in.h, linux/in6.h). */
const MTU_DISCOVER = { 4: { level: 0, name: 10 }, 6: { level: 41, name: 23 } } as const;
const PMTUDISC_PROBE = 3;

/**
 * Don't fragment, and ignore the path MTU the kernel has cached, on a bound UDP socket: what a
 * path MTU probe needs (a probe the kernel fragments or refuses for a cached MTU proves nothing).
 * node's dgram has no setsockopt: the patched netlink addon exports one (patches/). Throws
 * with the reason when it cannot.
 */
export function setProbeDontFragment(sock: Socket, family: 4 | 6): void {
  const fd = socketFd(sock);
  if (fd === undefined) throw new Error('cannot find the socket descriptor');
  const { setsockoptInt } = loadedAddon();
  if (typeof setsockoptInt !== 'function') throw new Error('the netlink addon is not island-patched');
  const o = MTU_DISCOVER[family];
  setsockoptInt(fd, o.level, o.name, PMTUDISC_PROBE);
}

/**
 * One datagram to an AF_UNIX datagram socket, by path or as @abstract-name, from this process
 * (daemon/notify.ts: systemd's notify socket). Never blocks: a full queue throws EAGAIN. Throws
 * with the reason when it cannot send, or when the addon is not island's (patches/).
 */
export function sendUnixDatagram(path: string, data: Buffer): void {
  const { sendUnixDatagram } = loadedAddon();
  if (typeof sendUnixDatagram !== 'function') throw new Error('the netlink addon is not island-patched');
  sendUnixDatagram(path, data);
}

/**
 * glibc's malloc_trim(0): the free pages inside malloc's heaps go back to the system, not only
 * those above the top, which is all free() returns (memory.ts). False when nothing could be
 * given back or the addon is not island's.
 */
export function mallocTrim(): boolean {
  try {
    return loadedAddon().mallocTrim?.() ?? false;
  } catch {
    return false;
  }
}

/**
 * MADV_DONTNEED on the process' private read-only file mappings that hold no page of their own
 * (memory.ts): the kB they had resident, -1 when /proc/self/smaps cannot be read, 0 without the
 * island-patched addon.
 */
export function dropFilePages(): number {
  try {
    return loadedAddon().dropFilePages?.() ?? 0;
  } catch {
    return 0;
  }
}

/** SOL_NETLINK, NETLINK_GET_STRICT_CHK (linux/netlink.h) */
const SOL_NETLINK = 270;
const NETLINK_GET_STRICT_CHK = 12;

/**
 * Strict checking on one of this process's netlink sockets, known by its port: the kernel
 * then honours a dump request's filters (a route dump of one table and type) instead of
 * sending everything. False when it cannot be set (a kernel before 4.20, an addon without
 * setsockoptInt): the caller filters by itself.
 */
export function strictCheck(protocol: number, port: number): boolean {
  try {
    const fd = netlinkFd(protocol, port);
    if (fd === undefined) return false;
    const { setsockoptInt } = loadedAddon();
    if (typeof setsockoptInt !== 'function') return false;
    setsockoptInt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
    return true;
  } catch {
    return false;
  }
}

/**
 * The descriptor of this process's netlink socket of that protocol and port, which node-netlink
 * does not say: the one whose inode /proc/self/net/netlink gives for that port.
 */
export function netlinkFd(protocol: number, port: number): number | undefined {
  const row = readFileSync('/proc/self/net/netlink', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((c) => c[1] === String(protocol) && c[2] === String(port));
  const inode = row?.[9];
  if (!inode) return undefined;
  // the newest descriptor first: the socket was just opened, so it is the last or nearly (a
  // one-shot apply has ~20 open; a readlink each was ~1 ms of its route dump)
  return readdirSync('/proc/self/fd')
    .map(Number)
    .sort((a, b) => b - a)
    .find((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
}

/** A bound dgram socket's descriptor, read where node keeps it (`_handle` warns DEP0112). */
function socketFd(sock: Socket): number | undefined {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const fd = state && (sock as unknown as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
