import t from 'tap';
import type { Config } from '../../src/config/types.js';
import { desiredState } from '../../src/desired.js';
import { kindOf } from '../../src/kinds/index.js';
import type { RawRoute } from '../../src/netlink/rtnl.js';
import { newLinkToken, OWNER_ALIAS, ownedLink, ROUTE_PROTO } from '../../src/ownership.js';
import { describeAction } from '../../src/reconcile/describe.js';
import type { LiveLink, LiveState } from '../../src/reconcile/live.js';
import { plan, settle } from '../../src/reconcile/plan.js';

const cidr = (s: string) => {
  const [address = '', len = '0'] = s.split('/');
  return { address, prefixlen: Number(len), family: address.includes(':') ? (6 as const) : (4 as const) };
};

function config(over: Partial<Config> = {}): Config {
  return {
    path: 'island.toml',
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: '192.168.3.100',
        remote: '203.0.113.7',
        port: 5533,
        sourcePort: { low: 5533, high: 5534 },
        addresses: [cidr('10.30.30.2/30'), cidr('fd00:3030::2/126')],
      },
    ],
    bridges: [{ name: 'cni0', addresses: [cidr('10.128.1.1/24')], ports: [], mtu: 1450 }],
    links: [],
    routes: [{ to: cidr('192.168.3.0/24'), via: '10.30.30.1', dev: 'vx0', metric: 100 }],
    sysctl: { 'net.ipv4.ip_forward': '1' },
    daemon: { resyncMs: 30000, debounceMs: 10 },
    ...over,
  };
}

/** A host whose eth0 (ifindex 2) holds these addresses (config()'s tunnel local by default). */
function onHost(live: LiveState, locals: string[] = ['192.168.3.100']): LiveState {
  if (!live.links.some((l) => l.name === 'eth0'))
    live.links.push({ ifindex: 2, name: 'eth0', up: true, mtu: 1500, owned: false });
  for (const address of locals) {
    if (live.addresses.some((a) => a.address === address)) continue;
    const v6 = address.includes(':');
    live.addresses.push({ ifindex: 2, family: v6 ? 6 : 4, address, prefixlen: v6 ? 64 : 24, scope: 0 });
  }
  return live;
}

/** The live state that exactly matches config(): what a converged host looks like. */
function converged(cfg = config()): LiveState {
  const want = desiredState(cfg);
  const links: LiveLink[] = want.links.map((l, i) => ({
    ifindex: 10 + i,
    name: l.name,
    up: true,
    mtu: l.mtu ?? 1500,
    alias: OWNER_ALIAS,
    kind: l.kind,
    owned: true,
    spec: { ...l.spec },
    features: l.features && { ...l.features },
  }));
  const idx = (n: string) => links.find((l) => l.name === n)?.ifindex ?? 0;
  const live: LiveState = {
    links: [{ ifindex: 1, name: 'lo', up: true, mtu: 65536, owned: false }, ...links],
    addresses: [
      ...want.addresses.map((a) => ({
        ifindex: idx(a.link),
        family: a.family,
        address: a.address,
        prefixlen: a.prefixlen,
        scope: 0,
      })),
      { ifindex: idx('vx0'), family: 6 as const, address: 'fe80::1', prefixlen: 64, scope: 253 },
    ],
    routes: want.routes.map(
      (r): RawRoute => ({
        family: r.family,
        dst: r.dst,
        dstLen: r.dstLen,
        table: 254,
        protocol: ROUTE_PROTO,
        type: 1,
        gateway: r.via,
        oif: r.dev ? idx(r.dev) : undefined,
        priority: r.metric || undefined,
      }),
    ),
    sysctls: { ...cfg.sysctl },
  };
  return onHost(
    live,
    cfg.tunnels.map((t) => t.local),
  );
}

const ops = (p: ReturnType<typeof plan>) => p.actions.map(describeAction);

