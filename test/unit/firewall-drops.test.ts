/**
 * What kills the island's traffic, on paper (issue 10, items 7, 8, 9, 11): ISLAND-INPUT for the
 * tunnels' own packets, reading iptables rules for what they do to island's flows (ufw's real
 * ruleset included), island's part kept in both backends when both may drop, the INPUT finding
 * when island keeps no ISLAND-INPUT, other nftables tables' base chains, and the hint after a
 * flush. The nftables netlink reading itself is tested on the kernel (nftables-read.test.ts).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { planFirewall } from '../../src/firewall/diff.js';
import {
  acceptCommands,
  dropHeadline,
  inputDrops,
  isDropFinding,
  mayDrop,
  outputDrops,
} from '../../src/firewall/drops.js';
import { iptablesChains, iptablesRule, words } from '../../src/firewall/iptables-rules.js';
import type { NftRuleset } from '../../src/firewall/nftables.js';
import { desiredFirewall } from '../../src/firewall/render.js';
import { filterTable, normalize } from '../../src/firewall/save.js';
import type { FirewallStatus, Flow, LiveFirewall, LiveTable } from '../../src/firewall/types.js';
import { evaluate, sureDrops } from '../../src/firewall/verdict.js';
import { describeAction } from '../../src/reconcile/describe.js';

function config(text: string): Config {
  const r = parseConfig(text, 'island.toml');
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`).join('\n'));
  return r.config;
}

const TUNNELS = `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "192.0.2.2"
addresses = ["10.30.30.1/30"]

[[tunnel]]
name = "ip0"
kind = "ipip"
local = "192.0.2.1"
remote = "198.51.100.7"

[[tunnel]]
name = "vx6"
kind = "vxlan"
vni = 43
local = "2001:db8::1"
remote = "2001:db8::2"
port = 5533

[[tunnel]]
name = "mc0"
kind = "vxlan"
vni = 44
local = "192.0.2.1"
remote = "239.1.1.1"
dev = "eth0"

[[tunnel]]
name = "gr0"
kind = "gre"
local = "192.0.2.1"
remote = "203.0.113.9"
key = 5
`;
const FORWARD = '\n[forward]\naccept = ["vx0"]\n';
const TAG = '-m comment --comment island -j ACCEPT';

t.test('ISLAND-INPUT: one accept per tunnel for its own packets, in its family, unless input = false', async (t) => {
  const fw = desiredFirewall(config(TUNNELS + FORWARD));
  t.strictSame(fw.tables[4].chains, [
    { name: 'ISLAND-FORWARD', rules: [`-i vx0 ${TAG}`, `-o vx0 ${TAG}`], from: 'FORWARD' },
    {
      name: 'ISLAND-INPUT',
      rules: [
        `-s 192.0.2.2/32 -p udp -m udp --dport 4789 ${TAG}`,
        `-s 198.51.100.7/32 -p 4 ${TAG}`,
        `-d 239.1.1.1/32 -p udp -m udp --dport 4789 ${TAG}`,
        `-s 203.0.113.9/32 -p 47 ${TAG}`,
      ],
      from: 'INPUT',
    },
    {
      name: 'ISLAND-MSS',
      rules: ['vx0', 'ip0', 'vx6', 'mc0', 'gr0'].map(
        (n) =>
          `-o ${n} -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment island -j TCPMSS --clamp-mss-to-pmtu`,
      ),
      from: 'FORWARD',
    },
  ]);
  t.strictSame(
    fw.tables[6].chains,
    [{ name: 'ISLAND-INPUT', rules: [`-s 2001:db8::2/128 -p udp -m udp --dport 5533 ${TAG}`], from: 'INPUT' }],
    'an IPv6 underlay: ip6tables gets the INPUT accept, and no FORWARD chain (no IPv6 inside)',
  );
  t.strictSame(
    fw.flows.filter((f) => f.hook === 'input').map((f) => f.label),
    [
      "vx0's packets (udp 4789 from 192.0.2.2)",
      "ip0's packets (ipip from 198.51.100.7)",
      "vx6's packets (udp 5533 from 2001:db8::2)",
      "mc0's packets (udp 4789 to 239.1.1.1)",
      "gr0's packets (gre from 203.0.113.9)",
    ],
  );
  const off = desiredFirewall(config(`${TUNNELS + FORWARD}input = false\n`));
  t.strictSame(
    off.tables[4].chains.map((c) => c.name),
    ['ISLAND-FORWARD', 'ISLAND-MSS'],
    'input = false: no ISLAND-INPUT',
  );
  t.strictSame(off.tables[6].chains, []);
  const unclamped = desiredFirewall(config(`${TUNNELS + FORWARD}clamp_mss = false\n`));
  t.notOk(
    unclamped.tables[4].chains.some((c) => c.name === 'ISLAND-MSS'),
    'clamp_mss = false: no ISLAND-MSS',
  );
  const none = desiredFirewall(config(TUNNELS));
  t.strictSame(none.tables[4].chains, [], 'no [forward]: no chain at all');
  t.equal(
    none.flows.length,
    10,
    "but the tunnels' packets, in and out, are still looked after (status says what drops them)",
  );
  t.equal(
    normalize(`-s 198.51.100.7/32 -p ipencap ${TAG}`),
    `-s 198.51.100.7/32 -p 4 ${TAG}`,
    'as iptables-save names it',
  );
});

const UFW = filterTable(readFileSync(new URL('../fixtures/firewall/ufw-enable.rules', import.meta.url), 'utf8'));
const vx: Flow = {
  hook: 'input',
  family: 4,
  saddr: { address: '192.0.2.2', prefixlen: 32 },
  daddr: { address: '192.0.2.1', prefixlen: 32 },
  proto: 17,
  dport: 4789,
  label: "vx0's packets",
};
const fwdIn: Flow = { hook: 'forward', family: 4, iif: 'vx0', label: 'in vx0' };

t.test('reading iptables rules: what ufw does to a tunnel and to forwarded traffic', async (t) => {
  t.strictSame(words('-m comment --comment "a \\"b\\" c" -j X'), ['-m', 'comment', '--comment', 'a "b" c', '-j', 'X']);
  const chains = iptablesChains(UFW);
  const input = evaluate(chains, 'INPUT', vx);
  t.strictSame(
    sureDrops(input).map((d) => `${d.chain}: ${d.cause}`),
    ['INPUT: policy drop'],
    "ufw enable: INPUT's policy drops the VXLAN packets (ufw-not-local returns: they are for this host)",
  );
  t.ok(input.accept, '-i lo may accept them (the flow has no known in-interface): possible, not sure');
  // what `ufw allow 4789/udp` adds
  const allowed = new Map(UFW);
  allowed.set('ufw-user-input', { policy: '-', rules: ['-p udp -m udp --dport 4789 -j ACCEPT'] });
  t.strictSame(sureDrops(evaluate(iptablesChains(allowed), 'INPUT', vx)), [], 'after ufw allow 4789/udp: not dropped');
  t.equal(sureDrops(evaluate(chains, 'FORWARD', fwdIn)).length, 1, 'routed traffic: policy DROP');
  t.ok(mayDrop(UFW, 'FORWARD', [fwdIn], 4), 'so a FORWARD that may drop');
  t.notOk(mayDrop(UFW, 'FORWARD', [{ ...fwdIn, family: 6 }], 4), 'in its own family only');

  const open = filterTable(
    '*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n',
  );
  t.notOk(mayDrop(open, 'FORWARD', [fwdIn], 4), 'policy ACCEPT and rules that only return: nothing dropped');
  const kube = filterTable(
    [
      '*filter',
      ':FORWARD ACCEPT [0:0]',
      ':KUBE-FORWARD - [0:0]',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      '-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT',
      'COMMIT',
    ].join('\n'),
  );
  t.notOk(mayDrop(kube, 'FORWARD', [fwdIn], 4), "kube-proxy's INVALID drop does not touch a new connection");
  const docker = filterTable(
    [
      '*filter',
      ':FORWARD ACCEPT [0:0]',
      ':DOCKER-ISOLATION-STAGE-1 - [0:0]',
      '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
      '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DROP',
      '-A FORWARD -m mark --mark 0x1 -j DROP',
      'COMMIT',
    ].join('\n'),
  );
  const o = evaluate(iptablesChains(docker), 'FORWARD', fwdIn);
  t.strictSame(
    o.drops.map((d) => [d.cause, d.sure]),
    [['-m mark --mark 0x1 -j DROP', false]],
    "docker's isolation drop is for docker0 only; a drop on a mark island cannot read is possible, not sure",
  );
  t.ok(mayDrop(docker, 'FORWARD', [fwdIn], 4), 'and a possible drop is enough to keep island there');
  const r = iptablesRule('! -s 10.0.0.0/8 -i vx+ -p udp -m udp --dport 4000:5000 -j DROP', new Set());
  t.equal(r.match({ ...vx, iif: 'vx0' }), 'yes', 'negation, wildcard, port range');
  t.equal(r.match({ ...vx, iif: 'eth0' }), 'no');
  t.equal(r.match({ ...vx, iif: undefined }), 'maybe');
});

/** A filter table from iptables-save lines (the frame added). */
function table(lines: string[], policies = { INPUT: 'ACCEPT', FORWARD: 'ACCEPT' }): LiveTable & { ok: true } {
  return {
    ok: true,
    chains: filterTable(
      `*filter\n:INPUT ${policies.INPUT} [0:0]\n:FORWARD ${policies.FORWARD} [0:0]\n${lines.join('\n')}\nCOMMIT\n`,
    ),
  };
}
const ISLAND = [
  ':ISLAND-FORWARD - [0:0]',
  '-A FORWARD -m comment --comment island -j ISLAND-FORWARD',
  `-A ISLAND-FORWARD -i vx0 ${TAG}`,
  `-A ISLAND-FORWARD -o vx0 ${TAG}`,
];
const ONE = `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "192.0.2.2"
addresses = ["10.30.30.1/30"]
${FORWARD}`;

