import t from 'tap';
import { KnownState } from '../../src/daemon/known.js';
import type { RtEvent } from '../../src/netlink/events.js';
import type { LiveState } from '../../src/reconcile/live.js';

const read = (): LiveState => ({
  links: [
    { ifindex: 3, name: 'ul0', up: true, mtu: 1500, owned: false },
    { ifindex: 7, name: 'vx0', up: true, mtu: 1450, owned: true, alias: 'island' },
  ],
  addresses: [
    { ifindex: 3, family: 4, address: '10.9.0.1', prefixlen: 24, scope: 0 },
    { ifindex: 7, family: 4, address: '10.30.30.2', prefixlen: 30, scope: 0 },
  ],
  routes: [
    { family: 4, dst: '192.168.3.0', dstLen: 24, table: 254, protocol: 149, type: 1, gateway: '10.30.30.1', oif: 7 },
    { family: 4, dst: '0.0.0.0', dstLen: 0, table: 254, protocol: 3, type: 1, gateway: '10.9.0.254', oif: 3 },
  ],
  sysctls: {},
});

const down: RtEvent = { kind: 'link', op: 'new', ifindex: 7, ifname: 'vx0', family: 0, up: false, mtu: 1450 };
const addrGone: RtEvent = { kind: 'address', op: 'del', ifindex: 7, family: 2, dst: '10.30.30.2', dstLen: 30 };
const linkGone: RtEvent = { kind: 'link', op: 'del', ifindex: 7, ifname: 'vx0', family: 0, up: false, mtu: 1450 };

t.test("an own link's deletion is told by its events: the read less the link, its addresses and routes", async (t) => {
  const k = new KnownState();
  k.read(read(), true);
  for (const ev of [down, addrGone, linkGone]) k.note(ev, true);
  const told = k.take();
  t.equal(told?.firewall, false, 'the firewall as read');
  const live = told?.live;
  t.strictSame(
    live?.links.map((l) => l.name),
    ['ul0'],
  );
  t.strictSame(
    live?.addresses.map((a) => a.address),
    ['10.9.0.1'],
  );
  t.strictSame(
    live?.routes.map((r) => r.dst),
    ['0.0.0.0'],
  );
  t.equal(k.take(), undefined, 'once: the pass after reads again');
});

t.test('the link going down alone is taken for its deletion', async (t) => {
  const k = new KnownState();
  k.read(read(), true);
  k.note(down, true);
  t.strictSame(
    k.take()?.live.links.map((l) => l.name),
    ['ul0'],
  );
});

t.test('anything else forgets the read', async (t) => {
  const cases: [string, RtEvent, boolean][] = [
    ['an own link changed but up', { ...down, up: true, mtu: 1400 }, true],
    ['an address added', { ...addrGone, op: 'new' }, true],
    ["another link's address removed", { ...addrGone, ifindex: 3 }, false],
    [
      'a route without a device',
      { kind: 'route', op: 'del', family: 2, dst: '10.0.0.0', dstLen: 8, protocol: 149 },
      true,
    ],
    ['a foreign link deleted', { ...linkGone, ifindex: 3, ifname: 'ul0' }, false],
  ];
  for (const [what, ev, own] of cases) {
    const k = new KnownState();
    k.read(read(), true);
    k.note(linkGone, true);
    k.note(ev, own);
    t.equal(k.take(), undefined, what);
  }
  const k = new KnownState();
  k.read(read(), false);
  k.note(linkGone, true);
  t.equal(k.take(), undefined, 'a read the pass changed things after is not kept');
  k.read(read(), true);
  t.equal(k.take(), undefined, 'nothing heard: nothing to tell (a resync reads)');
});

t.test("a change to island's firewall: read again alone, the rest as read", async (t) => {
  const k = new KnownState();
  k.firewallChanged();
  t.equal(k.take(), undefined, 'nothing read yet');
  k.read(read(), true);
  k.firewallChanged();
  const told = k.take();
  t.equal(told?.firewall, true);
  t.equal(told?.live.links.length, 2);
  k.read(read(), true);
  k.firewallChanged();
  k.note(down, true);
  const both = k.take();
  t.equal(both?.firewall, true, 'with a deletion');
  t.strictSame(
    both?.live.links.map((l) => l.name),
    ['ul0'],
  );
});

t.test('a link event that says nothing new about a link read', async (t) => {
  const k = new KnownState();
  k.read(read(), true);
  const ul0: RtEvent = { kind: 'link', op: 'new', ifindex: 3, ifname: 'ul0', family: 0, up: true, mtu: 1500 };
  t.ok(k.unchanged(ul0), 'an underlay announced unchanged');
  t.notOk(k.unchanged({ ...ul0, mtu: 9000 }), 'its MTU changed');
  t.notOk(k.unchanged({ ...ul0, up: false }), 'it went down');
  t.notOk(k.unchanged({ ...ul0, ifname: 'eth0' }), 'renamed');
  t.notOk(k.unchanged({ ...ul0, ifindex: 4 }), 'a link the read did not see');
  t.notOk(k.unchanged({ ...ul0, family: 7 }), 'bridge port state');
});