t.test('empty host: everything created, in dependency order', async (t) => {
  const live = onHost({ links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '0' } });
  t.same(ops(plan(desiredState(config()), live)), [
    '~ sysctl net.ipv4.ip_forward = 1 (was 0)',
    '+ link bridge cni0 (mtu 1450)',
    '+ link vxlan vx0 (vni 333, 192.168.3.100 → 203.0.113.7, port 5533, srcport 5533, tx checksum offload off)',
    '+ address 10.128.1.1/24 on cni0',
    '+ address 10.30.30.2/30 on vx0',
    '+ address fd00:3030::2/126 on vx0',
    '+ route 192.168.3.0/24 via 10.30.30.1 dev vx0 metric 100',
  ]);
});

t.test('converged host: no action, every object ok', async (t) => {
  const p = plan(desiredState(config()), converged());
  t.same(p.actions, []);
  t.ok(
    p.status.every((s) => s.state === 'ok'),
    'all ok',
  );
  t.equal(p.status.length, 1 + 2 + 3 + 1, 'sysctl, 2 links, 3 addresses, 1 route');
});

t.test('mtu and down link are changed in place, not re-created', async (t) => {
  const live = converged();
  const cni = live.links.find((l) => l.name === 'cni0')!;
  cni.mtu = 1500;
  cni.up = false;
  const p = plan(desiredState(config()), live);
  t.same(ops(p), ['~ link cni0: down → up, mtu 1500 → 1450']);
  t.equal(p.status.find((s) => s.object === 'link cni0')?.state, 'drifted');
});

t.test('changed vni re-creates the link and re-adds its addresses and routes', async (t) => {
  const cfg = config();
  const live = converged(cfg);
  const vx = cfg.tunnels[0]!;
  if (vx.kind === 'vxlan') vx.vni = 444;
  t.same(ops(plan(desiredState(cfg), live)), [
    '+ link vxlan vx0 (vni 444, 192.168.3.100 → 203.0.113.7, port 5533, srcport 5533, tx checksum offload off) (re-create: vni changed: the kernel cannot change it in place)',
    '+ address 10.30.30.2/30 on vx0',
    '+ address fd00:3030::2/126 on vx0',
    '~ route 192.168.3.0/24 via 10.30.30.1 dev vx0 metric 100 (its link is re-created)',
  ]);
});

t.test('removing source_port unpins it (re-create), removing a tunnel deletes it', async (t) => {
  const cfg = config();
  const live = converged(cfg);
  const vx = cfg.tunnels[0]!;
  if (vx.kind === 'vxlan') vx.sourcePort = undefined;
  t.match(ops(plan(desiredState(cfg), live))[0], /re-create: srcLow, srcHigh changed/);

  const gone = config({ tunnels: [], routes: [] });
  t.same(ops(plan(desiredState(gone), converged())), [
    '- route 192.168.3.0/24 via 10.30.30.1 (no longer in the file)',
    '- link vx0 (no longer in the file)',
  ]);
});

