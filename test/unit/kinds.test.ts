import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired.js';
import { kindOf } from '../../src/kinds/index.js';
import { be16, decodeAttrs, encodeAttrs } from '../../src/netlink/nla.js';

const ctx = {
  ifindex: (n: string) => (n === 'eth0' ? 7 : undefined),
  ifname: (i: number) => (i === 7 ? 'eth0' : undefined),
};
const hex = (b: Buffer | undefined) => b?.toString('hex');

t.test('ipip: addresses in network byte order, ttl a u8, underlay an ifindex', async (t) => {
  const ipip = kindOf('ipip');
  const spec = ipip.spec({
    name: 't0',
    kind: 'ipip',
    local: '192.168.3.100',
    remote: '138.96.245.50',
    ttl: 64,
    dev: 'eth0',
    addresses: [],
  });
  const a = decodeAttrs(ipip.encode(spec, ctx) ?? Buffer.alloc(0));
  t.equal(hex(a.get(2)), 'c0a80364', 'IFLA_IPTUN_LOCAL = 192.168.3.100 as c0 a8 03 64, not host-order 64 03 a8 c0');
  t.equal(hex(a.get(3)), '8a60f532', 'IFLA_IPTUN_REMOTE = 138.96.245.50');
  t.equal(hex(a.get(4)), '40', 'IFLA_IPTUN_TTL = 64');
  t.equal(hex(a.get(1)), '07000000', 'IFLA_IPTUN_LINK = ifindex 7, host order u32');
  t.same(ipip.decode(ipip.encode(spec, ctx), ctx), spec, 'decode(encode(x)) = x');
});

t.test('vxlan: ports big-endian, source range [low, high) as two be16', async (t) => {
  const vxlan = kindOf('vxlan');
  const spec = vxlan.spec({
    name: 'vx0',
    kind: 'vxlan',
    vni: 333,
    local: '192.168.3.100',
    remote: '203.0.113.7',
    port: 5533,
    sourcePort: { low: 5533, high: 5534 },
    addresses: [],
  });
  const a = decodeAttrs(vxlan.encode(spec, ctx) ?? Buffer.alloc(0));
  t.equal(hex(a.get(1)), '4d010000', 'IFLA_VXLAN_ID = 333');
  t.equal(hex(a.get(15)), '159d', 'IFLA_VXLAN_PORT = 5533 big-endian');
  t.equal(hex(a.get(10)), '159d159e', 'IFLA_VXLAN_PORT_RANGE = 5533..5534: the kernel max is exclusive');
  t.equal(hex(a.get(2)), 'cb007107', 'IFLA_VXLAN_GROUP = remote');
  t.equal(hex(a.get(4)), 'c0a80364', 'IFLA_VXLAN_LOCAL');
  t.same(vxlan.decode(vxlan.encode(spec, ctx), ctx), spec);
});

t.test('vxlan over IPv6 uses GROUP6/LOCAL6', async (t) => {
  const vxlan = kindOf('vxlan');
  const spec = vxlan.spec({
    name: 'vx6',
    kind: 'vxlan',
    vni: 9,
    local: 'fd00::1',
    remote: 'fd00::2',
    port: 4789,
    addresses: [],
  });
  const a = decodeAttrs(vxlan.encode(spec, ctx) ?? Buffer.alloc(0));
  t.equal(hex(a.get(16)), 'fd000000000000000000000000000002');
  t.equal(hex(a.get(17)), 'fd000000000000000000000000000001');
  t.notOk(a.has(2) || a.has(4), 'no IPv4 attributes');
  t.notOk(a.has(10), 'no source range unless pinned: the kernel picks its default');
});

t.test(
  'features: vxlan keeps tx checksum offload off unless tx_checksum_offload = true; ipip and bridge none',
  async (t) => {
    const vx = {
      name: 'vx0',
      kind: 'vxlan' as const,
      vni: 9,
      local: '192.0.2.1',
      remote: '192.0.2.2',
      port: 4789,
      addresses: [],
    };
    t.same(kindOf('vxlan').features?.(vx), { 'tx-checksum-ip-generic': false }, 'default: off');
    t.same(kindOf('vxlan').features?.({ ...vx, txChecksumOffload: false }), { 'tx-checksum-ip-generic': false });
    t.equal(kindOf('vxlan').features?.({ ...vx, txChecksumOffload: true }), undefined, 'true: not managed');
    t.equal(kindOf('ipip').features, undefined);
    t.equal(kindOf('bridge').features, undefined);
  },
);

const shim = (kind: string, mode: string) => ({ name: 'shim0', kind, parent: 'eth1', mode, addresses: [] });

