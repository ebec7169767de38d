/** The one-file island: etc/examples/lab.toml read by each of its hosts, and what check refuses. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { formatDiagnostic, type LoadResult, parseConfig } from '../../src/config/load.js';
import { localIpv4, localIpv6 } from '../../src/config/own-addresses.js';
import type { Config } from '../../src/config/types.js';
import { desiredState } from '../../src/desired.js';
import { REPO } from '../helpers/island.js';

const LAB = join(REPO, 'etc', 'examples', 'lab.toml');
const text = readFileSync(LAB, 'utf8');

function load(addresses: string[], host?: string): Config {
  const r = parseConfig(text, 'lab.toml', { identity: host ? { host, addresses } : { addresses } });
  if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
  return r.config;
}

const routes = (c: Config) =>
  c.routes.map((r) => `${r.to.address}/${r.to.prefixlen} via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}`);

t.test('each host finds its own part by its own addresses', async (t) => {
  const l1 = load(['198.51.100.50', 'fe80::1']);
  t.match(l1.island?.self, { host: 'sopnode-l1', site: 'sopnode', role: 'gateway', how: 'address 198.51.100.50' });
  t.match(l1.tunnels, [
    {
      name: 'vx0',
      kind: 'vxlan',
      vni: 42,
      port: 5533,
      sourcePort: { low: 5533, high: 5534 },
      local: '198.51.100.50',
      remote: '203.0.113.2',
      addresses: [{ address: '10.3.1.2', prefixlen: 24 }],
      peer: '10.3.1.3',
      remoteBehindNat: true,
    },
  ]);
  t.equal(l1.tunnels[0]?.keepaliveMs, undefined, 'the public end does not send first');
  t.match(desiredState(l1).peers, [{ peer: '10.3.1.3', waitForPeer: true }], 'nor probes before faraday has spoken');
  t.same(routes(l1), ['192.168.3.0/24 via 10.3.1.3 dev vx0']);
  t.same(l1.forward?.accept, ['vx0'], 'the gateway forwards the tunnel, whatever the FORWARD policy');
  t.same(
    l1.hosts?.map((h) => h.name),
    ['sopnode-l1', 'sopnode-w2', 'faraday'],
  );

  const faraday = load(['192.168.3.100']);
  t.match(faraday.island?.self, { host: 'faraday', role: 'gateway', site: 'r2lab' });
  t.match(faraday.tunnels, [
    { local: '192.168.3.100', remote: '198.51.100.50', addresses: [{ address: '10.3.1.3' }], peer: '10.3.1.2' },
  ]);
  t.equal(faraday.tunnels[0]?.keepaliveMs, 25_000, 'the end behind the NAT keeps the mapping open');
  t.match(desiredState(faraday).peers, [{ peer: '10.3.1.2', waitForPeer: false }], 'and probes from the start');
  t.same(routes(faraday), ['198.51.100.0/24 via 10.3.1.2 dev vx0']);
  t.equal(
    desiredState(faraday).links.find((l) => l.name === 'vx0')?.bindLocal,
    true,
    "the sopnode route covers l1's own address: the tunnel is bound to its underlay device",
  );
  t.notOk(
    desiredState(l1).links.some((l) => l.bindLocal),
    "faraday's public address is in no routed subnet",
  );

  const w2 = load(['198.51.100.52']);
  t.match(w2.island?.self, { host: 'sopnode-w2', role: 'member' });
  t.same(w2.tunnels, []);
  t.same(routes(w2), ['192.168.3.0/24 via 198.51.100.50', '10.3.1.0/24 via 198.51.100.50']);
  t.equal(w2.forward, undefined, 'a member forwards nothing');

  const fit = load(['192.168.3.11']);
  t.same(fit.island?.self, { site: 'r2lab', role: 'member', how: 'address 192.168.3.11 in 192.168.3.0/24' });
  t.same(routes(fit), ['198.51.100.0/24 via 192.168.3.100', '10.3.1.0/24 via 192.168.3.100']);
});

t.test('--host (or ISLAND_HOST) names the host: a [[host]] or a site for an unnamed member', async (t) => {
  t.match(load([], 'FARADAY').island?.self, { host: 'faraday', role: 'gateway', how: 'named FARADAY' });
  t.match(load(['198.51.100.50'], 'r2lab').island?.self, { site: 'r2lab', role: 'member' });
  const r = parseConfig(text, 'lab.toml', { identity: { host: 'fit99', addresses: [] } });
  t.same(r.ok ? [] : r.errors.map(formatDiagnostic), [
    'lab.toml:1:1: "fit99" is neither a [[host]] nor a [[site]] of the island (sopnode-l1, sopnode-w2, faraday, sopnode, r2lab)',
  ]);
  const none = parseConfig(text, 'lab.toml', { identity: { addresses: ['10.1.1.1'] } });
  t.match(
    none.ok ? '' : formatDiagnostic(none.errors[0] as never),
    /this host is none of the island's: its addresses \(10\.1\.1\.1\)/,
  );
  const anyHost = parseConfig(text, 'lab.toml', { identity: { addresses: ['10.1.1.1'] }, anyHost: true });
  t.ok(anyHost.ok, 'check validates the island from any machine');
});

const errors = (r: LoadResult): string[] => (r.ok ? [] : r.errors.map(formatDiagnostic));
const variant = (from: string, to: string): string[] => {
  if (!text.includes(from)) throw new Error(`lab.toml has no ${from}`);
  return errors(parseConfig(text.replace(from, to), 'lab.toml', { identity: { host: 'faraday', addresses: [] } }));
};
const line = (needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

t.test('check validates the whole island once, each mistake at its line', async (t) => {
  t.same(variant('gateway = "faraday"', 'gateway = "faraday2"'), [
    `lab.toml:${line('gateway = "faraday"')}:11: site[1].gateway: "faraday2" is not a [[host]] of this file; declare it with its address`,
  ]);
  t.same(variant('r2lab = "10.3.1.3/24"', 'r2lab = "10.3.2.3/24"'), [
    `lab.toml:${line('r2lab = "10.3.1.3/24"')}:43: tunnel[0].ends.r2lab: 10.3.2.3/24 is not in sopnode's subnet 10.3.1.0/24; both ends share one subnet`,
  ]);
  t.same(variant('r2lab = "10.3.1.3/24"', 'r2lab2 = "10.3.1.3/24"'), [
    `lab.toml:${line('r2lab = "10.3.1.3/24"')}:35: tunnel[0].ends.r2lab2: "r2lab2" is not a [[site]] of this file (sites: "sopnode", "r2lab")`,
  ]);
  t.same(variant('pods = ["10.244.0.0/16"]', 'pods = ["192.168.0.0/16"]'), [
    `lab.toml:${line('pods = [')}:9: island.pods[0]: 192.168.0.0/16 (the pod range) overlaps 192.168.3.0/24 (site r2lab, site[1].subnet at line ${line('subnet = "192.168.3.0/24"')})`,
  ]);
  t.same(variant('vni = 42', 'vni = 42\nlocal = "192.168.3.100"'), [
    `lab.toml:${line('vni = 42') + 1}:1: tunnel[0].local: local is derived from the sites and hosts in a one-file island; remove it`,
  ]);
  t.same(variant('vni = 42', 'vni = 0'), [
    `lab.toml:${line('vni = 42')}:7: tunnel[0].vni: must be between 1 and 16777215`,
  ]);
  t.same(variant('address = "198.51.100.52"', 'address = "198.51.101.52"'), [
    `lab.toml:${line('address = "198.51.100.52"')}:11: host[1].address: 198.51.101.52 is in no [[site]] subnet; every host belongs to the site of its LAN`,
  ]);
  t.same(variant('address = "198.51.100.50"', 'address = "198.51.100.50"\npublic = "203.0.113.9"'), [
    `lab.toml:${line('ends = {') + 1}:8: tunnel[0].ends: both gateways (sopnode-l1, faraday) are behind a NAT (public is set on both): neither could reach the other first`,
  ]);
  t.match(
    variant('[[tunnel]]\nname = "vx0"', '[[route]]\nto = "10.9.0.0/16"\nvia = "10.3.1.2"\n\n[[tunnel]]\nname = "vx0"'),
    [/route: a one-file island \(\[\[site\]\]\) is the same file on every host, so it has no per-host \[\[route\]\]/],
  );
});

t.test("the seed's IPIP variant, as lab.toml's comment gives it, in place of the VXLAN tunnel", async (t) => {
  // the commented [[tunnel]] at the end of the file, uncommented, replaces vx0's table
  const variant = text
    .slice(text.indexOf('#[[tunnel]]'))
    .split('\n')
    .filter((l) => l.startsWith('#'))
    .map((l) => l.slice(1))
    .join('\n');
  t.match(variant, /^\[\[tunnel\]\]\nname = "ipip0"\nkind = "ipip"\nends = /, 'the comment holds the variant');
  const vx0 = text.slice(text.indexOf('[[tunnel]]\nname = "vx0"'), text.indexOf('# The seed'));
  const ipip = text.replace(vx0, `${variant}\n\n`);
  const gateway = (addresses: string[]) => {
    const r = parseConfig(ipip, 'lab.toml', { identity: { addresses } });
    if (!r.ok) throw new Error(r.errors.map(formatDiagnostic).join('\n'));
    return r.config;
  };
  const [l1, faraday] = [gateway(['198.51.100.50']), gateway(['192.168.3.100'])];
  t.match(l1.tunnels, [{ name: 'ipip0', kind: 'ipip', local: '198.51.100.50', remote: '203.0.113.2' }]);
  t.match(faraday.tunnels, [{ name: 'ipip0', kind: 'ipip', local: '192.168.3.100', remote: '198.51.100.50' }]);
  t.same(routes(faraday), ['198.51.100.0/24 via 10.3.1.2 dev ipip0']);
  t.equal(desiredState(faraday).links[0]?.bindLocal, true, 'bound to its underlay like vx0');
});

t.test(
  "this host's addresses from /proc: every local IPv4 address but loopback's, every IPv6 one but lo's",
  async (t) => {
    const fibTrie = [
      'Main:',
      '  +-- 0.0.0.0/1 2 0 2',
      '     +-- 10.77.0.0/24 2 0 2',
      '        +-- 10.77.0.0/31 1 0 0',
      '           |-- 10.77.0.0',
      '              /24 link UNICAST',
      '           |-- 10.77.0.1',
      '              /32 host LOCAL',
      '        |-- 10.77.0.255',
      '           /32 link BROADCAST',
      '     +-- 127.0.0.0/8 2 0 2',
      '           |-- 127.0.0.1',
      '              /32 host LOCAL',
      'Local:',
      '           |-- 10.77.0.1',
      '              /32 host LOCAL',
      '',
    ].join('\n');
    t.strictSame(localIpv4(fibTrie), ['10.77.0.1']);
    const ifInet6 = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fd770000000000000000000000000001 03 40 00 c0       a0',
      'fe80000000000000283d5dfffe6fe280 03 40 20 80       a0',
      '',
    ].join('\n');
    t.strictSame(localIpv6(ifInet6), ['fd77::1', 'fe80::283d:5dff:fe6f:e280']);
  },
);
