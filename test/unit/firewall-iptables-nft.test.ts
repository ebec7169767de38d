/**
 * iptables-nft.ts's pure half: a kernel view is spelt in iptables-save's words only when every
 * rule in it was paired with them before, from a read made within one generation.
 */
import t from 'tap';
import { forgetIptablesNftWords, learn, nativeComment, type Seen, spell } from '../../src/firewall/iptables-nft.js';
import type { SavedTable } from '../../src/firewall/types.js';
import { cstr, decodeAttrList, decodeAttrs, encodeAttrs, NLA_F_NESTED } from '../../src/netlink/nla.js';

const JUMP = '-m comment --comment island -j ISLAND-FORWARD';
const ACCEPT = '-i cni0 -m comment --comment island -j ACCEPT';

const seen = (gen: number, rules: { chain: string; key: string; keep?: boolean }[], o: { builtin?: boolean } = {}) =>
  ({
    family: 4,
    gen,
    tables: [
      {
        table: 'filter',
        chains: [
          { name: 'ISLAND-FORWARD', builtin: true },
          { name: 'FORWARD', policy: 'DROP', builtin: o.builtin ?? true },
        ],
        rules: rules.map((r) => ({ keep: true, exprs: Buffer.alloc(0), ...r })),
      },
    ],
  }) satisfies Seen;

const saved = (forward: string[], island: string[]): SavedTable =>
  new Map([
    ['INPUT', { policy: 'ACCEPT', rules: [] }],
    ['FORWARD', { policy: 'DROP', rules: forward }],
    ['OUTPUT', { policy: 'ACCEPT', rules: [] }],
    ['ISLAND-FORWARD', { policy: '-', rules: island }],
  ]);

const BOTH = [
  { chain: 'FORWARD', key: 'jump' },
  { chain: 'ISLAND-FORWARD', key: 'accept' },
];

t.beforeEach(() => forgetIptablesNftWords());

t.test('nothing learnt: only a view without rules is spelt', async (t) => {
  t.equal(spell(seen(1, BOTH)), undefined);
  t.strictSame(spell(seen(1, []))?.chains, saved([], []), 'built-in chains first, absent ones ACCEPT, user chains');
});

t.test('a read within one generation teaches each rule its words', async (t) => {
  learn(seen(7, BOTH), { ok: true, chains: saved([JUMP], [ACCEPT]) }, seen(7, BOTH));
  t.strictSame(spell(seen(8, BOTH))?.chains, saved([JUMP], [ACCEPT]));
  t.strictSame(spell(seen(9, BOTH.slice(1)))?.chains, saved([], [ACCEPT]), 'after a flush of FORWARD');
  t.strictSame(
    spell(seen(9, [...BOTH.slice(0, 1), ...BOTH]))?.chains,
    saved([JUMP, JUMP], [ACCEPT]),
    'a duplicate jump: each rule spelt in its place',
  );
  t.equal(spell(seen(9, [...BOTH, { chain: 'FORWARD', key: 'new' }])), undefined, 'a rule never seen');
  t.equal(spell(seen(9, BOTH, { builtin: false })), undefined, 'a base chain iptables would not call its own');
  t.equal(spell(seen(9, [{ chain: 'FORWARD', key: 'jump', keep: false }])), undefined, 'a rule looking into a set');
});

t.test('nothing is learnt from a read the ruleset changed under, or that does not pair', async (t) => {
  learn(seen(7, BOTH), { ok: true, chains: saved([JUMP], [ACCEPT]) }, seen(8, BOTH));
  t.equal(spell(seen(8, BOTH)), undefined, 'another generation after the read');
  learn(seen(7, BOTH), { ok: true, chains: saved([JUMP, JUMP], [ACCEPT]) }, seen(7, BOTH));
  t.equal(spell(seen(7, BOTH)), undefined, 'rule counts differ');
  learn(seen(7, BOTH), { ok: true, chains: saved([], [JUMP, ACCEPT]) }, seen(7, BOTH));
  t.equal(spell(seen(7, BOTH)), undefined, 'rules in another chain');
});

/** an expression as NFTA_LIST_ELEM: its name and its data */
const expr = (name: string, data: [number, Buffer][] = []): [number, Buffer] => [
  1 | NLA_F_NESTED,
  encodeAttrs([[1, cstr(name)], ...(data.length ? [[2 | NLA_F_NESTED, encodeAttrs(data)] as [number, Buffer]] : [])]),
];
const xtComment = (text: string) => {
  const info = Buffer.alloc(256);
  info.write(text);
  return expr('match', [
    [1, cstr('comment')],
    [2, Buffer.alloc(4)],
    [3, info],
  ]);
};
const names = (exprs: Buffer) => decodeAttrList(exprs).map(([, e]) => decodeAttrs(e).get(1)?.toString());

t.test(
  "xt's comment match is written as nftables' own comment, where iptables-nft-save prints it in the same place",
  async (t) => {
    const meta = expr('meta', [[1, Buffer.from([0, 0, 0, 6])]]);
    const jump = encodeAttrs([meta, xtComment('island'), expr('counter'), expr('immediate')]);
    const r = nativeComment(jump, undefined);
    t.strictSame(names(r.exprs), ['meta\0', 'counter\0', 'immediate\0'], 'the xt match is gone, the rest in order');
    t.strictSame([...(r.udata ?? [])], [0, 7, ...Buffer.from('island\0')], 'NFTNL_UDATA_RULE_COMMENT');
    const again = nativeComment(r.exprs, r.udata);
    t.equal(again.exprs, r.exprs, 'a rule written so is left as it is');
    const other = Buffer.from([1, 2, 9, 9]);
    t.strictSame(
      [...(nativeComment(jump, Buffer.concat([Buffer.from([0, 2, 120, 0]), other])).udata ?? [])],
      [0, 7, ...Buffer.from('island\0'), ...other],
      "the user data's other entries stay, its old comment goes",
    );
    // a match after the comment: iptables-nft-save would print the comment after it
    const before = encodeAttrs([xtComment('island'), expr('match', [[1, cstr('tcp')]]), expr('counter')]);
    t.equal(nativeComment(before, undefined).exprs, before, 'not the last match: unchanged');
    t.equal(nativeComment(encodeAttrs([meta, expr('counter')]), undefined).udata, undefined, 'no comment: unchanged');
  },
);
