/**
 * iptables-nft's tables read and written over NETLINK_NETFILTER, in iptables-save's words,
 * without a program: a repair after `iptables -F FORWARD` and a pass with nothing to repair
 * spawn nothing.
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
 *
 * The same pairing gives each of island's rules its kernel form, so that a repair batch is
 * written as one nf_tables transaction (writeBatch) instead of by iptables-nft-restore: the
 * rules as iptables-nft itself wrote them, jumps deleted by handle, the transaction refused
 * whole (NFNL_BATCH_GENID) if the ruleset changed since the look it was built on.
 */
import type { NetlinkMessage } from 'netlink';
import { be32, cstr, decodeAttrList, decodeAttrs, encodeAttrs, frame, NLA_F_NESTED, readBe32 } from '../netlink/nla.js';
import { PROTOCOLS } from './iptables-rules.js';
import { FILTER, type TableModel } from './model.js';
import {
  NFT_MSG,
  type NfSocket,
  nfgen,
  nfproto,
  nftRequest,
  readWithNfSocket,
  SUBSYS,
  withNfSocket,
} from './nfnetlink.js';
import { followNftables, nftablesChanged, readsTable, str } from './nftables.js';
import { normalize } from './save.js';
import type { Family, LiveTable, RestoreBatch, SavedTable } from './types.js';

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
  /** the rule's handle, NFTA_RULE_HANDLE as the kernel gave it */
  handle?: Buffer;
  /** NFTA_RULE_EXPRESSIONS, counters zeroed, and NFTA_RULE_USERDATA: the rule as a write gives it back */
  exprs: Buffer;
  udata?: Buffer;
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
/** "4 filter <words, normalized>" → the rule as the kernel held it when iptables-nft-save gave it those words */
const written = new Map<string, SeenRule>();
/** each family's last look that was spelt: the handles and the generation a write builds on */
const looked = new Map<Family, Seen>();
/** more rules than any real host holds in its filter and mangle tables: start over */
const MAX_WORDS = 50_000;

/** The words learned so far go (a reload: the iptables programs may have changed). */
export function forgetIptablesNftWords(): void {
  words.clear();
  written.clear();
  looked.clear();
  forgetNotifications();
}

async function generation(sock: NfSocket, family: Family): Promise<number | undefined> {
  const msgs = await nftRequest(sock, NFT_MSG.getgen, nfproto(family), [], false);
  const m = msgs.find((x) => x.type === (SUBSYS | NFT_MSG.newgen));
  return m ? readBe32(decodeAttrs(m.data.subarray(4)).get(1)) : undefined;
}

function ruleKey(m: NetlinkMessage): SeenRule {
  const a = decodeAttrs(m.data.subarray(4));
  const udata = a.get(7);
  return {
    chain: str(a.get(2)),
    ...ruleBody(a.get(4), udata),
    ...(a.get(3) ? { handle: a.get(3) } : {}),
    ...(udata ? { udata } : {}),
  };
}

/** A rule's expressions and user data: its key, whether island may keep it, the expressions as written back. */
function ruleBody(exprs: Buffer | undefined, udata: Buffer | undefined): Pick<SeenRule, 'key' | 'keep' | 'exprs'> {
  let keep = true;
  const parts: string[] = [];
  const elems: [number, Buffer][] = [];
  for (const [, elem] of decodeAttrList(exprs ?? Buffer.alloc(0))) {
    const e = decodeAttrs(elem);
    const name = str(e.get(1));
    if (OUTSIDE.has(name)) keep = false;
    // a counter's packets and bytes change under traffic; iptables-save does not print them
    parts.push(name === 'counter' ? name : `${name}:${(e.get(2) ?? Buffer.alloc(0)).toString('hex')}`);
    // NFTA_LIST_ELEM; a counter without data starts at zero
    elems.push([1 | NLA_F_NESTED, name === 'counter' ? encodeAttrs([[1, e.get(1) as Buffer]]) : elem]);
  }
  parts.push(`udata:${(udata ?? Buffer.alloc(0)).toString('hex')}`);
  return { key: parts.join(' '), keep, exprs: encodeAttrs(elems) };
}