t.test('mixed hosts: island keeps its part in each backend whose FORWARD or INPUT may drop', async (t) => {
  const want = desiredFirewall(config(`${ONE}input = false\n`));
  const live = (legacy: LiveTable): LiveFirewall => ({
    backend: 'nft',
    why: 'set in the file',
    tables: { 4: table(ISLAND) },
    other: { backend: 'legacy', tables: { 4: legacy } },
  });
  const docker = planFirewall(
    want,
    live(table(['-A FORWARD -j DOCKER-USER', ':DOCKER-USER - [0:0]'], { INPUT: 'ACCEPT', FORWARD: 'DROP' })),
  );
  t.strictSame(docker.status[0], {
    id: { type: 'firewall', part: 'backend' },
    object: 'firewall backend',
    state: 'ok',
    detail: "nft and legacy (both hold FORWARD rules that could drop island's traffic): nft: set in the file",
  });
  t.strictSame(
    docker.actions.map((a) => describeAction(a)),
    [
      '+ firewall ipv4 chain ISLAND-FORWARD (legacy) (2 rules)',
      '+ firewall ipv4 FORWARD jump (legacy) (→ ISLAND-FORWARD, first in FORWARD)',
    ],
    "legacy's FORWARD policy DROP: island's accepts go there too, named after it",
  );
  t.ok(docker.actions.every((a) => a.batch.backend === 'legacy'));
  t.strictSame(
    docker.status.filter((s) => !s.object.endsWith('(legacy)')).map((s) => [s.object, s.state]),
    [
      ['firewall backend', 'ok'],
      ['firewall ipv4 chain ISLAND-FORWARD', 'ok'],
      ['firewall ipv4 FORWARD jump', 'ok'],
    ],
    "the host's backend as before",
  );

  const quiet = planFirewall(want, live(table(['-A INPUT -j ACCEPT'])));
  t.strictSame(quiet.actions, [], 'a legacy table that drops nothing gets nothing');
  t.match(quiet.status[0]?.detail, /^nft: /, 'and the backend line names one backend');

  const leftover = planFirewall(want, live(table(ISLAND)));
  t.strictSame(
    leftover.actions.map((a) => describeAction(a)),
    [
      '- firewall ipv4 FORWARD jump (legacy) (no longer in the file)',
      '- firewall ipv4 chain ISLAND-FORWARD (legacy) (no longer in the file)',
    ],
    'once that backend drops nothing any more, island takes its part there away',
  );
});

