/** Peer health without sockets: the datagram, the state machine on a fake clock, the peer chosen, the config keys. */
import t from 'tap';
import { formatDiagnostic, type LoadResult, parseConfig } from '../../src/config/load.js';
import type { Cidr } from '../../src/config/types.js';
import { desiredState } from '../../src/desired.js';
import { earlyDelays } from '../../src/health/probe.js';
import { choosePeer, isPrivate, isPublic, otherEnd } from '../../src/health/target.js';
import { LOST_IN_A_ROW, PeerTracker } from '../../src/health/tracker.js';
import { decode, encode, PACKET_BYTES } from '../../src/health/wire.js';

const c = (s: string): Cidr => {
  const [address, len] = s.split('/') as [string, string];
  return { address, prefixlen: Number(len), family: address.includes(':') ? 6 : 4 };
};

t.test('the datagram: 18 bytes, round trip, the 16 of older islands, anything else ignored', async (t) => {
  const b = encode({ type: 'probe', seq: 7, hears: true, heardAgoMs: 1234, intervalMs: 25_000, pathMtu: 1380 });
  t.equal(b.length, PACKET_BYTES);
  t.equal(b.subarray(0, 4).toString('latin1'), 'ISL\x01');
  t.strictSame(decode(b), {
    type: 'probe',
    seq: 7,
    hears: true,
    heardAgoMs: 1234,
    intervalMs: 25_000,
    pathMtu: 1380,
    pmtu: true,
  });
  t.strictSame(decode(encode({ type: 'reply', seq: 2 ** 32 - 1, hears: false })), {
    type: 'reply',
    seq: 2 ** 32 - 1,
    hears: false,
    pmtu: true,
  });
  t.strictSame(
    decode(b.subarray(0, 16)),
    { type: 'probe', seq: 7, hears: true, heardAgoMs: 1234, intervalMs: 25_000 },
    'an older island: no path MTU, no probing of it',
  );
  const big = encode({ type: 'pmtu', seq: 9, hears: true }, 1352);
  t.equal(big.length, 1352, 'a path MTU probe is padded to the size probed');
  t.equal(decode(big)?.type, 'pmtu');
  t.equal(decode(Buffer.from('hello, this is not island')), undefined);
  t.equal(decode(b.subarray(0, 15)), undefined, 'short');
  t.match(decode(encode({ type: 'bye', seq: 7, hears: true, intervalMs: 25_000 })), {
    type: 'bye',
    seq: 7,
    intervalMs: 25_000,
  });
  const bad = Buffer.from(b);
  bad.writeUInt8(9, 4);
  t.equal(decode(bad), undefined, 'unknown type');
});

t.test('tracker: up on the first answer, down after two probes lost in a row, up again', async (t) => {
  t.equal(LOST_IN_A_ROW, 2);
  const tr = new PeerTracker(1000, 1000, 0);
  t.equal(tr.snapshot(0).state, 'pending');
  tr.onSent(1, 0);
  t.equal(tr.onAnswer(1, 3, { hears: true }), 'up');
  t.match(tr.snapshot(3), { state: 'up', since: 3, rttMs: 3, answeredBy: 'island', peerView: { hears: true, at: 3 } });
  // the path breaks at t=1500
  tr.onSent(2, 2000);
  t.equal(tr.tick(3000), undefined, 'one loss is not an outage');
  t.equal(tr.snapshot(3000).state, 'up');
  tr.onSent(3, 3000);
  t.equal(tr.tick(4000), 'down', 'second loss in a row: down');
  const s = tr.snapshot(4000);
  t.match(s, { state: 'down', since: 4000, sent: 3, answered: 1, lost: 2 });
  t.equal(s.loss, 0.67, 'loss over the last minute: 2 of 3');
  tr.onSent(4, 4000);
  t.equal(tr.onAnswer(4, 4001, { hears: true }), 'up');
  t.equal(tr.snapshot(4001).since, 4001);
});

t.test('tracker: a peer never answered is pending, then down; never up on a lost probe', async (t) => {
  const tr = new PeerTracker(1000, 1000, 0);
  tr.onSent(1, 0);
  t.equal(tr.tick(1000), undefined, 'the first probe lost: still pending');
  t.equal(tr.snapshot(1000).state, 'pending');
  tr.onSent(2, 1000);
  t.equal(tr.tick(2000), 'down', 'two lost in a row and never an answer: down');
});

