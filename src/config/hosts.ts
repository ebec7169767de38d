/**
 * The [hosts] section: names island writes into /etc/hosts for the tunnel ends, e.g.
 * `"sopnode-tunnel" = "10.3.1.2"`. One name per key, in file order.
 */
import type { KeyPath } from './diagnostic.js';
import type { Reporter } from './report.js';
import { describe, ipAddress } from './schema.js';
import { isTable } from './sections.js';
import type { HostEntry } from './types.js';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123 host names: what every resolver reading /etc/hosts accepts. */
export function hostNameProblem(name: string): string | undefined {
  if (name === '') return 'a host name must not be empty';
  if (name.length > 253) return `"${name}" is ${name.length} characters long; host names are at most 253`;
  const bad = /[^A-Za-z0-9.-]/.exec(name);
  if (bad)
    return `"${name}" contains ${JSON.stringify(bad[0])}; host names use only letters, digits, "-" and "." between labels`;
  for (const label of name.split('.')) {
    if (label === '') return `"${name}" has an empty label (two dots in a row, or a dot at an end)`;
    if (label.length > 63) return `"${name}": the label "${label}" is longer than 63 characters`;
    if (!LABEL.test(label)) return `"${name}": a label cannot start or end with "-"`;
  }
  if (/^[0-9.]+$/.test(name)) return `"${name}" looks like an address; the key is the name, the value the address`;
  return undefined;
}

export function hosts(rep: Reporter, raw: Record<string, unknown>): HostEntry[] | undefined {
  const out: HostEntry[] = [];
  const seen = new Map<string, KeyPath>();
  let ok = true;
  for (const [name, value] of Object.entries(raw)) {
    const path = ['hosts', name];
    if (isTable(value)) {
      // `sopnode.tunnel = "10.3.1.2"` unquoted is a nested table in TOML, not a dotted name
      const [leaf, v] = firstLeaf(name, value);
      const shown = typeof v === 'string' ? ` = ${JSON.stringify(v)}` : '';
      rep.error(path, `quote a name that contains dots so they are not read as tables: "${leaf}"${shown}`, 'key');
      ok = false;
      continue;
    }
    const problem = hostNameProblem(name);
    if (problem) {
      rep.error(path, problem, 'key');
      ok = false;
    }
    const prev = seen.get(name.toLowerCase());
    if (prev) {
      rep.error(path, `"${name}" is named twice (first at line ${rep.line(prev)}; host names ignore case)`, 'key');
      ok = false;
    } else seen.set(name.toLowerCase(), path);
    if (typeof value !== 'string') {
      rep.error(path, `expected an address like "10.3.1.2", got ${describe(value)}`);
      ok = false;
      continue;
    }
    const r = ipAddress.safeParse(value);
    if (!r.success) {
      rep.error(path, r.error.issues[0]?.message ?? `"${value}" is not a valid IP address`);
      ok = false;
      continue;
    }
    if (!problem) out.push({ name, address: r.data });
  }
  return ok ? out : undefined;
}

function firstLeaf(prefix: string, table: Record<string, unknown>): [string, unknown] {
  for (const [k, v] of Object.entries(table)) {
    return isTable(v) ? firstLeaf(`${prefix}.${k}`, v) : [`${prefix}.${k}`, v];
  }
  return [prefix, undefined];
}
