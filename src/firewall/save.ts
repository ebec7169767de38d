/**
 * iptables-save text → tables of chains and rule specs. One read of the whole
 * table per check (not one process per rule): a flush anywhere shows up, and
 * reading stays cheap enough to poll.
 */
import { canonicalIp } from '../netlink/ip.js';
import { PROTOCOLS } from './iptables-rules.js';
import { FILTER } from './model.js';
import type { SavedTable } from './types.js';

/** Every table in the text: "filter" → its chains. Comments and counters are dropped. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = new Map();
      tables.set(line.slice(1), cur);
    } else if (line === 'COMMIT') {
      cur = undefined;
    } else if (cur && line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      cur.set(name, { policy, rules: [] });
    } else if (cur && line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const spec = sp < 0 ? '' : rest.slice(sp + 1);
      let c = cur.get(chain);
      if (!c) {
        c = { policy: '-', rules: [] };
        cur.set(chain, c);
      }
      c.rules.push(spec);
    }
  }
  return tables;
}

/** The filter table of one iptables-save run; empty when the text has none (e.g. after `nft flush ruleset`). */
export function filterTable(text: string): SavedTable {
  return parseSave(text).get(FILTER.name) ?? new Map();
}

/** Number of rules in every table of the text: what kubelet counts to tell the backends apart. */
export function ruleCount(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('-')) n++;
  return n;
}

/** The chain a rule jumps or goes to, if any. */
export function targetOf(spec: string): string | undefined {
  return /(?:^| )-[jg] (\S+)/.exec(spec)?.[1];
}

/** island spells these protocols by name (-p udp -m udp); every other one as its number */
const NAMED = new Set(['tcp', 'udp']);

/**
 * A rule spec in one spelling, so that island's rendering and what a given
 * iptables version prints compare equal: addresses in canonical text, and
 * a tunnel's protocol as a number (iptables-save names it from /etc/protocols:
 * 4 is "ipencap" on Debian, "ipv4" elsewhere, 4 without the file; 47 is "gre").
 */
export function normalize(spec: string): string {
  return spec
    .replace(/(^| )(-[sd]) ([0-9A-Fa-f.:]+)\/(\d+)(?= |$)/g, (all, pre, flag, addr, len) => {
      const c = canonicalIp(addr);
      return c === undefined ? all : `${pre}${flag} ${c}/${len}`;
    })
    .replace(/(^| )-p ([A-Za-z][\w-]*)(?= |$)/g, (all, pre, name: string) => {
      const n = PROTOCOLS[name.toLowerCase()];
      return n === undefined || NAMED.has(name.toLowerCase()) ? all : `${pre}-p ${n}`;
    });
}
