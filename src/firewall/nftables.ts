/**
 * The nftables ruleset beyond iptables, read over NETLINK_NETFILTER (the dump `nft list ruleset`
 * makes, without the nft program): every ip, ip6 and inet table that has a filter base chain on
 * the input or forward hook, with its chains, rules and the sets those rules look up. The ip and
 * ip6 "filter" tables are iptables-nft's; iptables-save reads them (observe.ts).
 *
 * Such a chain sees every packet of its hook whatever iptables says: a drop there is final,
 * island's accepts in iptables cannot override it (DESIGN.md). Its rules are read as the
 * kernel runs them, on a model of the registers: each expression loads what is known of one
 * of island's flows (interface names, addresses as far as their prefix goes, protocol, port,
 * conntrack state NEW), and each comparison says yes, no or maybe. Read: meta (iifname,
 * oifname, l4proto, nfproto, protocol), payload (network and transport header), ct state,
 * bitwise masks, cmp, range, set lookups (elements read; a map's verdict is unknown), immediate
 * verdicts and reject. Anything else that tests a packet may match it.
 */
import type { NetlinkMessage } from 'netlink';
import { ipToBuffer } from '../netlink/ip.js';
import { cstr, decodeAttrList, decodeAttrs, readBe32 } from '../netlink/nla.js';
import { FILTER } from './model.js';
import { NFT_MSG, type NfSocket, nftRequest, readWithNfSocket, SUBSYS } from './nfnetlink.js';
import type { Flow, Hook } from './types.js';
import type { Chain, Match, Rule, Verdict } from './verdict.js';

/** iptables-nft's tables besides filter: no filter chain on the hooks island relies on */
export const IPTABLES_OTHER = new Set(['nat', 'mangle', 'raw', 'security']);

const FAMILIES: Record<number, NftFamily> = { 1: 'inet', 2: 'ip', 10: 'ip6' };
const FAMILY_NUMBER: Record<NftFamily, number> = { inet: 1, ip: 2, ip6: 10 };
export type NftFamily = 'ip' | 'ip6' | 'inet';
const HOOKS: Record<number, Hook> = { 1: 'input', 2: 'forward', 3: 'output' };

export interface NftBaseChain {
  family: NftFamily;
  table: string;
  chain: string;
  hook: Hook;
  priority: number;
  policy: 'accept' | 'drop';
}

export interface NftTable {
  family: NftFamily;
  name: string;
  chains: Map<string, Chain>;
  /** its filter base chains on the input and forward hooks */
  base: NftBaseChain[];
}

/** The tables that can drop island's traffic behind iptables' back. */
export interface NftRuleset {
  tables: NftTable[];
}

/** iptables-nft's own tables: island's chains live there, iptables-save reads them. */
export const isIptablesTable = (family: NftFamily, table: string) => family !== 'inet' && table === FILTER.name;

/** Whether a table of this family sees the flow's packets. */
export const sees = (family: NftFamily, flow: Flow) =>
  family === 'inet' || (family === 'ip' ? flow.family === 4 : flow.family === 6);

// ---------------------------------------------------------------------------------------------
// reading

/** a NUL-terminated string attribute */
export const str = (b: Buffer | undefined) => (b ? b.toString('latin1').replace(/\0.*$/s, '') : '');
const nested = (b: Buffer | undefined) => decodeAttrs(b ?? Buffer.alloc(0));

/**
 * The last read, kept while the daemon follows nf_tables' notifications (iptables-nft.ts) and
 * none of them was about a table this read covers: a repair after `iptables -F` does not read
 * the other tables again (a dump per table: 1-5 ms before the repair could leave).
 */
let kept: NftRuleset | undefined;
let followed = false;
let changes = 0;

/** A notification about a table the read covers (or that cannot be told apart): read it again. */
export function nftablesChanged(): void {
  changes++;
  kept = undefined;
}

/** Whether notifications are followed (from the first NEWGEN told to their loss or end). */
export function followNftables(on: boolean): void {
  followed = on;
  nftablesChanged();
}

/** Whether a notification about `table` of the NFPROTO_* family concerns readNftables(). */
export function readsTable(nfproto: number, table: string): boolean {
  const family = FAMILIES[nfproto];
  return family !== undefined && (family === 'inet' || !(isIptablesTable(family, table) || IPTABLES_OTHER.has(table)));
}