t.test("INPUT: where island keeps no ISLAND-INPUT, status says that INPUT drops the tunnel's packets", async (t) => {
  const drop = { INPUT: 'DROP', FORWARD: 'ACCEPT' };
  const off = desiredFirewall(config(`${ONE}input = false\n`));
  const p = planFirewall(off, {
    backend: 'nft',
    why: 'x',
    tables: { 4: table([...ISLAND, '-A INPUT -i lo -j ACCEPT'], drop) },
  });
  const finding = p.status.find(isDropFinding);
  t.strictSame(finding, {
    id: { type: 'firewall', part: 'drops', family: 4, chain: 'INPUT' },
    object: 'firewall ipv4 INPUT',
    state: 'blocked',
    detail:
      "iptables-nft INPUT drops vx0's packets (udp 4789 from 192.0.2.2) (policy DROP): the tunnel cannot carry anything; " +
      'set [forward] input = true (the default) and island keeps an accept for them (ISLAND-INPUT), or accept them in INPUT yourself',
  });
  const drops = { type: 'firewall', part: 'drops', family: 4, chain: 'INPUT', backend: 'legacy' } as const;
  t.ok(isDropFinding({ id: drops, state: 'blocked' }));
  t.notOk(isDropFinding({ id: { type: 'link', name: 'INPUT' }, state: 'blocked' }), 'a link named INPUT is a link');
  t.notOk(
    isDropFinding({ id: { type: 'firewall', part: 'jump', family: 4, from: 'INPUT' }, state: 'missing' }),
    "island's own jump is island's",
  );
  const none = desiredFirewall(config(ONE.replace(FORWARD, '')));
  const q = planFirewall(none, { backend: 'nft', why: 'x', tables: { 4: table([], drop) } });
  t.strictSame(
    q.status.map((s) => s.object),
    ['firewall ipv4 INPUT'],
    'without [forward] too, and then with no backend line (island writes nothing)',
  );
  t.match(q.status[0]?.detail, /with a \[forward\] section island keeps an accept/);
  t.strictSame(
    inputDrops(
      table(['-A INPUT -s 192.0.2.2/32 -p udp -m udp --dport 4789 -j ACCEPT'], drop).chains as never,
      none.flows,
      {
        backend: 'legacy',
        family: 4,
        other: false,
        forward: false,
      },
    ),
    [],
    "the admin's own accept is enough",
  );

  // the NAT recipe: source port pinned to the destination port; ufw's ESTABLISHED accept lets the
  // peer's packets in once this host has sent (its keepalive does): not a tunnel INPUT kills
  const pinned = desiredFirewall(
    config(ONE.replace(FORWARD, '').replace('addresses =', 'port = 5533\nsource_port = 5533\naddresses =')),
  );
  t.ok(pinned.flows[0]?.answers, 'a pinned VXLAN answers');
  t.strictSame(
    inputDrops(UFW, pinned.flows, { backend: 'nft', family: 4, other: false, forward: false }),
    [],
    'ufw: not dropped once answered',
  );
  t.equal(
    inputDrops(table([], drop).chains, pinned.flows, { backend: 'nft', family: 4, other: false, forward: false })
      .length,
    1,
    'a bare policy DROP drops it either way',
  );

  const on = desiredFirewall(config(ONE));
  const r = planFirewall(on, {
    backend: 'nft',
    why: 'x',
    tables: { 4: table(ISLAND, drop) },
    other: { backend: 'legacy', tables: { 4: table([], drop) } },
  });
  t.notOk(r.status.some(isDropFinding), 'input on: no finding, island accepts them');
  t.strictSame(
    r.actions.map((a) => describeAction(a)),
    [
      '+ firewall ipv4 chain ISLAND-INPUT (1 rule)',
      '+ firewall ipv4 INPUT jump (→ ISLAND-INPUT, first in INPUT)',
      '+ firewall ipv4 chain ISLAND-INPUT (legacy) (1 rule)',
      '+ firewall ipv4 INPUT jump (legacy) (→ ISLAND-INPUT, first in INPUT)',
    ],
    'in both backends, since both INPUTs drop',
  );
  t.strictSame(r.actions[0]?.batch.lines, [
    '*filter',
    ':ISLAND-FORWARD - [0:0]',
    ':ISLAND-INPUT - [0:0]',
    '-D FORWARD -m comment --comment island -j ISLAND-FORWARD',
    '-I FORWARD 1 -m comment --comment island -j ISLAND-FORWARD',
    '-I INPUT 1 -m comment --comment island -j ISLAND-INPUT',
    `-A ISLAND-FORWARD -i vx0 ${TAG}`,
    `-A ISLAND-FORWARD -o vx0 ${TAG}`,
    `-A ISLAND-INPUT -s 192.0.2.2/32 -p udp -m udp --dport 4789 ${TAG}`,
    'COMMIT',
    // the same batch repairs the mangle table's ISLAND-MSS
    '*mangle',
    ':ISLAND-MSS - [0:0]',
    '-I FORWARD 1 -m comment --comment island -j ISLAND-MSS',
    '-A ISLAND-MSS -o vx0 -p tcp -m tcp --tcp-flags SYN,RST SYN -m comment --comment island -j TCPMSS --clamp-mss-to-pmtu',
    'COMMIT',
  ]);
});

