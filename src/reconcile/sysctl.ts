import { readFile, writeFile } from 'node:fs/promises';
import { sameSysctl, sysctlName } from '../config/sysctl.js';

/**
 * net.* sysctls are per network namespace; /proc/sys/net always shows the
 * reader's own namespace, so island in a namespace configures that namespace.
 * Dots map to slashes and slashes to dots, as sysctl(8) does
 * (net.ipv4.conf.eth0/100.forwarding is net/ipv4/conf/eth0.100/forwarding); a
 * per-interface key may also name eth0.100 with its dot (config/sysctl.ts).
 */
export function sysctlPath(key: string): string {
  return `/proc/sys/${sysctlName(key).path}`;
}

/** As the kernel prints values back: vectors with tabs, compared word by word. */
export { sameSysctl };

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