/** One read of the tables that matter; throws when nf_tables cannot be asked (no module, no permission). */
export async function readNftables(): Promise<NftRuleset> {
  if (followed && kept) return kept;
  const at = changes;
  const ruleset = await read();
  if (followed && changes === at) kept = ruleset;
  return ruleset;
}

function read(): Promise<NftRuleset> {
  return readWithNfSocket(async (sock) => {
    // the tables first (a handful): the chains of iptables-nft's own tables (thousands of
    // kube-proxy's in nat) are never dumped
    const tableMsgs = (await nftRequest(sock, NFT_MSG.gettable, 0)).filter(
      (m) => m.type === (SUBSYS | NFT_MSG.newtable),
    );
    const chainMsgs: NetlinkMessage[] = [];
    for (const m of tableMsgs) {
      const family = FAMILIES[m.data[0] ?? 0];
      const name = str(decodeAttrs(m.data.subarray(4)).get(1));
      if (!family || isIptablesTable(family, name) || (family !== 'inet' && IPTABLES_OTHER.has(name))) continue;
      const msgs = await nftRequest(sock, NFT_MSG.getchain, FAMILY_NUMBER[family], [[1, cstr(name)]]);
      chainMsgs.push(...msgs.filter((c) => c.type === (SUBSYS | NFT_MSG.newchain)));
    }
    const byTable = new Map<string, { family: NftFamily; name: string; base: NftBaseChain[] }>();
    for (const m of chainMsgs) {
      const family = FAMILIES[m.data[0] ?? 0];
      if (!family) continue;
      const a = decodeAttrs(m.data.subarray(4));
      const table = str(a.get(1));
      if (isIptablesTable(family, table)) continue;
      const hookAttrs = a.get(4);
      const type = str(a.get(7));
      if (!hookAttrs || type !== 'filter') continue;
      const h = nested(hookAttrs);
      const hook = HOOKS[readBe32(h.get(1)) ?? -1];
      if (!hook) continue;
      const key = `${family} ${table}`;
      const t = byTable.get(key) ?? { family, name: table, base: [] };
      t.base.push({
        family,
        table,
        chain: str(a.get(3)),
        hook,
        priority: (readBe32(h.get(2)) ?? 0) | 0,
        policy: readBe32(a.get(5)) === 0 ? 'drop' : 'accept',
      });
      byTable.set(key, t);
    }
    const tables: NftTable[] = [];
    for (const t of byTable.values()) tables.push(await readTable(sock, t.family, t.name, t.base));
    return { tables };
  });
}

async function readTable(sock: NfSocket, family: NftFamily, name: string, base: NftBaseChain[]): Promise<NftTable> {
  const fam = FAMILY_NUMBER[family];
  const ruleMsgs = (await nftRequest(sock, NFT_MSG.getrule, fam, [[1, cstr(name)]])).filter(
    (m) => m.type === (SUBSYS | NFT_MSG.newrule),
  );
  const parsed = ruleMsgs.map((m) => {
    const a = decodeAttrs(m.data.subarray(4));
    const handle = a.get(3);
    return {
      chain: str(a.get(2)),
      handle: handle && handle.length >= 8 ? handle.readBigUInt64BE(0) : undefined,
      exprs: expressions(a.get(4)),
    };
  });
  const setNames = new Set(parsed.flatMap((r) => r.exprs.flatMap((e) => (e.op === 'lookup' ? [e.set] : []))));
  const sets = setNames.size ? await readSets(sock, fam, name, setNames) : new Map<string, NftSet>();
  const chains = new Map<string, Chain>();
  const chainOf = (n: string) => {
    let c = chains.get(n);
    if (!c) {
      const b = base.find((x) => x.chain === n);
      c = { name: n, rules: [], ...(b ? { policy: b.policy } : {}) };
      chains.set(n, c);
    }
    return c;
  };
  for (const b of base) chainOf(b.chain);
  for (const r of parsed) chainOf(r.chain).rules.push(rule(r.exprs, sets, r.handle));
  return { family, name, chains, base };
}

interface NftSet {
  keyLen: number;
  interval: boolean;
  /** keys, or [from, to) ranges of an interval set; a verdict map's verdicts */
  elements: { key: Buffer; end?: Buffer; verdict?: Verdict }[];
}