t.test('OUTPUT: status says that OUTPUT drops what a tunnel sends (ufw default deny outgoing)', async (t) => {
  // ufw default deny outgoing: OUTPUT policy DROP, and no NEW accepts in ufw-track-output
  const text = readFileSync(new URL('../fixtures/firewall/ufw-enable.rules', import.meta.url), 'utf8')
    .replace(':OUTPUT ACCEPT', ':OUTPUT DROP')
    .replace(/^-A ufw-track-output .*\n/gm, '');
  const denyOut = filterTable(text);
  const want = desiredFirewall(config(ONE));
  const p = planFirewall(want, { backend: 'nft', why: 'x', tables: { 4: { ok: true, chains: denyOut } } });
  const row = p.status.find((s) => isDropFinding(s) && s.object === 'firewall ipv4 OUTPUT');
  t.strictSame(row, {
    id: { type: 'firewall', part: 'drops', family: 4, chain: 'OUTPUT' },
    object: 'firewall ipv4 OUTPUT',
    state: 'blocked',
    detail:
      "iptables-nft OUTPUT drops vx0's packets out (udp 4789 to 192.0.2.2) (policy DROP): the tunnel cannot carry anything; " +
      'island keeps no accept in OUTPUT: accept them there (iptables -I OUTPUT -d 192.0.2.2 -p udp --dport 4789 -j ACCEPT)',
  });
  t.equal(
    dropHeadline(row as FirewallStatus),
    "firewall ipv4 OUTPUT drops vx0's packets out: accept them in OUTPUT",
    'STATUS= in short',
  );
  const ctx = { backend: 'nft', family: 4, other: false } as const;
  const allowed = filterTable(
    text.replace('COMMIT', '-A ufw-user-output -d 192.0.2.2/32 -p udp -m udp --dport 4789 -j ACCEPT\nCOMMIT'),
  );
  t.strictSame(outputDrops(allowed, want.flows, ctx), [], 'the fix as it says');
  t.strictSame(outputDrops(UFW, want.flows, ctx), [], 'ufw allowing outgoing');
  // a pinned VXLAN whose peer sends first: ufw's ESTABLISHED accept lets its answers out
  const pinned = desiredFirewall(config(ONE.replace('addresses =', 'port = 5533\nsource_port = 5533\naddresses =')));
  t.strictSame(outputDrops(denyOut, pinned.flows, ctx), [], 'answers');
  t.equal(
    outputDrops(filterTable('*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n'), pinned.flows, {
      backend: 'legacy',
      family: 4,
      other: true,
    })[0]?.object,
    'firewall ipv4 OUTPUT (legacy)',
    'a bare policy DROP drops it either way, in either backend',
  );
});