/**
 * The family's tables as the kernel holds them now, all in one generation; undefined when the
 * kernel cannot be asked or kept changing.
 */
export async function seeTables(family: Family, tables: readonly TableModel[]): Promise<Seen | undefined> {
  const told = currentLook(family, tables);
  if (told) return told;
  try {
    return await readWithNfSocket((sock) => look(sock, family, tables));
  } catch {
    return undefined;
  }
}

async function look(sock: NfSocket, family: Family, tables: readonly TableModel[]): Promise<Seen | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    // The generation and the chain dump leave together (the kernel takes a socket's requests in
    // order). Not a request after a dump: its answer would come between the dump's parts, which
    // node-netlink's reader takes for a broken dump; nor two dumps: the kernel refuses a second
    // while the first is read.
    const first = generation(sock, family);
    // a chain dump is of every table of the family (the kernel filters rule dumps only)
    const chains = nftRequest(sock, NFT_MSG.getchain, nfproto(family));
    chains.catch(() => undefined);
    const gen = await first;
    if (gen === undefined) return undefined;
    const out: SeenTable[] = [];
    let torn = false;
    const chainMsgs = (await chains).filter((m) => m.type === (SUBSYS | NFT_MSG.newchain));
    if (chainMsgs.some((m) => m.flags & NLM_F_DUMP_INTR)) torn = true;
    const chainAttrs = chainMsgs.map((m) => decodeAttrs(m.data.subarray(4)));
    for (const t of tables) {
      const ruleMsgs = await nftRequest(sock, NFT_MSG.getrule, nfproto(family), [[1, cstr(t.name)]]);
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
            policy: readBe32(a.get(5)) === 0 ? 'DROP' : 'ACCEPT',
            builtin:
              ours !== undefined &&
              readBe32(h.get(1)) === ours[1] &&
              ((readBe32(h.get(2)) ?? 0) | 0) === builtin?.priority,
          };
        });
      const rules = ruleMsgs.filter((m) => m.type === (SUBSYS | NFT_MSG.newrule)).map(ruleKey);
      out.push({ table: t.name, chains, rules });
    }
    if (!torn && (await generation(sock, family)) === gen) return { family, gen, tables: out };
  }
  return undefined;
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
  lookedAt(seen);
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
  const pairs: [string, string, { table: string; rule: SeenRule }][] = [];
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
        if (r.keep)
          pairs.push([wordsKey(before.family, t.table, r.key), texts[i] as string, { table: t.table, rule: r }]);
      });
    }
  }
  if (words.size + pairs.length > MAX_WORDS) {
    words.clear();
    written.clear();
  }
  for (const [k, v, r] of pairs) {
    words.set(k, v);
    written.set(wordsKey(before.family, r.table, normalize(v)), r.rule);
  }
  lookedAt(after);
}

// ---------------------------------------------------------------------------------------------
// following the kernel's notifications

/**
 * The daemon hears every nf_tables transaction (events.ts): one that only deleted rules of the
 * tables a look holds, by handle (`iptables -F FORWARD`, `iptables -D`), is applied to that
 * look, which then stands for the kernel at the transaction's generation (its NEWGEN) without
 * a read: the repair is planned and sent at once, three round trips earlier. Anything else in
 * those tables (a rule or chain added, a chain or table deleted), a generation missed, or a
 * lost notification (ENOBUFS) makes the next look a read. A write built on a look the kernel
 * has since moved past is refused whole by its generation, as one built on a read would be.
 */
/** the last generation the notifications told (NFT_MSG_NEWGEN), and the transaction being told */
let toldGen: number | undefined;
let told: { msg: number; nfproto: number; table: string; handle?: Buffer }[] = [];
/** families whose look is the kernel's at toldGen */
const current = new Set<Family>();

/** Notifications were lost, or nobody follows them any more: every family is read again. */
export function forgetNotifications(): void {
  toldGen = undefined;
  told = [];
  current.clear();
  followNftables(false);
}

