/**
 * iptables-nft.ts's pure half: a kernel view is spelt in iptables-save's words only when every
 * rule in it was paired with them before, from a read made within one generation.
 */
import t, { type Test } from 'tap';
import {
  currentLook,
  followNotification,
  forgetIptablesNftWords,
  forgetNotifications,
  learn,
  nativeComment,
  type Seen,
  spell,
} from '../../src/firewall/iptables-nft.js';
import { FILTER } from '../../src/firewall/model.js';
import { readsTable } from '../../src/firewall/nftables.js';
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

const handle = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(n, 4);
  return b;
};
const gen = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return followNotification((10 << 8) | 15, Buffer.concat([Buffer.alloc(4), encodeAttrs([[1, b]])]));
};
const rule = (msg: number, h: number, o: { table?: string; nfproto?: number } = {}) =>
  followNotification(
    (10 << 8) | msg,
    Buffer.concat([
      Buffer.from([o.nfproto ?? 2, 0, 0, 0]),
      encodeAttrs([
        [1, cstr(o.table ?? 'filter')],
        [2, cstr('FORWARD')],
        [3, handle(h)],
      ]),
    ]),
  );
const DELRULE = 8;
const NEWRULE = 6;

/** a look at generation 5 with the jump (handle 3) and the accept (handle 4), learnt and current */
function followed(t: Test) {
  forgetIptablesNftWords();
  const s = seen(5, [
    { chain: 'FORWARD', key: 'jump', handle: handle(3) },
    { chain: 'ISLAND-FORWARD', key: 'accept', handle: handle(4) },
  ] as never);
  gen(4);
  learn(s, { ok: true, chains: saved([JUMP], [ACCEPT]) }, s);
  t.equal(currentLook(4, [FILTER]), undefined, 'a look the notifications have not reached yet is read again');
  gen(5);
  t.ok(currentLook(4, [FILTER]), 'current once its generation is told');
}

t.test('a transaction that only deleted rules of the look is applied to it: no read', async (t) => {
  followed(t);
  rule(DELRULE, 3);
  t.equal(currentLook(4, [FILTER]), undefined, 'a transaction told in part: read');
  rule(NEWRULE, 9, { table: 'nat' });
  rule(DELRULE, 9, { nfproto: 10 });
  gen(6);
  const look = currentLook(4, [FILTER]);
  t.equal(look?.gen, 6, "the flush's generation: the repair is written on it");
  t.strictSame(
    look?.tables[0]?.rules.map((r) => r.key),
    ['accept'],
    'the deleted jump is gone; the other tables and families changed nothing',
  );
  t.equal(spell(look as Seen)?.chains.get('FORWARD')?.rules.length, 0, 'spelt as iptables-nft-save would');
  t.ok(currentLook(4, [FILTER]), 'still current after spelling it');
  t.equal(currentLook(4, [FILTER, { ...FILTER, name: 'mangle' }]), undefined, 'a look of other tables is read');
  gen(7);
  t.equal(currentLook(4, [FILTER])?.gen, 7, "another table's transaction moves the generation only");
});

t.test('anything else makes the next look a read', async (t) => {
  followed(t);
  rule(NEWRULE, 10);
  gen(6);
  t.equal(currentLook(4, [FILTER]), undefined, 'a rule added');
  followed(t);
  rule(DELRULE, 42);
  gen(6);
  t.equal(currentLook(4, [FILTER]), undefined, 'a rule the look does not hold');
  followed(t);
  gen(7);
  t.equal(currentLook(4, [FILTER]), undefined, 'a generation missed');
  followed(t);
  forgetNotifications();
  t.equal(currentLook(4, [FILTER]), undefined, 'notifications lost');
});

t.test("the other tables' read is kept until a notification is about one of them", async (t) => {
  t.ok(readsTable(1, 'filter'), 'an inet table, whatever its name');
  t.ok(readsTable(2, 'firewalld'), "an ip table that is not iptables'");
  t.notOk(readsTable(2, 'filter'), "iptables-nft's filter: island's own look follows it");
  t.notOk(readsTable(10, 'nat'), "iptables-nft's nat");
  t.notOk(readsTable(7, 'x'), 'a bridge table: not read');
});