t.test('foreign link holding a declared name: untouched, reported, dependants blocked', async (t) => {
  const live = converged();
  const vx = live.links.find((l) => l.name === 'vx0')!;
  vx.owned = false;
  vx.alias = undefined;
  const p = plan(desiredState(config()), live);
  t.same(p.actions, [], 'nothing is done to it or through it');
  const st = Object.fromEntries(p.status.map((s) => [s.object, s]));
  t.equal(st['link vx0']?.state, 'foreign');
  t.match(st['link vx0']?.detail, /a link named vx0 \(vxlan, ifindex \d+\) exists and is not island's/);
  t.equal(st['address 10.30.30.2/30 on vx0']?.state, 'blocked');
  t.equal(st['route 192.168.3.0/24 metric 100']?.state, 'blocked');
});

t.test('foreign links, addresses and routes are never touched', async (t) => {
  const live = converged();
  live.links.push({ ifindex: 99, name: 'eth0', up: true, mtu: 1500, owned: false, kind: 'veth' });
  live.addresses.push({ ifindex: 99, family: 4, address: '192.168.3.100', prefixlen: 24, scope: 0 });
  live.routes.push({
    family: 4,
    dst: '0.0.0.0',
    dstLen: 0,
    table: 254,
    protocol: 4,
    type: 1,
    gateway: '192.168.3.1',
    oif: 99,
  });
  live.routes.push({ family: 4, dst: '10.0.0.0', dstLen: 8, table: 254, protocol: 3, type: 1, oif: 99 });
  t.same(plan(desiredState(config()), live).actions, []);
});

t.test('a foreign route with the same destination and metric is reported, not replaced', async (t) => {
  const live = converged();
  live.routes = [
    {
      family: 4,
      dst: '192.168.3.0',
      dstLen: 24,
      table: 254,
      protocol: 4,
      type: 1,
      gateway: '10.30.30.1',
      priority: 100,
    },
  ];
  const p = plan(desiredState(config()), live);
  t.same(p.actions, []);
  t.equal(p.status.find((s) => s.object.startsWith('route'))?.state, 'foreign');
});

t.test('addresses: flushed ones come back, extra ones on owned links go, link-local stays', async (t) => {
  const live = converged();
  const vxIndex = live.links.find((l) => l.name === 'vx0')!.ifindex;
  live.addresses = live.addresses.filter((a) => a.address !== '10.30.30.2');
  live.addresses.push({ ifindex: vxIndex, family: 4, address: '10.99.0.1', prefixlen: 24, scope: 0 });
  t.same(ops(plan(desiredState(config()), live)), ['- address 10.99.0.1/24 on vx0', '+ address 10.30.30.2/30 on vx0']);
});

t.test('route drift: gateway changed → replaced; deleted → added', async (t) => {
  const live = converged();
  live.routes[0]!.gateway = '10.30.30.3';
  t.same(ops(plan(desiredState(config()), live)), [
    '~ route 192.168.3.0/24 via 10.30.30.1 dev vx0 metric 100 (via 10.30.30.3 → 10.30.30.1)',
  ]);
  live.routes = [];
  t.same(ops(plan(desiredState(config()), live)), ['+ route 192.168.3.0/24 via 10.30.30.1 dev vx0 metric 100']);
});

t.test('missing underlay blocks the tunnel and what depends on it, without an action', async (t) => {
  const cfg = config();
  cfg.tunnels[0]!.dev = 'eth9';
  const p = plan(
    desiredState(cfg),
    onHost({ links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '1' } }),
  );
  t.same(ops(p), ['+ link bridge cni0 (mtu 1450)', '+ address 10.128.1.1/24 on cni0']);
  const vx = p.status.find((s) => s.object === 'link vx0');
  t.same(vx, {
    id: { type: 'link', name: 'vx0' },
    object: 'link vx0',
    state: 'blocked',
    detail: 'underlay device eth9 does not exist',
  });
});

t.test('bridge ports: enslaved in place, released when dropped from ports', async (t) => {
  const cfg = config();
  cfg.bridges[0]!.ports = ['vx0'];
  const live = converged();
  t.same(ops(plan(desiredState(cfg), live)), ['~ link vx0: master none → cni0']);
  const enslaved = converged(cfg);
  enslaved.links.find((l) => l.name === 'vx0')!.master = enslaved.links.find((l) => l.name === 'cni0')!.ifindex;
  t.same(plan(desiredState(cfg), enslaved).actions, []);
  t.same(ops(plan(desiredState(config()), enslaved)), ['~ link vx0: master cni0 → none']);
});

t.test('ipip spec: what the file says and what the kernel reports compare equal', async (t) => {
  const ipip = kindOf('ipip');
  const decl = {
    name: 't0',
    kind: 'ipip' as const,
    local: '192.168.3.100',
    remote: '138.96.245.50',
    ttl: 64,
    addresses: [],
  };
  const spec = ipip.spec(decl);
  const ctx = { ifindex: () => undefined, ifname: () => undefined };
  t.same(ipip.decode(ipip.encode(spec, ctx), ctx), spec);
});

