/**
 * Reload when the file changes on disk. The directory is watched, not the file: editors and
 * config managers write a temporary file and rename it over the old one, which replaces the
 * inode a file watch would be attached to. A burst of events (temp file, rename, chmod)
 * becomes one reload after a quiet spell.
 */
import { basename, dirname, resolve } from 'node:path';
import { watch } from 'chokidar';
import { RELOAD_SETTLE_MS } from '../config/defaults.js';

export interface ConfigWatch {
  close(): Promise<void>;
}

/** Resolves once the watch is in place: a change after that is seen. */
export async function watchConfigFile(
  path: string,
  onChange: () => void,
  onError: (err: Error) => void,
  debounceMs = RELOAD_SETTLE_MS,
): Promise<ConfigWatch> {
  const file = resolve(path);
  const dir = dirname(file);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, {
    depth: 0,
    ignoreInitial: true,
    // only the file itself: /etc holds hundreds of entries island has no business with
    ignored: (p: string) => p !== dir && basename(p) !== basename(file),
  });
  const fire = (p: string) => {
    if (resolve(p) !== file) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  watcher.on('add', fire).on('change', fire).on('unlink', fire);
  watcher.on('error', (e) => onError(e as Error));
  await new Promise<void>((res) => watcher.once('ready', res));
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
