/**
 * iptables-save rule specs → rules the verdict walk reads (verdict.ts). Pure.
 *
 * Read: -s/-d (addresses and networks), -i/-o (with the + wildcard), -p, --dport/--dports
 * (udp, tcp, multiport), conntrack's --ctstate and state's --state, addrtype's --dst-type,
 * each with its "!", and the targets ACCEPT, DROP, REJECT, RETURN, jumps and gotos. Any other
 * match (marks, rates, sets, owners, ...) is unknown: the rule may match. Targets that decide
 * nothing (LOG, MARK, ...) let the next rule follow; a queue to a program may do anything.
 */
import { canonicalIp, cidrRange, familyOf } from '../netlink/ip.js';
import type { Flow, SavedTable } from './types.js';
import { type Chain, type Match, negate, type Rule, type Verdict } from './verdict.js';

/** IP protocols by the names iptables-save gives them (from /etc/protocols, which differs between distributions). */
export const PROTOCOLS: Record<string, number> = {
  all: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  ipencap: 4,
  ipv4: 4,
  'ip-encap': 4,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  icmpv6: 58,
  sctp: 132,
};

/** Targets that decide nothing: the packet goes on to the next rule. */
const NON_TERMINAL = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'MARK',
  'CONNMARK',
  'CT',
  'NOTRACK',
  'TRACE',
  'AUDIT',
  'CHECKSUM',
  'TCPMSS',
  'DSCP',
  'TOS',
  'TTL',
  'HL',
  'CLASSIFY',
  'SET',
  'CONNSECMARK',
  'SECMARK',
  'IDLETIMER',
  'LED',
  'RATEEST',
  'TEE',
]);

/** Split a spec as iptables-save quotes it: "a b" is one word. */
export function words(spec: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(spec); m; m = re.exec(spec))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return out;
}

type Cond = (f: Flow) => Match;

/** Whether the flow's address (a prefix, or unknown) lies in `net`. */
function inNet(net: string, get: (f: Flow) => Flow['saddr']): Cond | undefined {
  const [addr = '', len] = net.split('/');
  const family = familyOf(addr);
  if (family === undefined) return undefined;
  const bits = len === undefined ? (family === 6 ? 128 : 32) : Number(len);
  const [lo, hi] = cidrRange(canonicalIp(addr) ?? addr, bits);
  return (f) => {
    if (f.family !== family) return 'no';
    const a = get(f);
    if (!a) return 'maybe';
    const [flo, fhi] = cidrRange(a.address, a.prefixlen);
    if (flo >= lo && fhi <= hi) return 'yes';
    return fhi < lo || flo > hi ? 'no' : 'maybe';
  };
}

function ifname(pattern: string, get: (f: Flow) => string | undefined): Cond {
  const wild = pattern.endsWith('+');
  const stem = wild ? pattern.slice(0, -1) : pattern;
  return (f) => {
    const n = get(f);
    if (n === undefined) return 'maybe';
    return (wild ? n.startsWith(stem) : n === stem) ? 'yes' : 'no';
  };
}

/** "4789", "1000:2000", "22,80,1000:2000" */
function ports(list: string): Cond {
  const ranges = list.split(',').map((p) => {
    const [a = '', b] = p.split(':');
    return [Number(a || 0), Number(b === undefined ? a : b || 65535)] as const;
  });
  return (f) => {
    if (f.dport === undefined) return 'maybe';
    return ranges.some(([a, b]) => (f.dport as number) >= a && (f.dport as number) <= b) ? 'yes' : 'no';
  };
}

const isMulticast = (f: Flow) =>
  f.daddr !== undefined &&
  (f.family === 6 ? f.daddr.address.toLowerCase().startsWith('ff') : Number(f.daddr.address.split('.')[0]) >= 224);

function addrtype(types: string): Cond {
  const list = types.split(',');
  return (f) => {
    // delivered locally: to one of this host's addresses, or to a group it joined; forwarded: to neither
    const local = f.hook === 'input' ? (f.daddr ? !isMulticast(f) : undefined) : false;
    const multicast = f.hook === 'input' ? (f.daddr ? isMulticast(f) : undefined) : undefined;
    const ms = list.map((t): Match => {
      const v =
        t === 'LOCAL' ? local : t === 'MULTICAST' ? multicast : t === 'BROADCAST' && f.daddr ? false : undefined;
      return v === undefined ? 'maybe' : v ? 'yes' : 'no';
    });
    return ms.includes('yes') ? 'yes' : ms.every((m) => m === 'no') ? 'no' : 'maybe';
  };
}