t.test('settle: repaired objects read ok, removed ones vanish, failed ones say why', async (t) => {
  const live = converged();
  live.links = live.links.filter((l) => l.name !== 'cni0');
  live.routes.push({ family: 4, dst: '10.77.0.0', dstLen: 16, table: 254, protocol: ROUTE_PROTO, type: 1, oif: 11 });
  const p = plan(desiredState(config()), live);
  const results = p.actions.map((action) => ({
    action,
    error: action.op === 'add-address' ? 'add address: EADDRNOTAVAIL' : undefined,
  }));
  const settled = settle(p.status, results);
  const after = Object.fromEntries(settled.map((s) => [s.object, s.state]));
  t.equal(after['link cni0'], 'ok', 'created: ok');
  t.same(
    settled.find((s) => s.object === 'address 10.128.1.1/24 on cni0'),
    {
      id: { type: 'address', link: 'cni0', address: '10.128.1.1', prefixlen: 24 },
      object: 'address 10.128.1.1/24 on cni0',
      state: 'blocked',
      detail: 'add address: EADDRNOTAVAIL',
    },
    'failed: blocked by what the kernel said',
  );
  t.notOk('route 10.77.0.0/16' in after, 'stale route removed: gone from the status');
});

t.test('a tunnel over a bridge island creates in the same pass is not blocked', async (t) => {
  const cfg = config();
  cfg.tunnels[0]!.dev = 'cni0';
  const p = plan(
    desiredState(cfg),
    onHost({ links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '1' } }),
  );
  t.equal(p.status.find((s) => s.object === 'link vx0')?.state, 'missing');
  t.match(ops(p).slice(0, 2), ['+ link bridge cni0 (mtu 1450)', /^\+ link vxlan vx0 .*dev cni0/]);
});

/** A host whose eth0 (ifindex 2) holds 192.168.3.100/24 with a default route via 192.168.3.1. */
function withUnderlay(live: LiveState): LiveState {
  onHost(live);
  live.routes.push(
    { family: 4, dst: '0.0.0.0', dstLen: 0, table: 254, protocol: 4, type: 1, gateway: '192.168.3.1', oif: 2 },
    { family: 4, dst: '192.168.3.0', dstLen: 24, table: 254, protocol: 2, type: 1, oif: 2 },
  );
  return live;
}

t.test(
  'an IPv4 tunnel whose remote a route through it covers is bound to the device holding its local address',
  async (t) => {
    const cfg = config({ routes: [{ to: cidr('203.0.113.0/24'), via: '10.30.30.1', dev: 'vx0' }] });
    const want = desiredState(cfg);
    t.equal(want.links.find((l) => l.name === 'vx0')?.bindLocal, true);
    t.same(
      want.routes.filter((r) => r.pin),
      [],
      'no pin route: the bound lookup never sees the route through vx0',
    );
    const empty = withUnderlay({ links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '1' } });
    t.match(ops(plan(want, empty)), ['+ link bridge cni0 (mtu 1450)', /^\+ link vxlan vx0 .*dev eth0/]);
    // converged and bound: nothing to do; the local address moves to another device: re-created there
    const live = withUnderlay(converged(cfg));
    const vx = live.links.find((l) => l.name === 'vx0');
    if (vx?.spec) vx.spec.dev = 'eth0';
    t.same(ops(plan(want, live)), []);
    live.links.push({ ifindex: 3, name: 'eth1', up: true, mtu: 1500, owned: false });
    const addr = live.addresses.find((a) => a.address === '192.168.3.100');
    if (addr) addr.ifindex = 3;
    t.match(
      plan(want, live).status.find((s) => s.object === 'link vx0'),
      { state: 'drifted', detail: /^dev changed/ },
    );
    // the local address is nowhere: a bound tunnel has no device to be bound to; blocked, left as it is
    const none = converged(cfg);
    none.addresses = none.addresses.filter((a) => a.address !== '192.168.3.100');
    const p = plan(want, none);
    t.same(
      p.status.find((s) => s.object === 'link vx0'),
      {
        id: { type: 'link', name: 'vx0' },
        object: 'link vx0',
        state: 'blocked',
        detail: 'local 192.168.3.100 is not on this host',
      },
    );
    t.same(ops(p), [], 'nothing is done to it or through it');
  },
);

