/**
 * A process' memory as /proc/PID/status counts it, shared by the memory test
 * (test/unit/memory.test.ts) and bench (bench/lib.mjs memory()). JavaScript: bench runs under
 * plain node.
 */
import { readFileSync } from 'node:fs';

/**
 * The named kB fields of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile...), by name; NaN for a
 * field the kernel does not print.
 * @template {string} K
 * @param {number | 'self'} pid
 * @param {readonly K[]} names
 * @returns {Record<K, number>}
 */
export function statusKb(pid, names) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const out = /** @type {Record<K, number>} */ ({});
  for (const k of names) out[k] = Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return out;
}