function ctstate(states: string): Cond {
  const list = states.split(',');
  // island's flows are a connection's first packet, unless said
  return (f) => {
    if (list.includes(f.ct === 'established' ? 'ESTABLISHED' : 'NEW')) return 'yes';
    return list.some((s) => s === 'SNAT' || s === 'DNAT') ? 'maybe' : 'no';
  };
}

/** One rule spec (the text after "-A CHAIN "); `chains` tells a jump to a chain from an unknown target. */
export function iptablesRule(spec: string, chains: ReadonlySet<string>): Rule {
  const w = words(spec);
  const conds: Cond[] = [];
  let verdict: Verdict = { kind: 'continue' };
  let neg = false;
  const add = (c: Cond | undefined) => {
    const n = neg;
    conds.push(c ? (n ? (f) => negate(c(f)) : c) : () => 'maybe');
    neg = false;
  };
  for (let i = 0; i < w.length; i++) {
    const o = w[i] as string;
    const arg = w[i + 1] ?? '';
    switch (o) {
      case '!':
        neg = true;
        continue;
      case '-s':
        add(inNet(arg, (f) => f.saddr));
        i++;
        continue;
      case '-d':
        add(inNet(arg, (f) => f.daddr));
        i++;
        continue;
      case '-i':
        add(ifname(arg, (f) => f.iif));
        i++;
        continue;
      case '-o':
        add(ifname(arg, (f) => f.oif));
        i++;
        continue;
      case '-p': {
        const p = /^\d+$/.test(arg) ? Number(arg) : PROTOCOLS[arg.toLowerCase()];
        add(
          p === 0
            ? () => 'yes'
            : p === undefined
              ? undefined
              : (f) => (f.proto === undefined ? 'maybe' : f.proto === p ? 'yes' : 'no'),
        );
        i++;
        continue;
      }
      case '--dport':
      case '--dports':
      case '--destination-port':
      case '--destination-ports':
        add(ports(arg));
        i++;
        continue;
      case '--ctstate':
      case '--state':
        add(ctstate(arg));
        i++;
        continue;
      case '--dst-type':
        add(addrtype(arg));
        i++;
        continue;
      case '-m':
        // the module's own options are read (or not) one by one
        i++;
        neg = false;
        continue;
      case '--comment':
      case '--limit-iface-in':
        i += o === '--comment' ? 1 : 0;
        continue;
      case '-j':
      case '-g': {
        verdict = target(arg, o === '-g', chains);
        // a target's own options (--reject-with, --log-prefix, ...) say nothing about the match
        i = w.length;
        continue;
      }
      default:
        if (o.startsWith('-')) {
          // an option island does not read: the rule may match; its argument, if any, is skipped
          add(undefined);
          if (w[i + 1] !== undefined && !w[i + 1]?.startsWith('-')) i++;
        }
    }
  }
  return {
    match: (f) => {
      let out: Match = 'yes';
      for (const c of conds) {
        const m = c(f);
        if (m === 'no') return 'no';
        if (m === 'maybe') out = 'maybe';
      }
      return out;
    },
    verdict,
    text: spec,
  };
}

function target(name: string, isGoto: boolean, chains: ReadonlySet<string>): Verdict {
  if (name === 'ACCEPT') return { kind: 'accept' };
  if (name === 'DROP' || name === 'REJECT') return { kind: 'drop' };
  if (name === 'RETURN') return { kind: 'return' };
  if (chains.has(name)) return { kind: isGoto ? 'goto' : 'jump', chain: name };
  if (NON_TERMINAL.has(name)) return { kind: 'continue' };
  return { kind: 'unknown', what: `target ${name}` };
}

/**
 * A filter table as the verdict walk reads it; `without` leaves out the rules whose target is
 * one of island's chains (what the table does without island).
 */
export function iptablesChains(t: SavedTable, o: { without?: (target: string) => boolean } = {}): Map<string, Chain> {
  const names = new Set(t.keys());
  const out = new Map<string, Chain>();
  for (const [name, c] of t) {
    const rules = c.rules.map((r) => iptablesRule(r, names));
    const kept = o.without
      ? rules.filter((r) => !(r.verdict.kind === 'jump' || r.verdict.kind === 'goto') || !o.without?.(r.verdict.chain))
      : rules;
    const policy = c.policy === 'DROP' ? 'drop' : c.policy === 'ACCEPT' ? 'accept' : undefined;
    out.set(name, { name, rules: kept, ...(policy ? { policy } : {}) });
  }
  return out;
}