t.test('an IPv6 remote covered by a route through the tunnel gets a pin along the host path', async (t) => {
  const v6 = config({
    tunnels: [
      {
        name: 'vx0',
        kind: 'vxlan',
        vni: 333,
        local: 'fd00:1::100',
        remote: 'fd00:2::7',
        port: 5533,
        addresses: [cidr('fd00:3030::2/126')],
      },
    ],
    bridges: [],
    links: [],
    routes: [{ to: cidr('fd00:2::/64'), via: 'fd00:3030::1', dev: 'vx0' }],
    sysctl: {},
  });
  const want = desiredState(v6);
  t.same(
    want.routes.map((r) => `${r.dst}/${r.dstLen}${r.pin ? ` pin ${r.pin.tunnel}` : ''}`),
    ['fd00:2::7/128 pin vx0', 'fd00:2::/64'],
    'the pin comes first, so the wide route never goes in without it',
  );
  const live = converged(config({ ...v6, routes: [] }));
  live.links.push({ ifindex: 2, name: 'eth0', up: true, mtu: 1500, owned: false });
  const underlay: RawRoute = {
    family: 6,
    dst: '::',
    dstLen: 0,
    table: 254,
    protocol: 4,
    type: 1,
    gateway: 'fd00:1::1',
    oif: 2,
    priority: 1024,
  };
  live.routes.push(underlay);
  t.same(ops(plan(want, live)), [
    '+ route fd00:2::7/128 via fd00:1::1 dev eth0 metric 1024',
    '+ route fd00:2::/64 via fd00:3030::1 dev vx0 metric 1024',
  ]);
  // the underlay's gateway moves: the pin follows; island's own routes never count as the path
  live.routes.push(
    {
      family: 6,
      dst: 'fd00:2::7',
      dstLen: 128,
      table: 254,
      protocol: ROUTE_PROTO,
      type: 1,
      gateway: 'fd00:1::1',
      oif: 2,
      priority: 1024,
    },
    {
      family: 6,
      dst: 'fd00:2::',
      dstLen: 64,
      table: 254,
      protocol: ROUTE_PROTO,
      type: 1,
      gateway: 'fd00:3030::1',
      oif: live.links.find((l) => l.name === 'vx0')?.ifindex,
      priority: 1024,
    },
  );
  t.same(ops(plan(want, live)), [], 'converged');
  underlay.gateway = 'fd00:1::fe';
  t.same(ops(plan(want, live)), [
    '~ route fd00:2::7/128 via fd00:1::fe dev eth0 metric 1024 (via fd00:1::1 → fd00:1::fe)',
  ]);
  live.routes = live.routes.filter((r) => r !== underlay);
  t.same(
    plan(want, live).status.find((s) => s.object === 'route fd00:2::7/128 metric 1024'),
    {
      id: { type: 'route', dst: 'fd00:2::7', dstLen: 128, metric: 1024 },
      object: 'route fd00:2::7/128 metric 1024',
      state: 'blocked',
      detail: 'no route to fd00:2::7 outside the island: tunnel vx0 has no underlay path to pin',
    },
  );
});

t.test('a route that does not cover the remote needs neither binding nor pin', async (t) => {
  const want = desiredState(config());
  t.same(
    want.routes.filter((r) => r.pin),
    [],
  );
  t.notOk(want.links.some((l) => l.bindLocal));
});

