import { readFile, writeFile } from 'node:fs/promises';
import { sameSysctl, sysctlPath } from '../config/sysctl.js';

/**
 * As the kernel prints values back: vectors with tabs, compared word by word; and the file of a
 * key, which lives with the names so that the doctor reads it without node:fs/promises.
 */
export { sameSysctl, sysctlPath };

export async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(sysctlPath(key), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  await writeFile(sysctlPath(key), `${value}\n`);
}
