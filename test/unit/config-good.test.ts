/** Good fixtures parse to exactly this typed Config: canonical addresses, camelCase, defaults filled in. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { formatDiagnostic, loadConfig } from '../../src/config/load.js';
import type { Cidr, Config } from '../../src/config/types.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'good');

const v4 = (address: string, prefixlen: number): Cidr => ({ address, prefixlen, family: 4 });
const v6 = (address: string, prefixlen: number): Cidr => ({ address, prefixlen, family: 6 });
const daemon = { resyncMs: 30_000, debounceMs: 10 };

type Expected = Omit<Config, 'path'>;

const expected: Record<string, Expected> = {
  'empty.toml': { tunnels: [], bridges: [], links: [], routes: [], sysctl: {}, daemon },
  'member-routes.toml': {
    tunnels: [],
    bridges: [],
    links: [],
    routes: [
      { to: v4('192.168.3.0', 24), via: '198.51.100.50' },
      { to: v4('10.3.1.0', 24), via: '198.51.100.50', dev: 'eth0' },
    ],
    sysctl: {},
    daemon,
  },
  'minimal.toml': {
    tunnels: [{ name: 'island0', kind: 'ipip', local: '192.168.3.100', remote: '138.96.245.50', addresses: [] }],
    bridges: [],
    links: [],
    routes: [],
    sysctl: {},
    daemon,
  },
  'vxlan-ports.toml': {
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '203.0.113.7',
        port: 5533,
        sourcePort: { low: 5533, high: 5534 },
        addresses: [],
      },
      {
        name: 'vx1',
        kind: 'vxlan',
        vni: 16777215,
        local: '192.168.3.100',
        remote: '203.0.113.8',
        port: 5533,
        sourcePort: { low: 5533, high: 5541 },
        addresses: [],
      },
      {
        name: 'vx2',
        kind: 'vxlan',
        vni: 1,
        local: '2001:db8::1',
        remote: '2001:db8::2',
        port: 65535,
        sourcePort: { low: 1, high: 65535 },
        addresses: [],
      },
    ],
    bridges: [],
    links: [],
    routes: [],
    sysctl: {},
    daemon,
  },
  'inline.toml': {
    tunnels: [
      {
        name: 'island0',
        kind: 'ipip',
        local: '192.168.3.100',
        remote: '138.96.245.50',
        addresses: [v4('10.3.1.3', 30)],
      },
    ],
    bridges: [{ name: 'br-lab', addresses: [v6('fd00:0:0:1::1', 64)], ports: [] }],
    links: [],
    routes: [
      { to: v4('0.0.0.0', 0), via: '10.3.1.2', metric: 4294967295 },
      { to: v6('fd00:0:0:2::', 64), dev: 'br-lab', metric: 0 },
    ],
    sysctl: { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.eth0/100.forwarding': '1' },
    daemon: { resyncMs: 5000, debounceMs: 0 },
  },
  'warnings.toml': {
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '203.0.113.7',
        port: 4789,
        sourcePort: { low: 5533, high: 5534 },
        addresses: [v4('10.30.30.2', 30)],
      },
    ],
    bridges: [{ name: 'cni0', addresses: [v4('10.128.1.1', 24)], ports: ['vx0'] }],
    links: [],
    routes: [],
    sysctl: {},
    daemon,
  },
  'full.toml': {
    tunnels: [
      {
        name: 'island0',
        kind: 'ipip',
        local: '192.168.3.100',
        remote: '138.96.245.50',
        dev: 'eth0',
        ttl: 64,
        mtu: 1480,
        addresses: [v4('10.3.1.3', 24)],
        keepaliveMs: 25_000,
      },
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '203.0.113.7',
        dev: 'eth0',
        ttl: 64,
        mtu: 1450,
        port: 5533,
        sourcePort: { low: 5533, high: 5534 },
        txChecksumOffload: false,
        addresses: [v4('10.30.30.2', 30), v6('fd00:3030::2', 126)],
        peer: '10.30.30.1',
      },
      {
        name: 'vx1',
        kind: 'vxlan',
        vni: 334,
        local: '192.168.3.100',
        remote: '203.0.113.8',
        mtu: 1450,
        port: 4789,
        sourcePort: { low: 49152, high: 49408 },
        addresses: [],
      },
      {
        name: 'gre1',
        kind: 'gre',
        local: '192.168.3.100',
        remote: '203.0.113.9',
        key: 7,
        ttl: 64,
        addresses: [v4('10.40.40.2', 30)],
      },
    ],
    bridges: [{ name: 'cni0', mtu: 1450, addresses: [v4('10.128.1.1', 24)], ports: ['vx1'] }],
    links: [
      { name: 'shim0', kind: 'macvlan', parent: 'eth1', mode: 'bridge', mtu: 1500, addresses: [v4('10.5.2.254', 32)] },
    ],
    routes: [
      { to: v4('10.5.2.0', 24), dev: 'shim0' },
      { to: v4('10.4.0.0', 16), via: '10.3.1.1', dev: 'island0', metric: 100 },
      { to: v6('fd00:4040::', 64), via: 'fd00:3030::1' },
    ],
    sysctl: {
      'net.ipv4.ip_forward': '1',
      'net.ipv6.conf.all.forwarding': '1',
      'net.ipv4.conf.island0.rp_filter': '2',
      'net.ipv4.tcp_rmem': '4096 87380 6291456',
    },
    daemon: {
      ...daemon,
      healthPort: 5534,
      healthIntervalMs: 10_000,
      rcuExpedited: true,
      metrics: '/var/lib/prometheus/node-exporter/island.prom',
    },
    hosts: [
      { name: 'sopnode-tunnel', address: '10.3.1.2' },
      { name: 'faraday-tunnel', address: '10.3.1.3' },
    ],
    forward: {
      accept: ['cni0', 'island0'],
      rules: [{ in: 'vx0', out: 'cni0', source: v4('10.30.30.0', 30), destination: v4('10.128.0.0', 16) }],
      backend: 'auto',
      pollMs: 1000,
      input: true,
      clampMss: true,
    },
  },
  'toml-utf8.toml': {
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 16777215,
        local: '192.168.3.100',
        remote: '203.0.113.7',
        port: 4789,
        addresses: [],
      },
    ],
    bridges: [],
    links: [],
    routes: [],
    sysctl: { 'net.core.example': '9223372036854775807', 'net.core.example_min': '-9223372036854775808' },
    daemon,
  },
  'kernel-identities.toml': {
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '192.168.3.7',
        port: 4789,
        addresses: [v4('10.3.1.3', 31)],
      },
      {
        name: 'vx1',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '192.168.3.7',
        port: 5533,
        addresses: [],
      },
      {
        name: 'vx2',
        kind: 'vxlan',
        vni: 333,
        local: 'fd00::1',
        remote: 'fd00::2',
        port: 4789,
        addresses: [v6('fd00:4040::1', 64)],
      },
      {
        name: 'vx3',
        kind: 'vxlan',
        vni: 7,
        local: '192.168.3.100',
        remote: '239.1.1.1',
        dev: 'eth0',
        port: 4789,
        addresses: [],
      },
      {
        name: 'vx4',
        kind: 'vxlan',
        vni: 8,
        local: 'fe80::1',
        remote: 'fe80::2',
        dev: 'eth0',
        port: 4789,
        addresses: [],
      },
      { name: 'ipip0', kind: 'ipip', local: '192.168.3.100', remote: '192.168.3.8', mtu: 65515, addresses: [] },
      { name: 'ipip1', kind: 'ipip', local: '192.168.3.100', remote: '192.168.3.8', dev: 'eth1', addresses: [] },
    ],
    bridges: [{ name: 'br-all', addresses: [], ports: [] }],
    links: [],
    routes: [
      { to: v4('10.4.0.0', 16), via: '10.3.1.2' },
      { to: v4('10.4.0.0', 16), via: '10.3.1.2', metric: 100 },
      { to: v4('10.3.0.0', 16), via: '10.3.1.2' },
      { to: v6('fd00:4::', 64), via: 'fd00:4040::2', metric: 1 },
      { to: v6('fd00:4::', 64), via: 'fd00:4040::2' },
    ],
    sysctl: {},
    daemon,
  },
  'sysctl-kernel.toml': {
    tunnels: [],
    bridges: [],
    links: [],
    routes: [],
    sysctl: {
      'net.ipv4.tcp_rmem': '4096 87380 6291456',
      'net.ipv4.tcp_wmem': '4096\t16384   4194304 ',
      'net.ipv4.ip_local_port_range': '1024 65535',
      'net.ipv4.ip_unprivileged_port_start': '1024',
      'net.ipv4.icmp_echo_ignore_all': '1',
      'net.ipv6.conf.all.hop_limit': '255',
      'net.ipv4.conf.eth0/100.forwarding': '1',
      'net.ipv4.conf.eth1.200.rp_filter': '2',
      'net.ipv6.conf.eth0/100.accept_ra': '2',
      'net.ipv4.conf.all.arp_ignore': '-1',
      'net.ipv4.tcp_congestion_control': 'cubic',
    },
    daemon,
  },
  'forward-rules.toml': {
    tunnels: [],
    bridges: [{ name: 'cni0', addresses: [v4('10.128.1.1', 24), v6('fd00:128:1::1', 64)], ports: [] }],
    links: [],
    routes: [],
    sysctl: {},
    daemon,
    forward: {
      accept: ['cni0', 'docker0'],
      rules: [
        { in: 'eth0', out: 'cni0', source: v4('10.3.1.0', 24), destination: v4('10.128.0.0', 16) },
        { source: v6('fd00:3030::', 126) },
        { out: 'eth1' },
      ],
      backend: 'legacy',
      pollMs: 250,
      input: false,
      clampMss: true,
    },
  },
};

const expectedWarnings: Record<string, string[]> = {
  'warnings.toml': [
    '9:15: warning: tunnel[0].source_port: source_port is pinned but port is left at the default 4789; ' +
      'set port too if the peer listens elsewhere (e.g. port = 5533)',
    '10:13: warning: tunnel[0].addresses: vx0 is a port of bridge cni0, so its addresses go unused; put them on cni0',
  ],
};

t.test('every good fixture has an expected Config', async (t) => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.toml'));
  t.strictSame(files.sort(), Object.keys(expected).sort());
});

for (const [file, want] of Object.entries(expected)) {
  t.test(file, async (t) => {
    const path = join(dir, file);
    const r = await loadConfig(path);
    if (!r.ok) return t.fail(r.errors.map(formatDiagnostic).join('\n'));
    t.strictSame(r.config, { path, ...want });
    t.strictSame(
      r.warnings.map((d) => formatDiagnostic(d).slice(path.length + 1)),
      expectedWarnings[file] ?? [],
    );
  });
}