t.test(
  'routes over host devices: added when the device and gateway are there, blocked with the reason until then',
  async (t) => {
    const cfg = config({
      tunnels: [],
      bridges: [],
      links: [],
      routes: [
        { to: cidr('198.51.100.0/24'), via: '192.168.3.100' },
        { to: cidr('10.3.1.0/24'), via: '192.168.3.100', dev: 'eth0' },
        { to: cidr('10.4.0.0/16'), dev: 'eth1' },
      ],
    });
    const want = desiredState(cfg);
    const empty: LiveState = { links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '1' } };
    const p = plan(want, empty);
    t.same(ops(p), []);
    t.same(
      p.status.filter((s) => s.object.startsWith('route')).map((s) => `${s.object}: ${s.state}: ${s.detail}`),
      [
        'route 198.51.100.0/24: blocked: gateway 192.168.3.100 is on no connected subnet of this host',
        'route 10.3.1.0/24: blocked: device eth0 does not exist',
        'route 10.4.0.0/16: blocked: device eth1 does not exist',
      ],
    );
    const live = withUnderlay({ ...empty, links: [], addresses: [], routes: [] });
    t.same(ops(plan(want, live)), [
      '+ route 198.51.100.0/24 via 192.168.3.100',
      '+ route 10.3.1.0/24 via 192.168.3.100 dev eth0',
    ]);
    const eth0 = live.links.find((l) => l.name === 'eth0');
    if (eth0) eth0.up = false;
    t.match(
      plan(want, live).status.find((s) => s.object === 'route 10.3.1.0/24'),
      { state: 'blocked', detail: 'device eth0 is down' },
    );
  },
);

t.test('tx checksum offload turned on by hand: changed in place, never a re-create', async (t) => {
  const live = converged();
  const vx = live.links.find((l) => l.name === 'vx0')!;
  vx.features = { 'tx-checksum-ip-generic': true };
  const p = plan(desiredState(config()), live);
  t.same(ops(p), ['~ link vx0: tx checksum offload on → off']);
  t.match(p.actions, [
    { op: 'set-link', ifindex: vx.ifindex, change: { features: { 'tx-checksum-ip-generic': false } } },
  ]);
  t.same(
    p.status.find((s) => s.object === 'link vx0'),
    {
      id: { type: 'link', name: 'vx0' },
      object: 'link vx0',
      state: 'drifted',
      detail: 'tx checksum offload on → off',
    },
  );
  vx.up = false;
  t.same(ops(plan(desiredState(config()), live)), ['~ link vx0: down → up, tx checksum offload on → off']);
});

t.test('tx_checksum_offload = true: the kernel default is left alone, in plan and in the create line', async (t) => {
  const cfg = config();
  const vx = cfg.tunnels[0]!;
  if (vx.kind === 'vxlan') vx.txChecksumOffload = true;
  const want = desiredState(cfg);
  t.equal(want.links.find((l) => l.name === 'vx0')?.features, undefined, 'nothing to manage');
  const live = converged(cfg);
  live.links.find((l) => l.name === 'vx0')!.features = { 'tx-checksum-ip-generic': true };
  t.same(plan(want, live).actions, [], 'on stays on');
  const empty = onHost({ links: [], addresses: [], routes: [], sysctls: { 'net.ipv4.ip_forward': '1' } });
  t.match(ops(plan(want, empty)), [
    '+ link bridge cni0 (mtu 1450)',
    '+ link vxlan vx0 (vni 333, 192.168.3.100 → 203.0.113.7, port 5533, srcport 5533)',
  ]);
});

t.test(
  'features that cannot be read: the link is blocked with the reason; its addresses and routes go on',
  async (t) => {
    const live = converged();
    const vx = live.links.find((l) => l.name === 'vx0')!;
    vx.features = undefined;
    live.featuresError = 'the kernel has no ethtool netlink family (built without CONFIG_ETHTOOL_NETLINK)';
    live.addresses = live.addresses.filter((a) => a.address !== '10.30.30.2');
    const p = plan(desiredState(config()), live);
    t.same(
      p.status.find((s) => s.object === 'link vx0'),
      {
        id: { type: 'link', name: 'vx0' },
        object: 'link vx0',
        state: 'blocked',
        detail:
          'tx checksum offload cannot be read: the kernel has no ethtool netlink family (built without CONFIG_ETHTOOL_NETLINK)',
      },
    );
    t.same(ops(p), ['+ address 10.30.30.2/30 on vx0'], 'no guess at the offload; the address is still repaired');
  },
);

