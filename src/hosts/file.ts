/**
 * Replacing a file so that a crash at any moment leaves either the old or the new one, whole:
 * write a temporary file in the same directory, fsync it, rename it over the file (atomic
 * within one filesystem), fsync the directory so the rename itself is on disk. Readers never
 * see a truncated file, unlike an in-place rewrite, which empties the file before refilling it.
 */
import type { Stats } from 'node:fs';
import { constants, readFileSync } from 'node:fs';
import { lstat, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from '../random.js';

const TEMP_MARK = '.island-';
/** temporaries older than this are left over from a writer killed mid-way */
const STALE_MS = 60_000;

/**
 * Read at once: /etc/hosts is a few kilobytes, and a promise read (open, stat, read, close on
 * libuv's threads, which it starts) is what a one-shot apply that changes nothing there did last.
 */
export async function readTextOrEmpty(path: string): Promise<{ text: string; exists: boolean }> {
  try {
    return { text: readFileSync(path, 'utf8'), exists: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', exists: false };
    throw e;
  }
}

/**
 * Atomically replace `path` with `text`, keeping its mode and owner (0644 root for a new file).
 * `expect`: the content this write was computed from; when the file changed meanwhile (another
 * writer), nothing is written and false is returned, so the caller can recompute.
 */
export async function replaceFile(path: string, text: string, expect?: string, mode = 0o644): Promise<boolean> {
  const dir = dirname(path);
  const base = basename(path);
  let st: Stats | undefined;
  try {
    st = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await removeStale(dir, base);
  const tmp = join(dir, `.${base}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, st ? st.mode & 0o7777 : mode);
  try {
    try {
      await fh.writeFile(text);
      // the mode given to open() went through the umask; the file's own must survive
      await fh.chmod(st ? st.mode & 0o7777 : mode);
      if (st && (st.uid !== process.geteuid?.() || st.gid !== process.getegid?.())) await fh.chown(st.uid, st.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (expect !== undefined) {
      const now = await readTextOrEmpty(path);
      if (now.text !== expect) {
        await unlink(tmp);
        return false;
      }
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dir);
  return true;
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Temporaries of writers that were killed between creating and renaming them. */
async function removeStale(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const prefix = `.${base}${TEMP_MARK}`;
  for (const n of names.filter((x) => x.startsWith(prefix))) {
    const p = join(dir, n);
    try {
      const s = await lstat(p);
      if (s.isFile() && Date.now() - s.mtimeMs > STALE_MS) await unlink(p);
    } catch {
      // gone already
    }
  }
}
