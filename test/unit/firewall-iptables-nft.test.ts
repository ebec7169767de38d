/**
 * iptables-nft.ts's pure half: a kernel view is spelt in iptables-save's words only when every
 * rule in it was paired with them before, from a read made within one generation.
 */
import t from 'tap';
import { forgetIptablesNftWords, learn, type Seen, spell } from '../../src/firewall/iptables-nft.js';
import type { SavedTable } from '../../src/firewall/types.js';

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