t.test('a tunnel whose local address is not on this host is blocked, yet made and kept', async (t) => {
  const cfg = config();
  const gone = (live: LiveState) => {
    live.addresses = live.addresses.filter((a) => a.address !== '192.168.3.100');
    return live;
  };
  const blocked = {
    id: { type: 'link', name: 'vx0' },
    object: 'link vx0',
    state: 'blocked',
    detail: 'local 192.168.3.100 is not on this host',
  };
  const live = gone(converged(cfg));
  const p = plan(desiredState(cfg), live);
  t.same(ops(p), [], 'nothing to change: it works again as soon as the address is back');
  t.same(
    p.status.find((s) => s.object === 'link vx0'),
    blocked,
  );
  t.equal(p.status.find((s) => s.object === 'address 10.30.30.2/30 on vx0')?.state, 'ok', 'its addresses are kept');
  const empty = plan(desiredState(cfg), { links: [], addresses: [], routes: [], sysctls: {} });
  t.match(ops(empty), [/^~ sysctl/, '+ link bridge cni0 (mtu 1450)', /^\+ link vxlan vx0 /], 'made all the same');
  const done = settle(
    empty.status,
    empty.actions.map((action) => ({ action })),
  );
  t.same(
    done.find((s) => s.object === 'link vx0'),
    blocked,
    'still blocked once made',
  );
  // an address island gives a bridge of the file counts as there
  const over = config({
    bridges: [{ name: 'cni0', addresses: [cidr('192.168.3.100/24')], ports: [] }],
    links: [],
  });
  t.equal(
    plan(desiredState(over), { links: [], addresses: [], routes: [], sysctls: {} }).status.find(
      (s) => s.object === 'link vx0',
    )?.state,
    'missing',
  );
});

t.test('ownership: the alias, or a token as name or altname; never the name alone', async (t) => {
  t.ok(ownedLink({ name: 'vx0', alias: 'island' }), 'alias island');
  t.ok(
    ownedLink({ name: 'vx0', alias: 'uplink to faraday', altnames: ['island-3fa9c2d1'] }),
    'alias rewritten, token kept',
  );
  t.ok(ownedLink({ name: 'island-3fa9c2d1' }), 'still under its token name: an interrupted create');
  t.notOk(ownedLink({ name: 'vx0' }), "a link of the declared name is not island's by its name");
  t.notOk(ownedLink({ name: 'vx0', altnames: ['island-xyz', 'island'] }), 'only island-<8 hex> is a token');
  t.match(newLinkToken(), /^island-[0-9a-f]{8}$/);
  t.equal(newLinkToken().length, 15, 'fits IFNAMSIZ');
});

t.test(
  'make before break: a re-created link replaces the old one after it exists, or before when the kernel cannot hold both',
  async (t) => {
    const cfg = config();
    const live = converged(cfg);
    const vx = cfg.tunnels[0]!;
    if (vx.kind === 'vxlan') vx.vni = 444;
    const old = live.links.find((l) => l.name === 'vx0')!;
    t.match(
      plan(desiredState(cfg), live).actions,
      [{ op: 'create-link', link: { name: 'vx0' }, replaces: [{ name: 'vx0', ifindex: old.ifindex, first: false }] }],
      'another VNI: the new link is made first',
    );
    const same = config();
    same.tunnels[0]!.remote = '203.0.113.8';
    t.match(
      plan(desiredState(same), converged()).actions,
      [{ op: 'create-link', link: { name: 'vx0' }, replaces: [{ name: 'vx0', first: true }] }],
      'same VNI and port: the kernel holds one, the old goes first',
    );
  },
);

