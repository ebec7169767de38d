/**
 * nftables read over netlink and walked for island's flows (src/firewall/nftables.ts and
 * verdict.ts), against rulesets loaded with `nft -f` in a namespace: policies, interface names
 * and their sets, address prefixes and interval sets, ports, conntrack state, jumps, verdict maps,
 * reject, families. Each case says which drops are sure for each flow (the causes, handles left
 * out), or none.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Flow } from '../../src/firewall/types.js';
import { netns } from '../helpers/netns.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'nftables-fixture.mjs');

const host = (address: string) => ({ address, prefixlen: 32 });
const IN: Flow = { hook: 'forward', family: 4, iif: 'vx0', label: 'in vx0' };
const OUT: Flow = { hook: 'forward', family: 4, oif: 'vx0', label: 'out vx0' };
const OTHER: Flow = { hook: 'forward', family: 4, iif: 'eth9', label: 'in eth9' };
const VX: Flow = {
  hook: 'input',
  family: 4,
  saddr: host('192.0.2.2'),
  daddr: host('192.0.2.1'),
  proto: 17,
  dport: 4789,
  label: 'vxlan',
};
const IPIP: Flow = {
  hook: 'input',
  family: 4,
  saddr: host('198.51.100.7'),
  daddr: host('192.0.2.1'),
  proto: 4,
  label: 'ipip',
};
const FAR: Flow = { ...VX, saddr: host('203.0.113.9'), label: 'vxlan from afar' };

const chain = (hook: string, policy: string, body: string) =>
  `table inet t {\n chain c {\n  type filter hook ${hook} priority 0; policy ${policy};\n${body}\n }\n}\n`;

const CASES: { name: string; rules: string; flows: Flow[]; sure: Record<string, string[]> }[] = [
  {
    name: 'policy drop behind conntrack accepts: a new connection meets the policy',
    rules: chain('forward', 'drop', '  ct state established,related accept\n  ct state invalid drop'),
    flows: [IN, OUT],
    sure: { 'in vx0': ['policy drop'], 'out vx0': ['policy drop'] },
  },
  {
    name: "the fix island names: an accept for island's links",
    rules: chain('forward', 'drop', '  iifname "vx0" accept\n  oifname "vx0" accept'),
    flows: [IN, OUT, OTHER],
    sure: { 'in vx0': [], 'out vx0': [], 'in eth9': ['policy drop'] },
  },
  {
    name: 'interface names in an anonymous set, and a wildcard',
    rules: chain('forward', 'drop', '  iifname { "cni0", "vx0" } accept\n  oifname "vx*" accept'),
    flows: [IN, OUT, OTHER],
    sure: { 'in vx0': [], 'out vx0': [], 'in eth9': ['policy drop'] },
  },
  {
    name: "a drop rule by island's interface: sure for the flow it names, possible for the other",
    rules: chain('forward', 'accept', '  iifname "vx0" drop'),
    flows: [IN, OUT],
    sure: { 'in vx0': ['iifname "vx0" drop'], 'out vx0': [] },
  },
  {
    name: 'reject counts as a drop; counters and logs decide nothing',
    rules: chain('forward', 'accept', '  counter log prefix "x " oifname "vx0" reject'),
    flows: [OUT],
    sure: { 'out vx0': ['oifname "vx0" reject'] },
  },
  {
    name: 'input: the tunnel accepted by address, port and protocol; ipip is not',
    rules: chain('input', 'drop', '  ip saddr 192.0.2.2 udp dport 4789 accept'),
    flows: [VX, IPIP],
    sure: { vxlan: [], ipip: ['policy drop'] },
  },
  {
    name: 'input: a drop by prefix (bitwise mask)',
    rules: chain('input', 'accept', '  ip saddr 192.0.2.0/24 drop'),
    flows: [VX, FAR],
    sure: { vxlan: ['meta nfproto ipv4 ip saddr 192.0.2.0/24 drop'], 'vxlan from afar': [] },
  },
  {
    name: 'input: ports in a set, addresses in an interval set',
    rules: chain('input', 'drop', '  ip saddr { 10.0.0.0/8, 192.0.2.0/24 } udp dport { 4789, 5533 } accept'),
    flows: [VX, FAR, IPIP],
    sure: { vxlan: [], 'vxlan from afar': ['policy drop'], ipip: ['policy drop'] },
  },
  {
    name: 'a jump to a regular chain that accepts, and one that returns',
    rules:
      'table inet t {\n chain ok { iifname "vx0" accept; return; }\n' +
      ' chain c { type filter hook forward priority 0; policy drop; jump ok; }\n}\n',
    flows: [IN, OUT],
    sure: { 'in vx0': [], 'out vx0': ['policy drop'] },
  },
  {
    name: 'a verdict map: the element of the flow decides',
    rules: chain('forward', 'drop', '  iifname vmap { "vx0" : accept, "eth9" : drop }'),
    flows: [IN, OTHER, OUT],
    // out vx0 has no known in-interface: no element surely applies, and past the map is the policy
    sure: { 'in vx0': [], 'in eth9': ['iifname vmap @__map0'], 'out vx0': ['policy drop'] },
  },
  {
    name: 'a rate limit island cannot read: a drop behind it is possible, not sure',
    rules: chain('forward', 'accept', '  limit rate over 10/second drop'),
    flows: [IN],
    sure: { 'in vx0': [] },
  },
  {
    name: 'an ip6 table does not see IPv4; an ip table does',
    rules:
      'table ip6 six {\n chain c { type filter hook forward priority 0; policy drop; }\n}\n' +
      'table ip four {\n chain c { type filter hook forward priority 0; policy drop; iifname "vx0" accept; }\n}\n',
    flows: [IN, OUT],
    sure: { 'in vx0': [], 'out vx0': ['policy drop'] },
  },
];

t.test('nftables rulesets walked for island flows', async (t) => {
  const ns = await netns(t, 'nftr');
  for (const c of CASES) {
    await ns.run(['nft', 'flush', 'ruleset']);
    await ns.run(['nft', '-f', '-'], { input: c.rules });
    const r = await ns.exec([process.execPath, FIXTURE, JSON.stringify(c.flows)], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    t.equal(r.code, 0, `${c.name}: ${r.stderr}`);
    const rows = JSON.parse(r.stdout) as { chain: string; flow: string; sure: string[] }[];
    const got: Record<string, string[]> = {};
    for (const row of rows)
      got[row.flow] = [...(got[row.flow] ?? []), ...row.sure.map((s) => s.replace(/ \(handle \d+\)$/, ''))];
    t.strictSame(got, c.sure, c.name);
    if (c.name.startsWith('a drop rule'))
      t.match(rows[0]?.sure[0], /^iifname "vx0" drop \(handle \d+\)$/, 'a rule is named with its handle');
  }
  // iptables-nft's own table is iptables-save's to read, not this one's
  await ns.run(['nft', 'flush', 'ruleset']);
  await ns.run(['iptables-nft', '-P', 'FORWARD', 'DROP']);
  const r = await ns.exec([process.execPath, FIXTURE, JSON.stringify([IN])], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  t.equal(r.stdout.trim(), '[]', 'the ip filter table is left to iptables-save');
});