t.test('tracker: an early probe counts when answered, not when lost; a late answer makes the peer up', async (t) => {
  const tr = new PeerTracker(25_000, 2000, 0);
  tr.onSent(1, 0);
  tr.onSent(2, 200, true);
  tr.onSent(3, 600, true);
  t.equal(tr.tick(2600), undefined, 'the regular probe and two early ones lost: still pending');
  t.match(tr.snapshot(2600), { state: 'pending', sent: 3, lost: 1 });
  // the first probe waited in the kernel for the peer's tunnel to answer ARP: its reply comes late
  t.equal(tr.onAnswer(1, 2700, { hears: true }), 'up', 'a late answer is an answer');
  const late = new PeerTracker(25_000, 2000, 0);
  late.onSent(1, 0, true);
  late.tick(2000);
  t.equal(late.onAnswer(1, 2100, { hears: true }), 'up', 'even to an early probe');
});

t.test('early probes: 0.2, 0.4, 0.8 s... apart, doubling, while below the interval', async (t) => {
  t.same(earlyDelays(25_000), [200, 400, 800, 1600, 3200, 6400], 'keepalive 25 s: 6 more probes');
  t.same(earlyDelays(10_000), [200, 400, 800, 1600, 3200], 'health_interval 10 s: 5');
  t.same(earlyDelays(1000), [200, 400]);
  t.same(earlyDelays(200), []);
});

t.test('tracker: a cut both ways is down, not one-way, though the peer was heard just before', async (t) => {
  const tr = new PeerTracker(1000, 500, 0);
  tr.onSent(1, 0);
  tr.onAnswer(1, 1, { hears: true, intervalMs: 1000 });
  tr.onPeerProbe(900, { hears: true, intervalMs: 1000 });
  // cut at 950
  tr.onSent(2, 1000);
  tr.tick(1500);
  tr.onSent(3, 2000);
  t.equal(tr.tick(2500), 'down', 'the last thing heard predates the first lost probe');
  tr.onSent(4, 3000);
  t.equal(tr.onPeerProbe(3200, { hears: false, intervalMs: 1000 }), 'one-way', 'then the peer is heard again');
});

t.test('tracker: the window forgets results older than a minute', async (t) => {
  const tr = new PeerTracker(1000, 1000, 0);
  tr.onSent(1, 0);
  tr.tick(1000);
  tr.onSent(2, 1000);
  tr.onAnswer(2, 1010);
  t.equal(tr.snapshot(1010).loss, 0.5);
  t.equal(tr.snapshot(61_005).loss, 0, 'the loss at t=1 s has left the window');
  t.equal(tr.snapshot(70_000).loss, undefined, 'nothing resolved in the last minute');
  t.equal(tr.snapshot(70_000).rttMs, 10, 'the last rtt stays');
});

t.test('tracker: a kernel refusal proves the path; no island view', async (t) => {
  const tr = new PeerTracker(1000, 1000, 0);
  tr.onSent(1, 0);
  t.equal(tr.onAnswer(undefined, 1), 'up');
  t.match(tr.snapshot(1), { state: 'up', answeredBy: 'kernel', rttMs: 1 });
  t.notOk(tr.snapshot(1).peerView);
});

t.test(
  'tracker: our probes lost but the peer’s arrive: one-way, with the peer saying it does not hear us',
  async (t) => {
    const tr = new PeerTracker(1000, 1000, 0);
    tr.onSent(1, 0);
    tr.onAnswer(1, 1, { hears: true });
    tr.onSent(2, 1000);
    tr.onPeerProbe(1500, { hears: false, heardAgoMs: 1499 });
    tr.tick(2000);
    tr.onSent(3, 2000);
    tr.onPeerProbe(2500, { hears: false, heardAgoMs: 2499 });
    t.equal(tr.tick(3000), 'one-way');
    t.match(tr.snapshot(3000).peerView, { hears: false, heardAgoMs: 2499 });
    // the peer's probes stop too: down
    tr.onSent(4, 3000);
    tr.tick(4000);
    tr.onSent(5, 4000);
    t.equal(tr.tick(5600), 'down', 'nothing heard for more than two intervals and a timeout');
  },
);

