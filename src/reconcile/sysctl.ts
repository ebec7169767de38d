import { readFile, writeFile } from 'node:fs/promises';

/**
 * net.* sysctls are per network namespace; /proc/sys/net always shows the
 * reader's own namespace, so island in a namespace configures that namespace.
 * Dots map to slashes (as sysctl(8) does); an interface name with a dot must
 * be written with slashes in the file instead.
 */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.includes('/') ? key : key.replaceAll('.', '/')}`;
}

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
