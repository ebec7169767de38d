/**
 * Keeps island's block of /etc/hosts equal to [hosts]: level-triggered like everything else
 * (every daemon pass reads the file, a write happens only when it differs), written atomically,
 * and handed to island-hosts.service when the daemon's sandbox keeps /etc read-only.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { hostNameProblem } from '../config/hosts.js';
import type { HostEntry } from '../config/types.js';
import { hostsSpoolPath } from '../control/paths.js';
import { named, type ObjectStatus } from '../reconcile/object.js';
import { findBlock, HostsFileError, sameEntries, shadowed, withBlock } from './block.js';
import { readTextOrEmpty, replaceFile } from './file.js';

export function hostsFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.ISLAND_HOSTS_FILE || '/etc/hosts';
}

const entryText = (e: HostEntry) => `${e.name} ${e.address}`;

/** "add a 10.3.1.2, remove b 10.3.1.9", for logs and `island plan`. */
export function describeChange(from: HostEntry[], to: HostEntry[]): string {
  const key = (e: HostEntry) => `${e.name}\t${e.address}`;
  const before = new Set(from.map(key));
  const after = new Set(to.map(key));
  const parts = [
    ...to.filter((e) => !before.has(key(e))).map((e) => `add ${entryText(e)}`),
    ...from.filter((e) => !after.has(key(e))).map((e) => `remove ${entryText(e)}`),
  ];
  return parts.length ? parts.join(', ') : 'reorder';
}

export interface HostsChange {
  path: string;
  from: HostEntry[];
  to: HostEntry[];
}

/** What a sync would change, undefined when the file already says it. Throws HostsFileError. */
export async function planHosts(entries: HostEntry[], path = hostsFilePath()): Promise<HostsChange | undefined> {
  const { text } = await readTextOrEmpty(path);
  const from = findBlock(text, path)?.entries ?? [];
  if (withBlock(text, entries, path) === text) return undefined;
  return { path, from, to: entries };
}

/** Make the file's block say `entries`; returns what changed (undefined: nothing to do). */
export async function syncHosts(entries: HostEntry[], path = hostsFilePath()): Promise<HostsChange | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const { text, exists } = await readTextOrEmpty(path);
    const next = withBlock(text, entries, path);
    if (next === text || (!exists && !entries.length)) return undefined;
    const from = findBlock(text, path)?.entries ?? [];
    // another writer (an editor, a config manager) changed the file since we read it: read again
    if (await replaceFile(path, next, text)) return { path, from, to: entries };
  }
  throw new Error(`${path}: changed by another writer three times during the update; trying again later`);
}

/** `island status`: one row for the file, when island has names there or should have. */
export async function hostsStatus(entries: HostEntry[], path = hostsFilePath()): Promise<ObjectStatus | undefined> {
  const id = named({ type: 'hosts', path });
  let text: string;
  try {
    text = (await readTextOrEmpty(path)).text;
  } catch (e) {
    return { ...id, state: 'blocked', detail: (e as Error).message };
  }
  let have: HostEntry[] | undefined;
  try {
    have = findBlock(text, path)?.entries;
  } catch (e) {
    return { ...id, state: 'blocked', detail: (e as Error).message };
  }
  if (!entries.length) return have ? { ...id, state: 'stale', detail: `${have.length} name(s) to remove` } : undefined;
  const hidden = shadowed(text, entries).map((s) => `${s.name} is also on line ${s.line}, which resolvers read first`);
  const names = `${entries.length} name${entries.length === 1 ? '' : 's'}`;
  if (!have) return { ...id, state: 'missing', detail: [names, ...hidden].join('; ') };
  if (!sameEntries(have, entries))
    return { ...id, state: 'drifted', detail: [describeChange(have, entries), ...hidden].join('; ') };
  return { ...id, state: 'ok', detail: [names, ...hidden].join('; ') };
}

/** The names as island-hosts.service reads them from the spool file; throws on anything else. */
export function parseSpool(text: string): HostEntry[] {
  const v = JSON.parse(text) as { entries?: unknown };
  if (!Array.isArray(v.entries)) throw new Error('no "entries" list');
  return v.entries.map((e: unknown) => {
    const { name, address } = (e ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || hostNameProblem(name)) throw new Error(`bad name ${JSON.stringify(name)}`);
    if (typeof address !== 'string' || !isIP(address)) throw new Error(`bad address ${JSON.stringify(address)}`);
    return { name, address };
  });
}

export async function readSpool(path = hostsSpoolPath()): Promise<HostEntry[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseSpool(text);
}

const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM']);
/** a handed-over spool is rewritten at most this often while /etc/hosts still differs */
const HANDOFF_RETRY_MS = 30_000;

/** The daemon's side: one sync per pass, each distinct problem logged once. */
export class HostsKeeper {
  private problem?: string;
  private handed?: { key: string; at: number };

  constructor(
    private readonly log: Logger,
    readonly path = hostsFilePath(),
    private readonly spool = hostsSpoolPath(),
  ) {}

  async sync(entries: HostEntry[]): Promise<void> {
    try {
      const change = await syncHosts(entries, this.path);
      if (change) this.log.info({ hosts: this.path }, `hosts ${this.path}: ${describeChange(change.from, change.to)}`);
      this.handed = undefined;
      this.report(undefined);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code && READ_ONLY.has(code)) return this.handOff(entries, code);
      if (code === 'EBUSY')
        return this.report(
          `hosts ${this.path}: a mount point (bind-mounted, as in a container): it cannot be replaced atomically; names not written`,
        );
      this.report(
        e instanceof HostsFileError ? e.message : `hosts ${this.path}: ${(e as Error).message}; names not written`,
      );
    }
  }

  /**
   * ProtectSystem=strict keeps /etc read-only for the daemon, and a rename needs the directory
   * writable: the names go to the spool file, whose change starts island-hosts.service, a
   * separate unit without network privileges that may write /etc.
   */
  private async handOff(entries: HostEntry[], code: string): Promise<void> {
    const key = JSON.stringify({ entries });
    const now = Date.now();
    if (this.handed && this.handed.key === key && now - this.handed.at < HANDOFF_RETRY_MS) return;
    try {
      await replaceFile(this.spool, `${key}\n`, undefined, 0o644);
      const first = this.handed?.key !== key;
      this.handed = { key, at: now };
      // a retry of the same names is not news
      if (first)
        this.log.info(
          { hosts: this.path, spool: this.spool },
          `hosts ${this.path}: read-only here (${code}); handed the names to island-hosts.service through ${this.spool}`,
        );
      this.report(undefined);
    } catch (e) {
      this.report(
        `hosts ${this.path}: read-only (${code}), and ${this.spool}: ${(e as Error).message}; names not written`,
      );
    }
  }

  private report(problem: string | undefined): void {
    if (problem === this.problem) return;
    if (problem) this.log.error({ hosts: this.path }, problem);
    else if (this.problem) this.log.info({ hosts: this.path }, `hosts ${this.path}: island's names are in place again`);
    this.problem = problem;
  }
}