/** The family's last look of exactly these tables, when the notifications since kept it the kernel's. */
export function currentLook(family: Family, tables: readonly TableModel[]): Seen | undefined {
  // a transaction told in part (its NEWGEN in the next read of the socket) makes any look old
  const seen = current.has(family) && !told.length ? looked.get(family) : undefined;
  if (!seen || seen.tables.length !== tables.length) return undefined;
  return tables.every((t) => seen.tables.some((x) => x.table === t.name)) ? seen : undefined;
}

/** A look, read or spelt: current once the notifications have told its generation, and none after. */
function lookedAt(seen: Seen): void {
  looked.set(seen.family, seen);
  if (toldGen === seen.gen) current.add(seen.family);
  else current.delete(seen.family);
}

/** One nf_tables notification (any table, any family), in the order the kernel sent them. */
export function followNotification(type: number, data: Buffer): void {
  if (type >> 8 !== SUBSYS >> 8 || data.length < 4) return;
  const msg = type & 0xff;
  const a = decodeAttrs(data.subarray(4), [1, 3]);
  if (msg !== NFT_MSG.newgen) {
    // NFTA_*_TABLE is 1 for tables, chains, rules and sets alike; NFTA_RULE_HANDLE 3
    const table = str(a.get(1));
    told.push({ msg, nfproto: data[0] as number, table, ...(a.has(3) ? { handle: a.get(3) } : {}) });
    if (readsTable(data[0] as number, table)) nftablesChanged();
    return;
  }
  const gen = readBe32(a.get(1));
  const messages = told;
  told = [];
  if (gen === undefined) {
    forgetNotifications();
    return;
  }
  for (const [family, seen] of looked) {
    // a look made after this transaction: current from now on, unless it is older
    if (gen <= seen.gen) {
      if (gen === seen.gen) current.add(family);
      continue;
    }
    if (!current.has(family) || gen !== seen.gen + 1) {
      current.delete(family);
      continue;
    }
    const mine = messages.filter((m) => m.nfproto === nfproto(family) && seen.tables.some((t) => t.table === m.table));
    const gone = mine.filter((m) => (m.msg === NFT_MSG.delrule || m.msg === NFT_MSG.destroyrule) && m.handle);
    const tables = seen.tables.map((t) => ({
      ...t,
      rules: t.rules.filter((r) => !gone.some((m) => m.table === t.table && r.handle?.equals(m.handle as Buffer))),
    }));
    const removed =
      seen.tables.reduce((n, t) => n + t.rules.length, 0) - tables.reduce((n, t) => n + t.rules.length, 0);
    if (gone.length !== mine.length || removed !== gone.length) current.delete(family);
    else looked.set(family, { ...seen, gen, tables });
  }
  if (toldGen === undefined) followNftables(true);
  toldGen = gen;
}

// ---------------------------------------------------------------------------------------------
// writing

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLMSG_ERROR = 2;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
/** NFT_RULE_COMPAT_F_INV: "! -p" */
const COMPAT_INV = 2;

interface Msg {
  type: number;
  flags: number;
  attrs: [number, Buffer][];
}

/**
 * NFTA_RULE_COMPAT, as iptables-nft sends it: the rule's -p, which an xt match or target
 * (tcp, TCPMSS, ...) checks when the kernel takes the rule.
 */
function compat(spec: string): Buffer | undefined {
  const m = /(?:^| )(! )?-p (\S+)/.exec(spec);
  const proto = m ? (/^\d+$/.test(m[2] ?? '') ? Number(m[2]) : PROTOCOLS[(m[2] ?? '').toLowerCase()]) : 0;
  if (proto === undefined) return undefined;
  return encodeAttrs([
    [1, be32(proto)],
    [2, be32(m?.[1] ? COMPAT_INV : 0)],
  ]);
}

/**
 * The batch as nf_tables messages, built on the last look at the family's tables: each line
 * as iptables-nft-restore --noflush would carry it out. Undefined when a line asks for what
 * that look cannot give: a rule whose kernel form was never seen, a jump to delete that is not
 * there, a table or built-in chain that does not exist (iptables-nft-restore creates those).
 */