t.test('peer choice: explicit, the other end of /30 /31 /127, the only other [hosts] name', async (t) => {
  t.equal(otherEnd(c('10.30.30.2/30')), '10.30.30.1');
  t.equal(otherEnd(c('10.30.30.1/30')), '10.30.30.2');
  t.equal(otherEnd(c('10.30.30.0/30')), undefined, 'network address');
  t.equal(otherEnd(c('10.30.30.4/31')), '10.30.30.5');
  t.equal(otherEnd(c('10.30.30.5/31')), '10.30.30.4');
  t.equal(otherEnd(c('fd00:3030::1/127')), 'fd00:3030::');
  t.equal(otherEnd(c('fd00:3030::2/126')), undefined, 'a /126 has four usable addresses');
  t.equal(otherEnd(c('10.3.1.3/24')), undefined);
  t.match(choosePeer(undefined, [c('10.30.30.2/30'), c('fd00:3030::2/126')], []), {
    peer: '10.30.30.1',
    local: '10.30.30.2',
    family: 4,
    source: 'point-to-point',
  });
  t.match(choosePeer('fd00:3030::1', [c('10.30.30.2/30'), c('fd00:3030::2/126')], []), {
    peer: 'fd00:3030::1',
    local: 'fd00:3030::2',
    family: 6,
    source: 'peer',
  });
  t.equal(choosePeer('10.9.9.9', [c('10.3.1.3/24')], []), undefined, 'not in a subnet of the tunnel');
  const hosts = [
    { name: 'sopnode-tunnel', address: '10.3.1.2' },
    { name: 'faraday-tunnel', address: '10.3.1.3' },
    { name: 'elsewhere', address: '192.0.2.9' },
  ];
  t.match(choosePeer(undefined, [c('10.3.1.3/24')], hosts), { peer: '10.3.1.2', local: '10.3.1.3', source: 'hosts' });
  t.equal(
    choosePeer(undefined, [c('10.3.1.3/24')], [...hosts, { name: 'third', address: '10.3.1.4' }]),
    undefined,
    'two candidates: no guess',
  );
});

t.test('private and public underlay addresses', async (t) => {
  for (const ip of ['10.77.0.2', '172.20.1.1', '192.168.3.100', '100.64.1.1', 'fd00::1']) t.ok(isPrivate(ip), ip);
  for (const ip of ['138.96.245.50', '198.51.100.1', '2001:db8::1']) t.ok(isPublic(ip), ip);
  for (const ip of ['127.0.0.1', '169.254.1.1', 'fe80::1']) t.notOk(isPublic(ip), `${ip} is not public`);
  // the ranges' edges
  for (const ip of ['172.31.255.255', '100.127.255.255', '10.255.255.255', 'fdff::1']) t.ok(isPrivate(ip), ip);
  for (const ip of ['172.32.0.0', '100.128.0.0', '11.0.0.0', '192.169.0.0', 'fe00::1', 'not an address'])
    t.notOk(isPrivate(ip), `${ip} is not private`);
  for (const ip of ['0.255.255.255', '::']) t.notOk(isPublic(ip), `${ip} is not public`);
  t.ok(isPublic('1.0.0.0'), '1.0.0.0');
});

const TUNNEL = (extra: string, addresses = '["10.30.30.2/30"]') => `[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 333
local = "10.77.0.2"
remote = "198.51.100.1"
port = 5533
source_port = 5533
addresses = ${addresses}
${extra}`;

const diag = (r: LoadResult) => (r.ok ? r.warnings : [...r.errors, ...r.warnings]).map(formatDiagnostic);

