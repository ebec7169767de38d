/**
 * iptables-nft's tables read over NETLINK_NETFILTER, in iptables-save's words, without a
 * program: what lets a repair after `iptables -F FORWARD` spawn only its iptables-restore, and
 * a pass with nothing to repair spawn nothing.
 *
 * The kernel holds each rule as nf_tables expressions; turning them back into iptables' words
 * is iptables-nft-save's work (every xt match and target, every native translation), which
 * island does not redo. It remembers instead: every iptables-nft-save read is paired, rule by
 * rule, with the kernel's view of the same generation (nothing committed between a dump before
 * and a dump after it), and each rule's expressions then stand for the words iptables-save gave
 * them. A later read is answered from the kernel alone when every rule in it was seen so;
 * anything else (a rule never seen, a chain iptables would not call its own, a set lookup, a
 * kernel that cannot be asked) falls back to iptables-save, which teaches the new rules. The
 * answer is then the one iptables-save would print: its chain order (built-in chains first, the
 * absent ones with policy ACCEPT, then user chains by name), its rule order, its words.
 *
 * A flush, a deleted jump or `nft flush ruleset` only removes rules: what is left was seen
 * before, and island's own rules, once written and read back, are known too.
 */
import type { NetlinkMessage } from 'netlink';
import { createNetlink } from 'netlink/dist/netlink.js';
import { decodeAttrList, decodeAttrs, encodeAttrs } from '../netlink/nla.js';
import { FILTER, type TableModel } from './model.js';
import { be32, NETLINK_NETFILTER, NLM_F_DUMP, SUBSYS, str } from './nftables.js';
import type { Family, LiveTable, SavedTable } from './types.js';

const MSG = { newchain: 3, getchain: 4, newrule: 6, getrule: 7, newgen: 15, getgen: 16 };
/** set on a dump's messages when the ruleset changed while it ran */
const NLM_F_DUMP_INTR = 0x10;

/** iptables' built-in chains of each table, with their hooks (NF_INET_*), and the priority it gives them. */
const BUILTINS: Record<string, { chains: [name: string, hook: number][]; priority: number }> = {
  filter: {
    chains: [
      ['INPUT', 1],
      ['FORWARD', 2],
      ['OUTPUT', 3],
    ],
    priority: 0,
  },
  mangle: {
    chains: [
      ['PREROUTING', 0],
      ['INPUT', 1],
      ['FORWARD', 2],
      ['OUTPUT', 3],
      ['POSTROUTING', 4],
    ],
    priority: -150,
  },
};

/** Expressions whose meaning lies outside the rule (a set's elements, a named object): never remembered. */
const OUTSIDE = new Set(['lookup', 'dynset', 'objref']);

interface SeenChain {
  name: string;
  /** a base chain's policy: ACCEPT or DROP */
  policy?: string;
  /** false: a base chain iptables would not call one of its built-in chains */
  builtin: boolean;
}

interface SeenRule {
  chain: string;
  /** the rule's expressions and user data, counters left out: what its words are remembered by */
  key: string;
  /** false: the rule looks into a set or object, its words cannot be remembered */
  keep: boolean;
}

/** One table as the kernel holds it, within one generation. */
export interface SeenTable {
  table: string;
  chains: SeenChain[];
  rules: SeenRule[];
}

export interface Seen {
  family: Family;
  gen: number;
  tables: SeenTable[];
}

/** "4 filter <key>" → the rule's words after "-A CHAIN ", as iptables-nft-save printed them */
const words = new Map<string, string>();
/** more rules than any real host holds in its filter and mangle tables: start over */
const MAX_WORDS = 50_000;

/** The words learned so far go (a reload: the iptables programs may have changed). */
export function forgetIptablesNftWords(): void {
  words.clear();
}

const nfgen = (family: Family) => Buffer.from([family === 6 ? 10 : 2, 0, 0, 0]);

type Sock = ReturnType<typeof createNetlink>;

async function ask(sock: Sock, msg: number, family: Family, attrs: [number, Buffer][], dump: boolean) {
  const [msgs] = await sock.request(SUBSYS | msg, Buffer.concat([nfgen(family), encodeAttrs(attrs)]), {
    ...(dump ? { flags: NLM_F_DUMP } : {}),
    timeout: 5000,
    localPort: 0,
  });
  return msgs;
}

async function generation(sock: Sock, family: Family): Promise<number | undefined> {
  const msgs = await ask(sock, MSG.getgen, family, [], false);
  const m = msgs.find((x) => x.type === (SUBSYS | MSG.newgen));
  return m ? be32(decodeAttrs(m.data.subarray(4)).get(1)) : undefined;
}

function ruleKey(m: NetlinkMessage): SeenRule {
  const a = decodeAttrs(m.data.subarray(4));
  let keep = true;
  const parts: string[] = [];
  for (const [, elem] of decodeAttrList(a.get(4) ?? Buffer.alloc(0))) {
    const e = decodeAttrs(elem);
    const name = str(e.get(1));
    if (OUTSIDE.has(name)) keep = false;
    // a counter's packets and bytes change under traffic; iptables-save does not print them
    parts.push(name === 'counter' ? name : `${name}:${(e.get(2) ?? Buffer.alloc(0)).toString('hex')}`);
  }
  parts.push(`udata:${(a.get(7) ?? Buffer.alloc(0)).toString('hex')}`);
  return { chain: str(a.get(2)), key: parts.join(' '), keep };
}