async function readSets(sock: NfSocket, fam: number, table: string, names: Set<string>): Promise<Map<string, NftSet>> {
  const out = new Map<string, NftSet>();
  const setMsgs = (await nftRequest(sock, NFT_MSG.getset, fam, [[1, cstr(table)]])).filter(
    (m) => m.type === (SUBSYS | NFT_MSG.newset),
  );
  for (const m of setMsgs) {
    const a = decodeAttrs(m.data.subarray(4));
    const name = str(a.get(2));
    if (!names.has(name)) continue;
    const flags = readBe32(a.get(3)) ?? 0;
    const keyLen = readBe32(a.get(5)) ?? 0;
    const elems = (
      await nftRequest(sock, NFT_MSG.getsetelem, fam, [
        [1, cstr(table)],
        [2, cstr(name)],
      ])
    ).filter((x) => x.type === (SUBSYS | NFT_MSG.newsetelem));
    const flat: { key: Buffer; endFlag: boolean; keyEnd?: Buffer; verdict?: Verdict }[] = [];
    for (const em of elems) {
      const list = decodeAttrs(em.data.subarray(4)).get(3);
      for (const [, elem] of decodeAttrList(list ?? Buffer.alloc(0))) {
        const e = decodeAttrs(elem);
        const key = nested(e.get(1)).get(1);
        if (!key) continue;
        const keyEnd = nested(e.get(10)).get(1);
        const data = nested(e.get(2)).get(2);
        flat.push({
          key,
          endFlag: ((readBe32(e.get(3)) ?? 0) & 1) === 1,
          ...(keyEnd ? { keyEnd } : {}),
          ...(data ? { verdict: verdictOf(nested(data)) } : {}),
        });
      }
    }
    const interval = (flags & 0x4) !== 0;
    const v = (e: { verdict?: Verdict }) => (e.verdict ? { verdict: e.verdict } : {});
    const elements: NftSet['elements'] = [];
    if (!interval) {
      for (const e of flat) elements.push({ key: e.key, ...v(e) });
    } else if (flat.some((e) => e.keyEnd)) {
      // ranges with their (inclusive) end in the element (concatenations, newer nft)
      for (const e of flat) if (e.keyEnd) elements.push({ key: e.key, end: inc(e.keyEnd), ...v(e) });
    } else {
      // the classic encoding: each range's start, then its end (exclusive) flagged INTERVAL_END
      const sorted = [...flat].sort((x, y) => Buffer.compare(x.key, y.key) || Number(y.endFlag) - Number(x.endFlag));
      sorted.forEach((e, i) => {
        if (e.endFlag) return;
        const next = sorted[i + 1];
        elements.push({ key: e.key, end: next?.endFlag ? next.key : undefined, ...v(e) });
      });
    }
    out.set(name, { keyLen, interval, elements });
  }
  return out;
}

