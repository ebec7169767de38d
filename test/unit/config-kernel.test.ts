/**
 * What the kernel refuses, check refuses first, at the line that says it; what is one kernel
 * object is one object in plan. Families 1 and 2 of issue 10: per-host files and the one-file
 * island, and the route identity plan() and check share.
 */
import t from 'tap';
import { addressClass, kernelMetric, routeIdentity } from '../../src/config/kernel.js';
import { formatDiagnostic, type LoadResult, parseConfig } from '../../src/config/load.js';
import type { Cidr, Config } from '../../src/config/types.js';
import { defaultMetric, desiredState } from '../../src/desired.js';
import type { RawRoute } from '../../src/netlink/rtnl.js';
import { ROUTE_PROTO } from '../../src/ownership.js';
import type { LiveState } from '../../src/reconcile/live.js';
import { plan } from '../../src/reconcile/plan.js';

const lines = (r: LoadResult): string[] =>
  (r.ok ? [] : r.errors).map((d) => formatDiagnostic(d).slice('f.toml:'.length));
const parse = (text: string): string[] => lines(parseConfig(text, 'f.toml', { anyHost: true }));

const vxlan = (name: string, extra: string) =>
  `[[tunnel]]\nname = "${name}"\nkind = "vxlan"\nlocal = "192.168.3.100"\nremote = "192.168.3.7"\n${extra}\n`;

t.test('vxlan identity is VNI, port and underlay family: local, remote and dev do not count', async (t) => {
  const clash = parse(
    `${vxlan('vx0', 'vni = 5')}${vxlan('vx1', 'vni = 5\ndev = "eth1"').replace('192.168.3.7', '192.168.3.9')}`,
  );
  t.match(clash, [/^12:7: tunnel\[1\]\.vni: VNI 5 on UDP port 4789 is already used by vx0 \(line 2\)/]);
  t.strictSame(parse(`${vxlan('vx0', 'vni = 5')}${vxlan('vx1', 'vni = 5\nport = 4790')}`), [], 'another port');
  t.strictSame(parse(`${vxlan('vx0', 'vni = 5')}${vxlan('vx1', 'vni = 6')}`), [], 'another VNI');
  t.strictSame(
    parse(`${vxlan('vx0', 'vni = 5')}${vxlan('vx1', 'vni = 5').replace(/192\.168\.3\.(100|7)/g, 'fd00::$1')}`),
    [],
    'an IPv6 underlay is another identity',
  );
  // link-local IPv6 locals: the kernel compares devs then, but a global one still meets them
  const v6 = (name: string, local: string, remote: string, dev?: string) =>
    `[[tunnel]]\nname = "${name}"\nkind = "vxlan"\nvni = 5\nlocal = "${local}"\nremote = "${remote}"\n${dev ? `dev = "${dev}"\n` : ''}\n`;
  t.strictSame(
    parse(v6('a', 'fe80::1', 'fe80::2', 'eth0') + v6('b', 'fe80::1', 'fe80::3', 'eth1')),
    [],
    'link-local, two devs',
  );
  t.equal(parse(v6('a', 'fe80::1', 'fe80::2', 'eth0') + v6('b', 'fe80::5', 'fe80::3', 'eth0')).length, 1, 'one dev');
  t.equal(parse(v6('a', 'fe80::1', 'fe80::2', 'eth0') + v6('b', 'fd00::1', 'fd00::2')).length, 1, 'then a global one');
  t.equal(parse(v6('a', 'fd00::1', 'fd00::2') + v6('b', 'fe80::1', 'fe80::2', 'eth0')).length, 1, 'or the reverse');
  // a default port and an explicit 4789 are one port
  t.equal(parse(`${vxlan('vx0', 'vni = 5')}${vxlan('vx1', 'vni = 5\nport = 4789')}`).length, 1);
});