t.test('macvlan: IFLA_MACVLAN_MODE a u32 of the kernel enum; parent from IFLA_LINK; a stable MAC', async (t) => {
  const macvlan = kindOf('macvlan');
  for (const [mode, value] of [
    ['private', '01000000'],
    ['vepa', '02000000'],
    ['bridge', '04000000'],
    ['passthru', '08000000'],
  ] as const) {
    const spec = macvlan.spec(shim('macvlan', mode));
    const data = macvlan.encode(spec, ctx);
    t.equal(hex(decodeAttrs(data ?? Buffer.alloc(0)).get(1)), value, `mode ${mode} = ${value}`);
    t.same(macvlan.decode(data, ctx, 'eth1'), spec, `${mode}: decode(encode(x)) = x, the parent given by IFLA_LINK`);
  }
  t.same(
    macvlan.decode(undefined, ctx, undefined),
    { parent: '', mode: '#undefined' },
    'nothing read: differs from any spec',
  );
  const spec = macvlan.spec(shim('macvlan', 'bridge'));
  const mac = macvlan.mac?.('shim0', spec);
  t.equal(mac?.length, 6, 'a 6-byte MAC');
  t.equal((mac?.[0] ?? 0) & 0x03, 0x02, 'locally administered, unicast');
  t.same(macvlan.mac?.('shim0', spec), mac, 'the same at every re-creation');
  t.same(macvlan.mac?.('shim0', { ...spec, mode: 'private' }), mac, 'whatever the mode (changed in place)');
  t.notSame(macvlan.mac?.('shim0', { ...spec, parent: 'eth2' }), mac, 'another parent, another MAC');
});

t.test('macvlan: a mode changes in place, except into or out of passthru; a parent re-creates', async (t) => {
  const m = kindOf('macvlan');
  const s = (mode: string, parent = 'eth1') => ({ parent, mode });
  t.same(m.inPlace?.(s('bridge'), s('private')), ['mode']);
  t.same(m.inPlace?.(s('vepa'), s('bridge')), ['mode']);
  t.same(m.inPlace?.(s('passthru'), s('bridge')), [], 'into passthru: the kernel refuses (EINVAL)');
  t.same(m.inPlace?.(s('bridge'), s('passthru')), [], 'out of passthru: the same');
  t.same(m.inPlace?.(s('bridge', 'eth2'), s('private')), [], 'another parent: re-created whole');
});

t.test('ipvlan: IFLA_IPVLAN_MODE a u16; no MAC of its own; a mode changes in place', async (t) => {
  const ipvlan = kindOf('ipvlan');
  for (const [mode, value] of [
    ['l2', '0000'],
    ['l3', '0100'],
    ['l3s', '0200'],
  ] as const) {
    const spec = ipvlan.spec(shim('ipvlan', mode));
    const data = ipvlan.encode(spec, ctx);
    t.equal(hex(decodeAttrs(data ?? Buffer.alloc(0)).get(1)), value, `mode ${mode} = ${value}, two bytes`);
    t.same(ipvlan.decode(data, ctx, 'eth1'), spec, `${mode}: decode(encode(x)) = x`);
  }
  t.equal(ipvlan.mac, undefined, "its parent's MAC");
  t.same(ipvlan.inPlace?.({ parent: 'eth1', mode: 'l3' }, { parent: 'eth1', mode: 'l2' }), ['mode']);
  t.same(ipvlan.inPlace?.({ parent: 'eth2', mode: 'l3' }, { parent: 'eth1', mode: 'l2' }), []);
});