/** The big-endian number after `b` (an inclusive end made exclusive). */
function inc(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = ((out[i] ?? 0) + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// expressions

type Expr =
  | { op: 'meta'; dreg: number; key: number }
  | { op: 'payload'; dreg: number; base: number; offset: number; len: number }
  | { op: 'ct'; dreg: number; key: number }
  | { op: 'bitwise'; sreg: number; dreg: number; len: number; mask?: Buffer; xor?: Buffer; bop: number }
  | { op: 'cmp'; sreg: number; cop: number; data: Buffer }
  | { op: 'range'; sreg: number; rop: number; from: Buffer; to: Buffer }
  | { op: 'lookup'; sreg: number; set: string; inv: boolean; map: boolean; dreg?: number }
  | { op: 'imm'; dreg: number; data: Buffer }
  | { op: 'unknown-load'; dreg: number; what: string }
  | { op: 'cond'; what: string }
  | { op: 'verdict'; verdict: Verdict; word?: string }
  | { op: 'nop' };

const NEUTRAL = new Set(['counter', 'log', 'notrack', 'objref', 'dynset', 'last', 'dup', 'nat', 'masq', 'redir']);

function expressions(buf: Buffer | undefined): Expr[] {
  const out: Expr[] = [];
  for (const [, elem] of decodeAttrList(buf ?? Buffer.alloc(0))) {
    const e = decodeAttrs(elem);
    out.push(expression(str(e.get(1)), nested(e.get(2))));
  }
  return out;
}

function expression(name: string, d: Map<number, Buffer>): Expr {
  const n = (t: number) => readBe32(d.get(t));
  const value = (t: number) => nested(d.get(t)).get(1) ?? Buffer.alloc(0);
  switch (name) {
    case 'meta':
      if (d.has(3)) return { op: 'nop' }; // meta set
      return { op: 'meta', dreg: n(1) ?? 1, key: n(2) ?? -1 };
    case 'payload':
      if (d.has(5)) return { op: 'nop' }; // payload set (mangle)
      return { op: 'payload', dreg: n(1) ?? 1, base: n(2) ?? -1, offset: n(3) ?? 0, len: n(4) ?? 0 };
    case 'ct':
      if (d.has(4)) return { op: 'nop' }; // ct set
      return { op: 'ct', dreg: n(1) ?? 1, key: n(2) ?? -1 };
    case 'bitwise': {
      const bop = n(6) ?? 0;
      return {
        op: 'bitwise',
        sreg: n(1) ?? 1,
        dreg: n(2) ?? 1,
        len: n(3) ?? 0,
        bop,
        ...(bop === 0 ? { mask: value(4), xor: value(5) } : {}),
      };
    }
    case 'cmp':
      return { op: 'cmp', sreg: n(1) ?? 1, cop: n(2) ?? 0, data: value(3) };
    case 'range':
      return { op: 'range', sreg: n(1) ?? 1, rop: n(2) ?? 0, from: value(3), to: value(4) };
    case 'lookup': {
      const dreg = n(3);
      return {
        op: 'lookup',
        sreg: n(2) ?? 1,
        set: str(d.get(1)),
        inv: ((n(5) ?? 0) & 1) === 1,
        map: dreg !== undefined,
        ...(dreg !== undefined ? { dreg } : {}),
      };
    }
    case 'immediate': {
      const dreg = n(1) ?? 0;
      const data = nested(d.get(2));
      if (dreg === 0) return { op: 'verdict', verdict: verdictOf(nested(data.get(2))) };
      return { op: 'imm', dreg, data: data.get(1) ?? Buffer.alloc(0) };
    }
    case 'reject':
      return { op: 'verdict', verdict: { kind: 'drop' }, word: 'reject' };
    case 'queue':
      return { op: 'verdict', verdict: { kind: 'unknown', what: 'queued to a program' } };
    case 'target': {
      const t = str(d.get(1));
      return { op: 'verdict', verdict: t === 'REJECT' ? { kind: 'drop' } : { kind: 'unknown', what: `target ${t}` } };
    }
    default:
      if (NEUTRAL.has(name)) return { op: 'nop' };
      // fib, socket, rt, exthdr, hash, numgen, osf, ...: a value island cannot know
      if (
        d.has(1) &&
        ['fib', 'socket', 'rt', 'exthdr', 'hash', 'numgen', 'osf', 'xfrm', 'tunnel', 'inner'].includes(name)
      )
        return { op: 'unknown-load', dreg: n(1) ?? 1, what: name };
      // limit, quota, connlimit, xt matches, ...: a test island cannot read
      return { op: 'cond', what: name };
  }
}

function verdictOf(v: Map<number, Buffer>): Verdict {
  const code = (readBe32(v.get(1)) ?? 1) | 0;
  const chain = str(v.get(2));
  switch (code) {
    case 0:
      return { kind: 'drop' };
    case 1:
      return { kind: 'accept' };
    case -3:
      return { kind: 'jump', chain };
    case -4:
      return { kind: 'goto', chain };
    case -5:
      return { kind: 'return' };
    case -1:
    case -2:
      return { kind: 'continue' };
    default:
      return { kind: 'unknown', what: `verdict ${code}` };
  }
}

// ---------------------------------------------------------------------------------------------
// running a rule on a flow

/** Bytes with the bits known of them: `mask` bit 1 = that bit of `val` is known. */
interface Known {
  val: Buffer;
  mask: Buffer;
}

const unknown = (len: number): Known => ({ val: Buffer.alloc(len), mask: Buffer.alloc(len) });
const known = (val: Buffer): Known => ({ val, mask: Buffer.alloc(val.length, 0xff) });

/** Byte offset of a register in the register file (NFT_REG_1..4: 16 bytes; NFT_REG32_00..15: 4). */
const regAt = (r: number) => (r <= 4 ? r * 16 : (r - 8 + 4) * 4);
const REG_BYTES = 80;

function prefix(p: { address: string; prefixlen: number } | undefined, len: number): Known {
  if (!p) return unknown(len);
  const val = ipToBuffer(p.address);
  const mask = Buffer.alloc(val.length);
  for (let i = 0; i < mask.length; i++) mask[i] = 0xff & (0xff << Math.max(0, 8 - Math.max(0, p.prefixlen - i * 8)));
  return { val, mask };
}

/** What is known of the flow's network header (IPv4: 20 bytes; IPv6: 40, no extension headers). */
function networkHeader(f: Flow): Known {
  const v6 = f.family === 6;
  const h = unknown(v6 ? 40 : 20);
  const put = (at: number, k: Known) => {
    k.val.copy(h.val, at);
    k.mask.copy(h.mask, at);
  };
  if (f.proto !== undefined) put(v6 ? 6 : 9, known(Buffer.from([f.proto])));
  put(v6 ? 8 : 12, prefix(f.saddr, v6 ? 16 : 4));
  put(v6 ? 24 : 16, prefix(f.daddr, v6 ? 16 : 4));
  return h;
}

function meta(key: number, f: Flow): Known {
  const name = (n: string | undefined) => {
    if (n === undefined) return unknown(16);
    const b = Buffer.alloc(16);
    b.write(n, 'latin1');
    return known(b);
  };
  switch (key) {
    case 6:
      return name(f.iif);
    case 7:
      return name(f.oif);
    case 16:
      return f.proto === undefined ? unknown(1) : known(Buffer.from([f.proto]));
    case 15:
      return known(Buffer.from([f.family === 6 ? 10 : 2]));
    case 1: {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(f.family === 6 ? 0x86dd : 0x0800);
      return known(b);
    }
    default:
      return unknown(4);
  }
}

function load(e: Expr & { op: 'payload' }, f: Flow): Known {
  let h: Known;
  if (e.base === 1) h = networkHeader(f);
  else if (e.base === 2 && f.dport !== undefined && (f.proto === 6 || f.proto === 17)) {
    h = unknown(4);
    h.val.writeUInt16BE(f.dport, 2);
    h.mask.writeUInt16BE(0xffff, 2);
  } else return unknown(e.len);
  const out = unknown(e.len);
  h.val.copy(out.val, 0, e.offset, e.offset + e.len);
  h.mask.copy(out.mask, 0, e.offset, e.offset + e.len);
  return out;
}

/** Equal, for the bits known; yes only when every compared bit is known. */
function equal(k: Known, data: Buffer): Match {
  let all = true;
  for (let i = 0; i < data.length; i++) {
    const m = k.mask[i] ?? 0;
    if (((k.val[i] ?? 0) ^ (data[i] ?? 0)) & m) return 'no';
    if (m !== 0xff) all = false;
  }
  return all ? 'yes' : 'maybe';
}

function complete(k: Known, len: number): boolean {
  for (let i = 0; i < len; i++) if (k.mask[i] !== 0xff) return false;
  return true;
}

function rule(exprs: Expr[], sets: Map<string, NftSet>, handle: bigint | undefined): Rule {
  const last = [...exprs].reverse().find((e) => e.op === 'verdict' || (e.op === 'lookup' && e.map && e.dreg === 0));
  const verdict: Verdict =
    last?.op === 'verdict'
      ? last.verdict
      : last?.op === 'lookup'
        ? { kind: 'unknown', what: `verdict map @${last.set}` }
        : { kind: 'continue' };
  const run = (f: Flow): { match: Match; verdict: Verdict } => {
    let found: Verdict | undefined;
    const m = test(f, (v) => {
      found = v;
    });
    return { match: m, verdict: found ?? verdict };
  };
  return {
    verdict,
    text: `${describe(exprs, verdict)}${handle === undefined ? '' : ` (handle ${handle})`}`,
    match: (f) => run(f).match,
    decide: run,
  };

  /** The rule's tests on the flow; a verdict map that surely has the flow's key gives its verdict. */
  function test(f: Flow, mapped: (v: Verdict) => void): Match {
    const regs = unknown(REG_BYTES);
    const read = (r: number, len: number): Known => {
      const at = regAt(r);
      return { val: regs.val.subarray(at, at + len), mask: regs.mask.subarray(at, at + len) };
    };
    const write = (r: number, k: Known) => {
      const at = regAt(r);
      k.val.copy(regs.val, at);
      k.mask.copy(regs.mask, at);
      // the kernel zeroes the rest of a register's last 32-bit word (nft_reg_store8, payload loads)
      const end = at + k.val.length;
      regs.val.fill(0, end, Math.min(REG_BYTES, (end + 3) & ~3));
      regs.mask.fill(0xff, end, Math.min(REG_BYTES, (end + 3) & ~3));
    };
    let out: Match = 'yes';
    const and = (m: Match) => {
      if (m === 'maybe') out = 'maybe';
      return m === 'no';
    };
    for (const e of exprs) {
      switch (e.op) {
        case 'meta':
          write(e.dreg, meta(e.key, f));
          break;
        case 'payload':
          write(e.dreg, load(e, f));
          break;
        case 'ct': {
          // conntrack state, host byte order: NEW (bit 3) for a connection's first packet, ESTABLISHED (bit 1)
          const b = Buffer.alloc(4);
          b.writeUInt32LE(f.ct === 'established' ? 0x02 : 0x08);
          write(e.dreg, e.key === 0 ? known(b) : unknown(4));
          break;
        }
        case 'imm':
          write(e.dreg, known(e.data));
          break;
        case 'unknown-load':
          write(e.dreg, unknown(16));
          break;
        case 'bitwise': {
          const src = read(e.sreg, e.len);
          if (e.bop !== 0 || !e.mask || !e.xor) {
            write(e.dreg, unknown(e.len));
            break;
          }
          const res = unknown(e.len);
          for (let i = 0; i < e.len; i++) {
            const m = e.mask[i] ?? 0;
            res.val[i] = ((src.val[i] ?? 0) & m) ^ (e.xor[i] ?? 0);
            // a bit masked off is known (it is the xor's); one kept is known if it was
            res.mask[i] = (~m & 0xff) | ((src.mask[i] ?? 0) & m);
          }
          write(e.dreg, res);
          break;
        }
        case 'cmp': {
          const k = read(e.sreg, e.data.length);
          let m: Match;
          if (e.cop === 0) m = equal(k, e.data);
          else if (e.cop === 1) m = equal(k, e.data) === 'yes' ? 'no' : equal(k, e.data) === 'no' ? 'yes' : 'maybe';
          else if (!complete(k, e.data.length)) m = 'maybe';
          else {
            const c = Buffer.compare(k.val, e.data);
            const ok = [false, false, c < 0, c <= 0, c > 0, c >= 0][e.cop];
            m = ok === undefined ? 'maybe' : ok ? 'yes' : 'no';
          }
          if (and(m)) return 'no';
          break;
        }
        case 'range': {
          const k = read(e.sreg, e.from.length);
          let m: Match = 'maybe';
          if (complete(k, e.from.length)) {
            const inside = Buffer.compare(k.val, e.from) >= 0 && Buffer.compare(k.val, e.to) <= 0;
            m = inside === (e.rop === 0) ? 'yes' : 'no';
          }
          if (and(m)) return 'no';
          break;
        }
        case 'lookup': {
          if (e.map && e.dreg !== 0) {
            // a data map: its value is not known, and a key it lacks ends the rule
            if (e.dreg !== undefined) write(e.dreg, unknown(16));
            and('maybe');
            break;
          }
          const s = sets.get(e.set);
          if (e.map) {
            // a verdict map: the element the flow surely has decides; none at all: no match
            const ms = (s?.elements ?? []).map((x) => ({ x, m: equal(read(e.sreg, s?.keyLen ?? 0), x.key) }));
            const hit = s?.interval ? undefined : ms.find((y) => y.m === 'yes');
            if (hit?.x.verdict) mapped(hit.x.verdict);
            else if (s && !s.interval && ms.every((y) => y.m === 'no')) return 'no';
            else and('maybe');
            break;
          }
          let m: Match = 'maybe';
          if (s) {
            const k = read(e.sreg, s.keyLen);
            if (!s.interval) {
              const ms = s.elements.map((x) => equal(k, x.key));
              m = ms.includes('yes') ? 'yes' : ms.every((x) => x === 'no') ? 'no' : 'maybe';
            } else if (complete(k, s.keyLen)) {
              const v = Buffer.from(k.val);
              m = s.elements.some((x) => Buffer.compare(v, x.key) >= 0 && (!x.end || Buffer.compare(v, x.end) < 0))
                ? 'yes'
                : 'no';
            }
          }
          if (and(e.inv ? (m === 'yes' ? 'no' : m === 'no' ? 'yes' : 'maybe') : m)) return 'no';
          break;
        }
        case 'cond':
          and('maybe');
          break;
        default:
          break;
      }
    }
    return out;
  }
}

/** A short reading of a rule for messages, close to nft's: `iifname "eth0" drop`, `ip saddr 10.0.0.0/8 drop`. */
function describe(exprs: Expr[], v: Verdict): string {
  const parts: string[] = [];
  let loaded: { what: string; show: (b: Buffer) => string } | undefined;
  let v6: boolean | undefined;
  let mask: Buffer | undefined;
  const hex = (b: Buffer) => `0x${b.toString('hex')}`;
  const addr = (name: string, six: boolean) => ({
    what: name,
    show: (b: Buffer) => {
      const full = Buffer.alloc(six ? 16 : 4);
      b.copy(full);
      const bits = mask ? [...mask].reduce((n, x) => n + x.toString(2).replace(/0/g, '').length, 0) : b.length * 8;
      const text = six
        ? (full.toString('hex').match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':')
        : [...full].join('.');
      return bits === full.length * 8 ? text : `${text}/${bits}`;
    },
  });
  for (const e of exprs) {
    if (e.op === 'meta') {
      mask = undefined;
      const name: Record<number, string> = { 6: 'iifname', 7: 'oifname', 16: 'meta l4proto', 15: 'meta nfproto' };
      const n = name[e.key] ?? 'meta';
      loaded = {
        what: n,
        show: (b) =>
          n.endsWith('name') ? `"${str(b)}"` : n === 'meta nfproto' ? (b[0] === 10 ? 'ipv6' : 'ipv4') : hex(b),
      };
      if (e.key === 16) loaded.show = (b) => ({ 6: 'tcp', 17: 'udp', 4: 'ipencap' })[b[0] ?? 0] ?? String(b[0]);
    } else if (e.op === 'payload') {
      mask = undefined;
      const six = v6 ?? false;
      const ip = six ? 'ip6' : 'ip';
      const [s0, d0, p0] = six ? [8, 24, 6] : [12, 16, 9];
      if (e.base === 1 && e.offset === s0) loaded = addr(`${ip} saddr`, six);
      else if (e.base === 1 && e.offset === d0) loaded = addr(`${ip} daddr`, six);
      else if (e.base === 1 && e.offset === p0) loaded = { what: `${ip} protocol`, show: (b) => String(b[0]) };
      else if (e.base === 2 && e.offset === 2 && e.len === 2)
        loaded = { what: 'th dport', show: (b) => String(b.readUInt16BE(0)) };
      else loaded = { what: `payload @${e.base}:${e.offset}`, show: hex };
    } else if (e.op === 'ct') loaded = { what: e.key === 0 ? 'ct state' : 'ct', show: hex };
    else if (e.op === 'bitwise') mask = e.mask;
    else if (e.op === 'cmp' && loaded) {
      if (loaded.what === 'meta nfproto') v6 = e.data[0] === 10;
      const op = ['', '!= ', '< ', '<= ', '> ', '>= '][e.cop] ?? '? ';
      parts.push(`${loaded.what} ${op}${loaded.show(e.data)}`);
    } else if (e.op === 'lookup' && !(e.map && e.dreg === 0) && loaded)
      parts.push(`${loaded.what} ${e.inv ? '!= ' : ''}@${e.set}`);
    else if (e.op === 'lookup' && loaded) parts.push(`${loaded.what} vmap @${e.set}`);
    else if (e.op === 'range' && loaded) parts.push(`${loaded.what} ${loaded.show(e.from)}-${loaded.show(e.to)}`);
    else if (e.op === 'cond') parts.push(e.what);
  }
  const word = exprs.find((e): e is Expr & { op: 'verdict' } => e.op === 'verdict' && e.word !== undefined)?.word;
  const verdict =
    word ??
    (v.kind === 'jump' || v.kind === 'goto'
      ? `${v.kind} ${v.chain}`
      : v.kind === 'unknown'
        ? v.what
        : v.kind === 'continue'
          ? ''
          : v.kind);
  // the vmap rule's own verdict is in its map: say the map, not "verdict map @x" twice
  return [...parts, parts.some((p) => p.includes(' vmap @')) ? '' : verdict].filter(Boolean).join(' ') || 'rule';
}