function messages(seen: Seen, lines: readonly string[]): Msg[] | undefined {
  const out: Msg[] = [];
  const used = new Set<SeenRule>();
  let t: SeenTable | undefined;
  let chains = new Set<string>();
  for (const line of lines) {
    if (line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      t = seen.tables.find((x) => x.table === line.slice(1));
      if (!t) return undefined;
      chains = new Set(t.chains.map((c) => c.name));
      continue;
    }
    if (!t) return undefined;
    const table: [number, Buffer] = [1, cstr(t.table)];
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0] ?? '';
      // --noflush: a chain declared that exists is emptied
      if (chains.has(name)) out.push({ type: NFT_MSG.delrule, flags: 0, attrs: [table, [2, cstr(name)]] });
      else out.push({ type: NFT_MSG.newchain, flags: NLM_F_CREATE, attrs: [table, [3, cstr(name)]] });
      chains.add(name);
      continue;
    }
    const m = /^-([DFXIA]) (\S+)(?: (.*))?$/.exec(line);
    const [, op, chain = '', rest = ''] = m ?? [];
    if (!m || !chains.has(chain)) return undefined;
    const at: [number, Buffer] = [2, cstr(chain)];
    if (op === 'D') {
      const want = normalize(rest);
      const tbl = t.table;
      const r = t.rules.find((x) => {
        if (x.chain !== chain || used.has(x)) return false;
        const w = words.get(wordsKey(seen.family, tbl, x.key));
        return w !== undefined && normalize(w) === want;
      });
      if (!r?.handle) return undefined;
      used.add(r);
      out.push({ type: NFT_MSG.delrule, flags: 0, attrs: [table, at, [3, r.handle]] });
    } else if (op === 'F') out.push({ type: NFT_MSG.delrule, flags: 0, attrs: [table, at] });
    else if (op === 'X') {
      out.push({ type: NFT_MSG.delchain, flags: 0, attrs: [table, [3, cstr(chain)]] });
      chains.delete(chain);
    } else {
      // "-I FORWARD 1 spec": first in the chain, where a rule without a position goes
      const spec = op === 'I' ? rest.replace(/^1 /, '') : rest;
      const r = written.get(wordsKey(seen.family, t.table, normalize(spec)));
      const c = compat(spec);
      if ((op === 'I' && spec === rest) || !r || !c) return undefined;
      const rule = nativeComment(r.exprs, r.udata);
      // its words are the xt form's: the next read spells it without asking iptables-nft-save
      const text = words.get(wordsKey(seen.family, t.table, r.key));
      if (rule.exprs !== r.exprs && text !== undefined) {
        words.set(wordsKey(seen.family, t.table, ruleBody(rule.exprs, rule.udata).key), text);
      }
      out.push({
        type: NFT_MSG.newrule,
        flags: NLM_F_CREATE | (op === 'A' ? NLM_F_APPEND : 0),
        attrs: [
          table,
          at,
          [4 | NLA_F_NESTED, rule.exprs],
          ...(rule.udata ? [[7, rule.udata] as [number, Buffer]] : []),
          [5 | NLA_F_NESTED, c],
        ],
      });
    }
  }
  return out;
}

/** what may follow the comment in a rule for iptables-nft-save to print it in the same place, last of the matches */
const AFTER_MATCHES = new Set(['counter', 'immediate', 'target']);

/**
 * The rule with its xt comment match (`-m comment --comment island`) as nftables' own comment,
 * the rule's user data, which iptables-nft-save prints as the same words. The kernel takes a
 * rule that holds an xt match or target only once the destruction of the rules deleted before
 * it, in any namespace, has waited out an RCU grace period (nft_compat_wait_for_destructors):
 * 5-40 ms after the flush being repaired, or after anyone's. Unchanged when the comment is not
 * the last match (iptables-nft-save would print it elsewhere) or too long for user data.
 */