t.test('ipip identity is local, remote and dev', async (t) => {
  const ipip = (name: string, extra = '') =>
    `[[tunnel]]\nname = "${name}"\nkind = "ipip"\nlocal = "192.168.3.100"\nremote = "192.168.3.8"\n${extra}\n`;
  t.match(parse(ipip('a') + ipip('b')), [
    /^11:10: tunnel\[1\]\.remote: local 192\.168\.3\.100 and remote 192\.168\.3\.8/,
  ]);
  t.strictSame(parse(ipip('a') + ipip('b', 'dev = "eth1"')), []);
  t.match(parse(ipip('a', 'dev = "eth1"') + ipip('b', 'dev = "eth1"')), [/over eth1 are already those of a/]);
});

t.test('address classes as the kernel tells them apart', async (t) => {
  const cases: [string, string][] = [
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.1', 'unicast'],
    ['127.0.0.53', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['10.0.0.1', 'unicast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['ff02::1', 'multicast'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'unicast'],
    ['::ffff:10.0.0.1', 'mapped'],
    ['2001:db8::1', 'unicast'],
  ];
  for (const [ip, cls] of cases) t.equal(addressClass(ip), cls, ip);
});

t.test('a link of a declared bridge, or the bridge over its own port, is a loop', async (t) => {
  const text = `${vxlan('vx0', 'vni = 1\ndev = "br0"')}[[bridge]]\nname = "br0"\nports = ["vx0"]\n`;
  t.match(parse(text), [/tunnel\[0\]\.dev: br0 is the bridge vx0 is a port of/]);
  // over a bridge it is not a port of: fine
  t.strictSame(parse(`${vxlan('vx0', 'vni = 1\ndev = "br0"')}[[bridge]]\nname = "br0"\n`), []);
});

t.test('one-file island: the same refusals at the [[host]] and [[tunnel]] lines', async (t) => {
  const island = (hub: string, tunnels: string) => `[[site]]
name = "a"
subnet = "10.1.0.0/24"
gateway = "ga"

[[site]]
name = "b"
subnet = "10.2.0.0/24"
gateway = "gb"

[[host]]
name = "ga"
address = "${hub}"

[[host]]
name = "gb"
address = "10.2.0.1"
${tunnels}`;
  const tunnel = (name: string, extra: string) =>
    `\n[[tunnel]]\nname = "${name}"\nkind = "vxlan"\nvni = 5\nends = { a = "10.9.0.1/30", b = "10.9.0.2/30" }\n${extra}\n`;
  t.strictSame(parse(island('10.1.0.1', tunnel('vx0', ''))), []);
  t.match(parse(island('224.1.0.1', tunnel('vx0', ''))), [
    /^13:11: host\[0\]\.address: 224\.1\.0\.1 is a multicast address; a host's address is its own unicast address/,
    /host\[0\]\.address: 224\.1\.0\.1 is in no \[\[site\]\] subnet/,
  ]);
  t.match(parse(island('10.1.0.1', tunnel('all', ''))), [/tunnel\[0\]\.name: "all" cannot be a link name/]);
  t.match(parse(island('10.1.0.1', tunnel('lo', ''))), [/tunnel\[0\]\.name: "lo" is the loopback device/]);
  // a name of Object.prototype's is no device of the kernel's
  t.strictSame(parse(island('10.1.0.1', tunnel('constructor', ''))), []);
  t.strictSame(parse(island('10.1.0.1', tunnel('toString', ''))), []);
  t.match(
    parse(island('10.1.0.1', tunnel('vx0', '').replace('10.9.0.1/30', '::/64').replace('10.9.0.2/30', '::2/64'))),
    [/ends\.a: ::\/64: the kernel refuses :: as an address/],
  );
  // IPv6 link-local gateways: a vxlan between them needs a dev, which a one-file island never sets
  const ll = island('fe80::1', tunnel('vx0', ''))
    .replace('10.1.0.0/24', 'fe80::/64')
    .replace('10.2.0.0/24', '2001:db8:2::/64')
    .replace('10.2.0.1', '2001:db8:2::1');
  t.match(parse(ll), [
    /tunnel\[0\]\.ends: at ga: local fe80::1 and remote 2001:db8:2::1 mix a link-local and a global address/,
  ]);
});

t.test('one-file island: two tunnels of one gateway with the same VNI and port', async (t) => {
  const text = `${['a', 'b', 'c']
    .map(
      (s, i) =>
        `[[site]]\nname = "${s}"\nsubnet = "10.${i + 1}.0.0/24"\ngateway = "g${s}"\n\n[[host]]\nname = "g${s}"\naddress = "10.${i + 1}.0.1"\n`,
    )
    .join('\n')}
[[tunnel]]
name = "ab"
kind = "vxlan"
vni = 7
ends = { a = "10.9.0.1/30", b = "10.9.0.2/30" }

[[tunnel]]
name = "ac"
kind = "vxlan"
vni = 7
ends = { a = "10.9.1.1/30", c = "10.9.1.2/30" }

[[tunnel]]
name = "bc"
kind = "vxlan"
vni = 7
port = 4790
ends = { b = "10.9.2.1/30", c = "10.9.2.2/30" }
`;
  // ab and ac both end at ga; bc runs on gb and gc on another port
  t.match(parse(text), [
    /tunnel\[1\]\.vni: VNI 7 on UDP port 4789 is already used by tunnel ab \(line \d+\), and both run on ga/,
  ]);
  t.equal(parse(text.replace('port = 4790', '')).length, 3, 'ab/ac at ga, ab/bc at gb, ac/bc at gc');
  t.strictSame(parse(text.replace(/vni = 7\nends = \{ a = "10\.9\.1/, 'vni = 8\nends = { a = "10.9.1')), []);
});

/* ---------------------------------------------------------------- route identity */

const v = (s: string): Cidr => {
  const [address = '', len = '0'] = s.split('/');
  return { address, prefixlen: Number(len), family: address.includes(':') ? 6 : 4 };
};

t.test('the kernel metric: IPv4 none is 0, IPv6 none and 0 are 1024', async (t) => {
  t.equal(defaultMetric(4), 0);
  t.equal(defaultMetric(6), 1024);
  t.equal(kernelMetric(4, undefined), 0);
  t.equal(kernelMetric(4, 0), 0);
  t.equal(kernelMetric(6, undefined), 1024);
  t.equal(kernelMetric(6, 0), 1024);
  t.equal(kernelMetric(6, 1), 1);
  t.equal(routeIdentity(4, '10.0.0.0', 8, undefined), routeIdentity(4, '10.0.0.0', 8, 0));
  t.equal(routeIdentity(6, 'fd00::', 64, 0), routeIdentity(6, 'fd00::', 64, 1024));
  t.not(routeIdentity(6, 'fd00::', 64, 1), routeIdentity(6, 'fd00::', 64, 1024));
});

function cfg(routes: Config['routes']): Config {
  return {
    path: 'f.toml',
    tunnels: [],
    bridges: [{ name: 'br0', addresses: [v('10.3.1.3/24'), v('fd00:3::3/64')], ports: [] }],
    links: [],
    routes,
    sysctl: {},
    daemon: { resyncMs: 30_000, debounceMs: 10 },
  };
}

/** The host after apply: br0 up with its addresses, island's routes as the kernel reports them. */
function live(routes: RawRoute[]): LiveState {
  return {
    links: [{ ifindex: 5, name: 'br0', up: true, mtu: 1500, alias: 'island', kind: 'bridge', owned: true, spec: {} }],
    addresses: [
      { ifindex: 5, family: 4, address: '10.3.1.3', prefixlen: 24 },
      { ifindex: 5, family: 6, address: 'fd00:3::3', prefixlen: 64 },
    ],
    routes,
    sysctls: {},
  } as unknown as LiveState;
}

const kernelRoute = (family: 4 | 6, dst: string, dstLen: number, gateway: string, priority?: number): RawRoute => ({
  family,
  dst,
  dstLen,
  table: 254,
  protocol: ROUTE_PROTO,
  type: 1,
  gateway,
  oif: 5,
  ...(priority === undefined ? {} : { priority }),
});

t.test('a route with metric 0 (IPv6: 0 or 1024) and one with none are the same route to plan', async (t) => {
  // what the kernel reports after island added each: IPv4 without RTA_PRIORITY, IPv6 with 1024
  const host = live([kernelRoute(4, '10.4.0.0', 16, '10.3.1.1'), kernelRoute(6, 'fd00:4::', 64, 'fd00:3::1', 1024)]);
  for (const [what, m4, m6] of [
    ['no metric', undefined, undefined],
    ['metric = 0', 0, 0],
    ['IPv6 metric = 1024', 0, 1024],
  ] as const) {
    const want = desiredState(
      cfg([
        { to: v('10.4.0.0/16'), via: '10.3.1.1', ...(m4 === undefined ? {} : { metric: m4 }) },
        { to: v('fd00:4::/64'), via: 'fd00:3::1', ...(m6 === undefined ? {} : { metric: m6 }) },
      ]),
    );
    t.same(
      want.routes.map((r) => r.metric),
      [0, 1024],
      `${what}: the desired metric is the kernel's`,
    );
    const p = plan(want, host);
    t.strictSame(
      p.actions.filter((a) => a.op === 'replace-route' || a.op === 'delete-route'),
      [],
      `${what}: nothing to do`,
    );
    t.same(
      p.status.filter((s) => s.object.startsWith('route')).map((s) => s.state),
      ['ok', 'ok'],
    );
  }
});

t.test('two entries that are one kernel route: desired keeps the first, so they never flip', async (t) => {
  const want = desiredState(
    cfg([
      { to: v('10.4.0.0/16'), via: '10.3.1.1' },
      { to: v('10.4.0.0/16'), via: '10.3.1.2', metric: 0 },
      { to: v('fd00:4::/64'), via: 'fd00:3::1', metric: 0 },
      { to: v('fd00:4::/64'), via: 'fd00:3::2' },
    ]),
  );
  t.same(
    want.routes.map((r) => `${r.dst}/${r.dstLen} via ${r.via} metric ${r.metric}`),
    ['10.4.0.0/16 via 10.3.1.1 metric 0', 'fd00:4::/64 via fd00:3::1 metric 1024'],
  );
  // and applying it once more finds the same route there: no replace in either direction
  const again = plan(
    want,
    live([kernelRoute(4, '10.4.0.0', 16, '10.3.1.1'), kernelRoute(6, 'fd00:4::', 64, 'fd00:3::1', 1024)]),
  );
  t.strictSame(
    again.actions.filter((a) => a.op.endsWith('route')),
    [],
  );
  // check refuses the file in the first place
  const text = `[[bridge]]\nname = "br0"\naddresses = ["10.3.1.3/24"]\n\n[[route]]\nto = "10.4.0.0/16"\nvia = "10.3.1.1"\n\n[[route]]\nto = "10.4.0.0/16"\nvia = "10.3.1.2"\nmetric = 0\n`;
  t.strictSame(parse(text), [
    '10:6: route[1].to: duplicate route to 10.4.0.0/16: no metric and metric = 0 are both metric 0 to the kernel (first at line 6)',
  ]);
});

t.test("a route to a link's own subnet is refused; a wider or narrower one is not", async (t) => {
  const base = '[[bridge]]\nname = "br0"\naddresses = ["10.3.1.3/24"]\n\n[[route]]\ndev = "br0"\n';
  t.match(parse(`${base}to = "10.3.1.0/24"\n`), [
    /is the subnet of 10\.3\.1\.3\/24 on br0.*same kernel route \(metric 0\)/,
  ]);
  t.match(parse(`${base}to = "10.3.1.0/24"\nmetric = 5\n`), [/a second route to it \(metric 5\) only competes/]);
  t.strictSame(parse(`${base}to = "10.3.0.0/16"\n`), []);
  t.strictSame(parse(`${base}to = "10.3.1.128/25"\n`), []);
  // an IPv4 /32 address has no prefix route of its own
  t.strictSame(
    parse('[[bridge]]\nname = "br0"\naddresses = ["10.3.1.3/32"]\n\n[[route]]\nto = "10.3.1.3/32"\ndev = "br0"\n'),
    [],
  );
});