t.test('config: keepalive and peer become the desired peers', async (t) => {
  const r = parseConfig(TUNNEL('keepalive = "25s"\n'), 'f.toml');
  if (!r.ok) return t.fail(diag(r).join('\n'));
  t.equal(r.config.tunnels[0]?.keepaliveMs, 25_000);
  t.strictSame(desiredState(r.config).peers, [
    {
      tunnel: 'vx0',
      peer: '10.30.30.1',
      local: '10.30.30.2',
      family: 4,
      source: 'point-to-point',
      port: 5534,
      intervalMs: 25_000,
      keepalive: true,
      waitForPeer: false,
    },
  ]);
  const p = parseConfig(
    `${TUNNEL('peer = "10.30.30.1"\n')}\n[daemon]\nhealth_port = 6000\nhealth_interval = "3s"\n`,
    'f.toml',
  );
  if (!p.ok) return t.fail(diag(p).join('\n'));
  t.match(desiredState(p.config).peers, [{ peer: '10.30.30.1', port: 6000, intervalMs: 3000, keepalive: false }]);
  const none = parseConfig(TUNNEL(''), 'f.toml');
  if (!none.ok) return t.fail();
  t.strictSame(desiredState(none.config).peers, [], 'no keepalive, no peer: nothing is probed');
  t.strictSame(none.config.daemon, { resyncMs: 30_000, debounceMs: 10 }, 'defaults are not written into the config');
});

t.test('config: mistakes with the health keys, at their line', async (t) => {
  const lines = (text: string) => diag(parseConfig(text, 'f.toml'));
  t.strictSame(lines(TUNNEL('keepalive = "25s"\n', '["10.3.1.3/24"]')), [
    "f.toml:10:13: tunnel[0].keepalive: has no peer to send to: set peer = the other end's inner address (it can be left out only when an address is a /30, /31 or /127, or exactly one other host of the subnet is named in [hosts])",
  ]);
  t.strictSame(lines(TUNNEL('keepalive = "25s"\n', '[]')), [
    "f.toml:10:13: tunnel[0].keepalive: vx0 has no address to send the keepalive from; add one to addresses, and peer = the other end's",
  ]);
  t.strictSame(lines(TUNNEL('peer = "10.9.9.9"\n', '["10.3.1.3/24"]')), [
    "f.toml:10:8: tunnel[0].peer: 10.9.9.9 is not in a subnet of vx0's addresses (10.3.1.3/24): probes to it would not cross the tunnel",
  ]);
  t.strictSame(lines(TUNNEL('peer = "10.30.30.2"\n')), [
    "f.toml:10:8: tunnel[0].peer: 10.30.30.2 is vx0's own address; peer is the other end's inner address",
  ]);
  t.strictSame(lines(TUNNEL('keepalive = "500ms"\n')), ['f.toml:10:13: tunnel[0].keepalive: must be at least 1s']);
  t.strictSame(lines(`${TUNNEL('keepalive = "25s"\n')}\n[daemon]\nhealth_port = 5533\n`), [
    "f.toml:13:15: daemon.health_port: health probes use UDP port 5533, which is vx0's vxlan port; set [daemon] health_port to another port, the same on both ends",
  ]);
  t.strictSame(lines(TUNNEL('keepalive = "25s"\n').replace('port = 5533', 'port = 5534')), [
    "f.toml:10:13: tunnel[0].keepalive: health probes use UDP port 5534 (the default), which is vx0's vxlan port; set [daemon] health_port to another port, the same on both ends",
  ]);
});

t.test('check advises a keepalive for a private → public tunnel, and only check', async (t) => {
  const text = TUNNEL('');
  t.strictSame(diag(parseConfig(text, 'f.toml')), [], 'apply and the daemon say nothing');
  t.strictSame(diag(parseConfig(text, 'f.toml', { adviseKeepalive: true })), [
    'f.toml:5:9: warning: tunnel[0].local: 10.77.0.2 is private and remote 198.51.100.1 public, so vx0 probably crosses a NAT, which forgets an idle mapping (Linux: after 30 s unreplied, 120 s replied); set keepalive = "25s" so the public side can always reach this host',
  ]);
  t.strictSame(diag(parseConfig(TUNNEL('keepalive = "25s"\n'), 'f.toml', { adviseKeepalive: true })), []);
  const publicSide = text
    .replace('local = "10.77.0.2"', 'local = "198.51.100.1"')
    .replace('remote = "198.51.100.1"', 'remote = "198.51.100.2"');
  t.strictSame(diag(parseConfig(publicSide, 'f.toml', { adviseKeepalive: true })), [], 'public to public: no NAT');
});
