/**
 * The configuration files the checks read, and how their programs read them: systemd's
 * main-file-plus-drop-ins (networkd.conf), plain KEY=VALUE (firewalld.conf, ufw.conf), GLib
 * keyfiles (NetworkManager), sysctl.d. Pure: `files` is path → text of those that exist.
 */
import { basename, dirname } from 'node:path';

/** Where systemd looks, most important first (systemd.syntax(7), "Configuration Directories"). */
const SYSTEMD_DIRS = ['/etc/systemd', '/run/systemd', '/usr/local/lib/systemd', '/usr/lib/systemd'];
export const NETWORKD_CONF = SYSTEMD_DIRS.map((d) => `${d}/networkd.conf`);
export const NETWORKD_DROPINS = SYSTEMD_DIRS.map((d) => `${d}/networkd.conf.d`);
export const FIREWALLD_CONF = ['/etc/firewalld/firewalld.conf', '/usr/lib/firewalld/firewalld.conf'];
export const NFTABLES_CONF = '/etc/nftables.conf';
export const UFW_CONF = '/etc/ufw/ufw.conf';
export const NM_CONF = '/etc/NetworkManager/NetworkManager.conf';
export const NM_DROPINS = [
  '/etc/NetworkManager/conf.d',
  '/run/NetworkManager/conf.d',
  '/usr/lib/NetworkManager/conf.d',
];
/** NetworkManager's per-device run state, one keyfile per ifindex (nm-config.c) */
export const NM_DEVICES = '/run/NetworkManager/devices';
export const SYSCTL_CONF = '/etc/sysctl.conf';
export const SYSCTL_DIRS = [
  '/etc/sysctl.d',
  '/run/sysctl.d',
  '/usr/local/lib/sysctl.d',
  '/usr/lib/sysctl.d',
  '/lib/sysctl.d',
];

/** Single files the checks read (directories: DIRS). */
export const FILES = [...NETWORKD_CONF, ...FIREWALLD_CONF, NFTABLES_CONF, UFW_CONF, NM_CONF, SYSCTL_CONF];
/** Directories whose every file the checks read. */
export const DIRS = [...NETWORKD_DROPINS, ...NM_DROPINS, NM_DEVICES, ...SYSCTL_DIRS];

export interface Assignment {
  path: string;
  /** 1-based */
  line: number;
  /** [Section] the key is in, "" before any */
  section: string;
  key: string;
  value: string;
}

/** KEY=VALUE lines (with [Section] headers) of one file; # and ; start comments. */
export function assignments(path: string, text: string): Assignment[] {
  const out: Assignment[] = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) return;
    out.push({ path, line: i + 1, section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  });
  return out;
}

/** The files of these directories, in the order their program applies them: by name, the first directory's winning a name. */
export function dropins(files: ReadonlyMap<string, string>, dirs: string[], suffix = '.conf'): string[] {
  const byName = new Map<string, string>();
  for (const dir of dirs)
    for (const p of files.keys())
      if (dirname(p) === dir && p.endsWith(suffix) && !byName.has(basename(p))) byName.set(basename(p), p);
  return [...byName.keys()].sort().map((n) => byName.get(n) as string);
}

/** systemd's reading: the first main file found, then every drop-in; the last assignment wins. */
export function systemdSetting(
  files: ReadonlyMap<string, string>,
  main: string[],
  dirs: string[],
  section: string,
  key: string,
): Assignment | undefined {
  const first = main.find((p) => files.has(p));
  const order = [...(first ? [first] : []), ...dropins(files, dirs)];
  let last: Assignment | undefined;
  for (const p of order)
    for (const a of assignments(p, files.get(p) ?? '')) if (a.section === section && a.key === key) last = a;
  return last;
}

/** systemd's booleans (parse_boolean()); undefined for anything else */
export function parseBoolean(v: string): boolean | undefined {
  const s = v.toLowerCase();
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(s)) return true;
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(s)) return false;
  return undefined;
}

/** "/etc/x.conf:3" */
export const at = (a: { path: string; line: number }) => `${a.path}:${a.line}`;