export function nativeComment(exprs: Buffer, udata: Buffer | undefined): { exprs: Buffer; udata?: Buffer } {
  const list = decodeAttrList(exprs);
  const names = list.map(([, e]) => str(decodeAttrs(e).get(1)));
  const at = list.findIndex(([, e], i) => {
    if (names[i] !== 'match') return false;
    return str(decodeAttrs(decodeAttrs(e).get(2) ?? Buffer.alloc(0)).get(1)) === 'comment';
  });
  const unchanged = { exprs, ...(udata ? { udata } : {}) };
  if (at < 0 || names.slice(at + 1).some((n) => !AFTER_MATCHES.has(n))) return unchanged;
  const info = decodeAttrs(decodeAttrs((list[at] as [number, Buffer])[1]).get(2) ?? Buffer.alloc(0)).get(3);
  const comment = cstr(str(info));
  // NFTNL_UDATA_RULE_COMMENT (type 0): type, length, the NUL-terminated text; any other entry stays
  if (comment.length > 255) return unchanged;
  const kept: Buffer[] = [];
  for (let off = 0; udata && off + 2 <= udata.length; off += 2 + (udata[off + 1] as number)) {
    if (udata[off] !== 0) kept.push(udata.subarray(off, off + 2 + (udata[off + 1] as number)));
  }
  return {
    exprs: encodeAttrs(list.filter((_, i) => i !== at).map(([t, e]) => [t | NLA_F_NESTED, e])),
    udata: Buffer.concat([Buffer.from([0, comment.length]), comment, ...kept]),
  };
}

/**
 * The batch written over netlink in one nf_tables transaction, without iptables-nft-restore:
 * as atomic, and refused whole (NFNL_BATCH_GENID) when the ruleset changed since the look it
 * was built on. False when it could not be written so: the caller runs iptables-nft-restore,
 * which says why if it fails too.
 */
export async function writeBatch(b: RestoreBatch): Promise<boolean> {
  const seen = looked.get(b.family);
  const msgs = seen && messages(seen, b.lines);
  if (!seen || !msgs?.length) return false;
  // what this write does is known once its own notifications are in: until then, read
  current.delete(b.family);
  try {
    return await withNfSocket((sock) => commit(sock, seen.gen, b.family, msgs));
  } catch {
    return false;
  }
}

async function commit(sock: NfSocket, gen: number, family: Family, msgs: Msg[]): Promise<boolean> {
  // the socket's own numbering: no reply of another request is taken for this one's
  const base = sock.generateSeq();
  for (let i = 0; i <= msgs.length; i++) sock.generateSeq();
  const last = base + msgs.length;
  // nfgenmsg of the batch messages: res_id, big-endian, names the subsystem the batch is for
  const subsys = Buffer.from([0, 0, 0, SUBSYS >> 8]);
  const frames = [
    frame(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, base, encodeAttrs([[1, be32(gen)]], subsys)),
    ...msgs.map((m, i) =>
      frame(
        SUBSYS | m.type,
        NLM_F_REQUEST | m.flags | (i === msgs.length - 1 ? NLM_F_ACK : 0),
        base + 1 + i,
        encodeAttrs(m.attrs, nfgen(nfproto(family))),
      ),
    ),
    frame(NFNL_MSG_BATCH_END, NLM_F_REQUEST, last + 1, subsys),
  ];
  return await new Promise<boolean>((resolve) => {
    // errors come first, then the last message's acknowledgement; a refused generation
    // answers the batch's first message only
    const timer = setTimeout(() => done(false), 1000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve(ok);
    };
    const onMessage = (got: NetlinkMessage | NetlinkMessage[]) => {
      for (const m of Array.isArray(got) ? got : [got]) {
        if (m.type !== NLMSG_ERROR || m.data.length < 4 || m.seq < base || m.seq > last + 1) continue;
        if (m.data.readInt32LE(0) !== 0) return done(false);
        if (m.seq === last) return done(true);
      }
    };
    sock.on('message', onMessage);
    sock.socket.send(Buffer.concat(frames), { port: 0 }, (err) => {
      if (err) done(false);
    });
  });
}