t.test(
  "links removed from the file: leftovers of a killed create first, the rest last, one holding the new link's VNI replaced",
  async (t) => {
    const live = converged();
    const old = live.links.find((l) => l.name === 'vx0')!;
    // renamed in the file, same VNI and port
    const renamed = config();
    renamed.tunnels[0]!.name = 'vx1';
    renamed.routes = [];
    live.links.push(
      {
        ifindex: 50,
        name: 'island-0badf00d',
        up: false,
        mtu: 1500,
        owned: true,
        kind: 'vxlan',
        spec: { ...old.spec, vni: 9 },
      },
      { ifindex: 51, name: 'br-old', up: true, mtu: 1500, owned: true, kind: 'bridge', spec: {} },
    );
    const p = plan(desiredState(renamed), live);
    t.same(
      ops(p).filter((o) => /link/.test(o)),
      [
        '- link island-0badf00d (left by an interrupted create)',
        '+ link vxlan vx1 (vni 333, 192.168.3.100 → 203.0.113.7, port 5533, srcport 5533, tx checksum offload off) (in place of vx0)',
        '- link br-old (no longer in the file)',
      ],
    );
    t.match(
      p.actions.find((a) => a.op === 'create-link'),
      { replaces: [{ name: 'vx0', ifindex: old.ifindex, first: true }] },
    );
    t.match(
      p.status.find((s) => s.object === 'link vx0'),
      { state: 'stale' },
    );
    const done = settle(
      p.status,
      p.actions.map((action) => ({ action })),
    );
    t.notOk(
      done.some((s) => s.object === 'link vx0'),
      'once vx1 is made, vx0 is gone from the status too',
    );
  },
);

t.test('a foreign link holding the VNI and port blocks the create, named', async (t) => {
  const live = converged();
  live.links = live.links.filter((l) => l.name !== 'vx0');
  const spec = desiredState(config()).links.find((l) => l.name === 'vx0')!.spec;
  live.links.push({
    ifindex: 7,
    name: 'flannel.1',
    up: true,
    mtu: 1450,
    owned: false,
    kind: 'vxlan',
    spec: { ...spec },
  });
  const p = plan(desiredState(config()), live);
  t.same(
    p.status.find((s) => s.object === 'link vx0'),
    {
      id: { type: 'link', name: 'vx0' },
      object: 'link vx0',
      state: 'blocked',
      detail: "vxlan flannel.1 (ifindex 7, not island's) already holds VNI 333 and port 5533",
    },
  );
  t.notOk(
    p.actions.some((a) => a.op === 'create-link' && a.link.name === 'vx0'),
    'no create the kernel would refuse',
  );
});

t.test(
  'a [[link]] shim: blocked while its parent is absent; a mode changed in place; another parent re-creates',
  async (t) => {
    const shim = { name: 'shim0', kind: 'macvlan', parent: 'eth1', mode: 'bridge', addresses: [cidr('10.5.2.254/32')] };
    const cfg = config({ links: [shim], routes: [{ to: cidr('10.5.2.0/24'), dev: 'shim0' }] });
    const live = onHost(converged(cfg));
    live.links.push({ ifindex: 3, name: 'eth1', up: true, mtu: 1500, owned: false });
    t.same(plan(desiredState(cfg), live).actions, [], 'converged: nothing to do');

    const gone = onHost(converged(cfg));
    gone.links = gone.links.filter((l) => l.name !== 'shim0');
    const p = plan(desiredState(cfg), gone);
    t.same(
      p.status.find((x) => x.object === 'link shim0'),
      {
        object: 'link shim0',
        id: { type: 'link', name: 'shim0' },
        state: 'blocked',
        detail: 'parent device eth1 does not exist',
      },
      'link shim0 blocked, with the reason',
    );
    t.notOk(
      p.actions.some((a) => a.op === 'create-link' || a.op === 'replace-route'),
      'neither the link nor the route through it is attempted',
    );

    const moved = plan(desiredState(config({ ...cfg, links: [{ ...shim, mode: 'private' }] })), live);
    t.same(moved.actions.map(describeAction), ['~ link shim0: mode bridge → private'], 'the mode, in place');
    t.match(moved.actions, [{ op: 'set-link', change: { kindSpec: { kind: 'macvlan', changed: ['mode'] } } }]);

    live.links.push({ ifindex: 4, name: 'eth2', up: true, mtu: 1500, owned: false });
    const other = plan(desiredState(config({ ...cfg, links: [{ ...shim, parent: 'eth2' }] })), live);
    t.match(other.actions.map(describeAction), [
      /^\+ link macvlan shim0 \(bridge on eth2\) \(re-create: parent changed/,
    ]);
  },
);