t.test('after iptables -F, the repair says which chain an iptables -X will find busy', async (t) => {
  const want = desiredFirewall(config(ONE));
  const flushed = [':ISLAND-FORWARD - [0:0]', ':ISLAND-INPUT - [0:0]'];
  const p = planFirewall(want, { backend: 'nft', why: 'x', tables: { 4: table(flushed) } });
  t.match(
    p.actions.map((a) => describeAction(a)),
    [
      /^~ firewall ipv4 chain ISLAND-FORWARD/,
      /^~ firewall ipv4 chain ISLAND-INPUT/,
      /^\+ firewall ipv4 FORWARD jump \(→ ISLAND-FORWARD, first in FORWARD; after a flush: an "iptables -X" now fails on ISLAND-FORWARD, which this jump uses \("CHAIN_DEL failed \(Device or resource busy\)", legacy: "Too many links"\): run island down first\)$/,
      /ISLAND-INPUT, which this jump uses/,
    ],
  );
  const gone = planFirewall(want, { backend: 'nft', why: 'x', tables: { 4: table([]) } });
  t.notMatch(describeAction(gone.actions[2] as never), /after a flush/, 'a table without island (-X done) is no flush');
});

t.test("another nftables table's base chain: reported when it surely drops island's traffic", async (t) => {
  const want = desiredFirewall(config(ONE));
  const rules = (specs: string[]) => specs.map((s) => iptablesRule(s, new Set()));
  const ruleset = (policy: 'accept' | 'drop', specs: string[]): NftRuleset => ({
    tables: [
      {
        family: 'inet',
        name: 'filter',
        base: [{ family: 'inet', table: 'filter', chain: 'forward', hook: 'forward', priority: 0, policy }],
        chains: new Map([['forward', { name: 'forward', policy, rules: rules(specs) }]]),
      },
    ],
  });
  const live = (r: NftRuleset): LiveFirewall => ({
    backend: 'nft',
    why: 'x',
    tables: {},
    nft: { ok: true, ruleset: r },
  });
  const drop = planFirewall(want, live(ruleset('drop', ['-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT'])));
  t.strictSame(drop.status.filter(isDropFinding), [
    {
      id: { type: 'nftables', table: { family: 'inet', name: 'filter', chain: 'forward' } },
      object: 'nftables inet filter chain forward',
      state: 'blocked',
      detail:
        "hook forward, policy drop: drops forwarded traffic in vx0, out vx0 (policy drop); island's accepts in iptables cannot override a drop there: " +
        "accept island's traffic first in that chain (nft 'insert rule inet filter forward iifname \"vx0\" accept'; nft 'insert rule inet filter forward oifname \"vx0\" accept'), or set its policy to accept",
    },
  ]);
  const fixed = planFirewall(want, live(ruleset('drop', ['-i vx0 -j ACCEPT', '-o vx0 -j ACCEPT'])));
  t.strictSame(fixed.status.filter(isDropFinding), [], 'the fix it names clears it');
  const rule = planFirewall(want, live(ruleset('accept', ['-o vx0 -j DROP'])));
  t.match(rule.status.filter(isDropFinding), [
    { detail: /^hook forward, policy accept: drops forwarded traffic out vx0 \(-o vx0 -j DROP\)/ },
  ]);
  const unsure = planFirewall(want, live(ruleset('accept', ['-m mark --mark 1 -j DROP'])));
  t.strictSame(unsure.status.filter(isDropFinding), [], 'a drop island cannot be sure of is not reported');
  t.strictSame(
    acceptCommands('inet filter forward', [
      ...desiredFirewall(config(`${ONE}accept = ["vx0", "cni0"]\n`.replace('accept = ["vx0"]\n', ''))).flows,
      { hook: 'forward', family: 6, iif: 'eth0', saddr: { address: 'fd00::', prefixlen: 64 }, label: 'x' },
    ]),
    [
      'insert rule inet filter forward iifname { "vx0", "cni0" } accept',
      'insert rule inet filter forward oifname { "vx0", "cni0" } accept',
      'insert rule inet filter forward ip saddr 192.0.2.2/32 udp dport 4789 accept',
      // what it sends (the output flow; in use, only a chain on the output hook is given it)
      'insert rule inet filter forward ip daddr 192.0.2.2/32 udp dport 4789 accept',
      'insert rule inet filter forward iifname "eth0" ip6 saddr fd00::/64 accept',
    ],
    'the fix: interfaces together, each other flow on its own',
  );
  const input = planFirewall(want, {
    ...live({
      tables: [
        {
          family: 'ip6',
          name: 'fw',
          base: [{ family: 'ip6', table: 'fw', chain: 'in', hook: 'input', priority: 0, policy: 'drop' }],
          chains: new Map([['in', { name: 'in', policy: 'drop', rules: [] }]]),
        },
      ],
    }),
  });
  t.strictSame(input.status.filter(isDropFinding), [], 'an ip6 table does not see IPv4 tunnels');
});