t.test('gre: IFLA_GRE_* with the key both ways, in network byte order; no key: no flag', async (t) => {
  const gre = kindOf('gre');
  const decl = {
    name: 'g0',
    kind: 'gre',
    local: '192.168.3.100',
    remote: '138.96.245.50',
    ttl: 64,
    dev: 'eth0',
    key: 0x01020304,
    addresses: [],
  };
  const spec = gre.spec(decl);
  const a = decodeAttrs(gre.encode(spec, ctx) ?? Buffer.alloc(0));
  t.equal(hex(a.get(6)), 'c0a80364', 'IFLA_GRE_LOCAL = 192.168.3.100, in_addr bytes');
  t.equal(hex(a.get(7)), '8a60f532', 'IFLA_GRE_REMOTE = 138.96.245.50');
  t.equal(hex(a.get(8)), '40', 'IFLA_GRE_TTL = 64');
  t.equal(hex(a.get(1)), '07000000', 'IFLA_GRE_LINK = ifindex 7, host order u32');
  t.equal(hex(a.get(2)), '2000', 'IFLA_GRE_IFLAGS = GRE_KEY, a __be16');
  t.equal(hex(a.get(3)), '2000', 'IFLA_GRE_OFLAGS = GRE_KEY');
  t.equal(hex(a.get(4)), '01020304', 'IFLA_GRE_IKEY big-endian (ip link shows ikey 1.2.3.4)');
  t.equal(hex(a.get(5)), '01020304', 'IFLA_GRE_OKEY: the same key out');
  t.same(gre.decode(gre.encode(spec, ctx), ctx), spec, 'decode(encode(x)) = x');

  const keyless = gre.spec({ ...decl, key: undefined, ttl: undefined, dev: undefined });
  const b = decodeAttrs(gre.encode(keyless, ctx) ?? Buffer.alloc(0));
  t.notOk(b.has(2) || b.has(3) || b.has(4) || b.has(5), 'no key: neither flags nor keys');
  t.notOk(b.has(8) || b.has(1), 'no ttl (inherit), no underlay');
  t.same(gre.decode(gre.encode(keyless, ctx), ctx), keyless, 'decode(encode(x)) = x');
  // what the kernel reports for a keyless tunnel: flags 0, keys 0
  const live = Buffer.concat([
    gre.encode(keyless, ctx) as Buffer,
    encodeAttrs([
      [2, be16(0)],
      [4, Buffer.alloc(4)],
    ]),
  ]);
  t.equal(gre.decode(live, ctx).key, '', 'key 0 without the flag is no key');
  const zero = gre.spec({ ...decl, key: 0 });
  t.equal(gre.decode(gre.encode(zero, ctx), ctx).key, 0, 'key 0 with the flag is a key');

  t.same(gre.describe(spec), ['192.168.3.100 → 138.96.245.50', `key ${0x01020304}`]);
  t.equal(gre.overhead(4), 24, 'outer IPv4 20 + GRE 4');
  t.equal(gre.overhead(4, decl), 28, 'and 4 for the key field');
  t.equal(gre.ethernet, false, 'layer 3: no bridge port');
  t.same(gre.underlayTraffic?.(decl), { proto: 47, words: 'gre' });
  t.not(gre.slot?.(spec), gre.slot?.(keyless), 'another key, another kernel slot');
});

t.test('gretap: the gre codec, Ethernet (a bridge port), 14 bytes more, a stable MAC', async (t) => {
  const gretap = kindOf('gretap');
  const decl = { name: 'gt0', kind: 'gretap', local: '192.168.3.100', remote: '138.96.245.50', key: 9, addresses: [] };
  const spec = gretap.spec(decl);
  const a = decodeAttrs(gretap.encode(spec, ctx) ?? Buffer.alloc(0));
  t.equal(hex(a.get(6)), 'c0a80364', 'IFLA_GRE_LOCAL');
  t.equal(hex(a.get(7)), '8a60f532', 'IFLA_GRE_REMOTE');
  t.equal(hex(a.get(4)), '00000009', 'IFLA_GRE_IKEY = 9 big-endian');
  t.same(gretap.decode(gretap.encode(spec, ctx), ctx), spec, 'decode(encode(x)) = x');
  const keyless = gretap.spec({ ...decl, key: undefined });
  t.same(gretap.decode(gretap.encode(keyless, ctx), ctx), keyless, 'decode(encode(x)) = x without a key');
  t.equal(gretap.overhead(4), 38, 'outer IPv4 20 + GRE 4 + inner Ethernet 14');
  t.equal(gretap.overhead(4, decl), 42, 'and 4 for the key field');
  t.equal(gretap.ethernet, true, 'a bridge port');
  t.equal(kindOf('gre').ethernet, false);
  const mac = gretap.mac?.('gt0', spec);
  t.equal(mac?.length, 6);
  t.equal((mac?.[0] ?? 0) & 0x03, 0x02, 'locally administered, unicast');
  t.same(gretap.mac?.('gt0', spec), mac, 'the same at every re-creation');
  t.equal(kindOf('gre').mac, undefined, 'gre has no Ethernet address');
  t.same(gretap.underlayTraffic?.(decl), { proto: 47, words: 'gretap' });

  const r = parseConfig(
    `[[tunnel]]\nname = "gt0"\nkind = "gretap"\nlocal = "192.168.3.100"\nremote = "138.96.245.50"\n` +
      `[[bridge]]\nname = "br0"\nports = ["gt0"]\naddresses = ["10.9.0.1/24"]\n`,
    'f.toml',
  );
  t.ok(r.ok, 'a gretap is a bridge port');
  if (r.ok) t.same(desiredState(r.config).links.find((l) => l.name === 'gt0')?.master, 'br0');
});