/**
 * The family's tables as the kernel holds them now, all in one generation; undefined when the
 * kernel cannot be asked or kept changing.
 */
export async function seeTables(family: Family, tables: readonly TableModel[]): Promise<Seen | undefined> {
  let sock: Sock | undefined;
  try {
    sock = createNetlink(NETLINK_NETFILTER);
    for (let attempt = 0; attempt < 2; attempt++) {
      const gen = await generation(sock, family);
      if (gen === undefined) return undefined;
      const out: SeenTable[] = [];
      let torn = false;
      // a chain dump is of every table of the family (the kernel filters rule dumps only)
      const chainMsgs = (await ask(sock, MSG.getchain, family, [], true)).filter(
        (m) => m.type === (SUBSYS | MSG.newchain),
      );
      if (chainMsgs.some((m) => m.flags & NLM_F_DUMP_INTR)) torn = true;
      const chainAttrs = chainMsgs.map((m) => decodeAttrs(m.data.subarray(4)));
      for (const t of tables) {
        const ruleMsgs = await ask(sock, MSG.getrule, family, [[1, Buffer.from(`${t.name}\0`)]], true);
        if (ruleMsgs.some((m) => m.flags & NLM_F_DUMP_INTR)) torn = true;
        const builtin = BUILTINS[t.name];
        const chains = chainAttrs
          .filter((a) => str(a.get(1)) === t.name)
          .map((a): SeenChain => {
            const chain = str(a.get(3));
            const hook = a.get(4);
            if (!hook) return { name: chain, builtin: true };
            const h = decodeAttrs(hook);
            const ours = builtin?.chains.find(([n]) => n === chain);
            return {
              name: chain,
              policy: be32(a.get(5)) === 0 ? 'DROP' : 'ACCEPT',
              builtin:
                ours !== undefined && be32(h.get(1)) === ours[1] && ((be32(h.get(2)) ?? 0) | 0) === builtin?.priority,
            };
          });
        const rules = ruleMsgs.filter((m) => m.type === (SUBSYS | MSG.newrule)).map(ruleKey);
        out.push({ table: t.name, chains, rules });
      }
      if (!torn && (await generation(sock, family)) === gen) return { family, gen, tables: out };
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    sock?.close();
  }
}

const wordsKey = (family: Family, table: string, key: string) => `${family} ${table} ${key}`;

/**
 * The read iptables-nft-save would give of what the kernel holds, from words learned before;
 * undefined when a rule's words are unknown or a chain is not iptables'.
 */
export function spell(seen: Seen): Extract<LiveTable, { ok: true }> | undefined {
  const found = new Map<string, SavedTable>();
  for (const t of seen.tables) {
    const builtin = BUILTINS[t.table];
    if (!builtin || t.chains.some((c) => !c.builtin)) return undefined;
    const saved: SavedTable = new Map();
    for (const [name] of builtin.chains)
      saved.set(name, { policy: t.chains.find((c) => c.name === name)?.policy ?? 'ACCEPT', rules: [] });
    const user = t.chains
      .filter((c) => c.policy === undefined)
      .map((c) => c.name)
      .sort();
    for (const name of user) saved.set(name, { policy: '-', rules: [] });
    for (const r of t.rules) {
      const text = r.keep ? words.get(wordsKey(seen.family, t.table, r.key)) : undefined;
      const chain = saved.get(r.chain);
      if (text === undefined || !chain) return undefined;
      chain.rules.push(text);
    }
    found.set(t.table, saved);
  }
  // as iptables.ts reads them: filter's chains, any other table's in `more`
  const chains = found.get(FILTER.name) ?? new Map();
  const others = seen.tables.filter((t) => t.table !== FILTER.name);
  if (!others.length) return { ok: true, chains };
  return { ok: true, chains, more: Object.fromEntries(others.map((t) => [t.table, found.get(t.table) ?? new Map()])) };
}

/**
 * Learn the words of each rule from an iptables-nft-save read made between two looks at the
 * kernel that saw the same generation: the read saw exactly those rules, in that order.
 */
export function learn(before: Seen, read: Extract<LiveTable, { ok: true }>, after: Seen | undefined): void {
  if (before.family !== after?.family || before.gen !== after.gen) return;
  const savedOf = (table: string) => (table === FILTER.name ? read.chains : read.more?.[table]);
  const pairs: [string, string][] = [];
  for (const t of before.tables) {
    const saved = savedOf(t.table);
    if (!saved) return;
    const byChain = new Map<string, SeenRule[]>();
    for (const r of t.rules) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r]);
    for (const [name, c] of saved) if (c.rules.length !== (byChain.get(name)?.length ?? 0)) return;
    for (const [name, rules] of byChain) {
      const texts = saved.get(name)?.rules;
      if (!texts || texts.length !== rules.length) return;
      rules.forEach((r, i) => {
        if (r.keep) pairs.push([wordsKey(before.family, t.table, r.key), texts[i] as string]);
      });
    }
  }
  if (words.size + pairs.length > MAX_WORDS) words.clear();
  for (const [k, v] of pairs) words.set(k, v);
}