t.test("ISLAND-INPUT: the peer's health probes out of each probed tunnel; the INPUT finding names them", async (t) => {
  const probed = ONE.replace('addresses =', 'keepalive = "25s"\naddresses =');
  const fw = desiredFirewall(config(probed));
  t.strictSame(
    fw.tables[4].chains.find((c) => c.name === 'ISLAND-INPUT')?.rules,
    [`-s 192.0.2.2/32 -p udp -m udp --dport 4789 ${TAG}`, `-i vx0 -p udp -m udp --dport 5534 ${TAG}`],
    'by the tunnel they come out of, on the health port',
  );
  const port = desiredFirewall(config(`${probed}\n[daemon]\nhealth_port = 6000\n`));
  t.match(port.tables[4].chains.find((c) => c.name === 'ISLAND-INPUT')?.rules, [/./, /--dport 6000 /]);
  t.strictSame(
    desiredFirewall(config(ONE)).tables[4].chains.find((c) => c.name === 'ISLAND-INPUT')?.rules,
    [`-s 192.0.2.2/32 -p udp -m udp --dport 4789 ${TAG}`],
    'a tunnel without keepalive or peer is not probed: no accept for probes',
  );
  const probe = fw.flows.find((f) => f.probe);
  t.match(probe, {
    hook: 'input',
    iif: 'vx0',
    saddr: { address: '10.30.30.2' },
    dport: 5534,
    answers: true,
    label: "vx0's health probes (udp 5534 from 10.30.30.2)",
  });

  // input = false, and the underlay accepted by hand: only the probes are dropped
  const off = desiredFirewall(config(`${probed}input = false\n`));
  const underlay = '-A INPUT -s 192.0.2.2/32 -p udp -m udp --dport 4789 -j ACCEPT';
  const drop = { INPUT: 'DROP', FORWARD: 'ACCEPT' };
  const p = planFirewall(off, { backend: 'nft', why: 'x', tables: { 4: table([...ISLAND, underlay], drop) } });
  t.strictSame(
    p.status.find(isDropFinding)?.detail,
    "iptables-nft INPUT drops vx0's health probes (udp 5534 from 10.30.30.2) (policy DROP): the peer looks down though the tunnel carries traffic; " +
      'set [forward] input = true (the default) and island keeps an accept for them (ISLAND-INPUT), or accept them in INPUT yourself',
  );
  // ufw: where this end probes too, the peer's datagrams answer its own (5534 both ways) and pass
  const probes = off.flows.filter((f) => f.probe);
  t.strictSame(inputDrops(UFW, probes, { backend: 'nft', family: 4, other: false, forward: true }), []);
  // the end facing a NAT speaks only once spoken to: the peer's first probe is NEW, and ufw drops it
  const waiting = probes.map((f) => ({ ...f, answers: undefined }));
  t.match(inputDrops(UFW, waiting, { backend: 'nft', family: 4, other: false, forward: true }), [
    { detail: /^iptables-nft INPUT drops vx0's health probes \(udp 5534 from 10\.30\.30\.2\) \(policy DROP\)/ },
  ]);
});
