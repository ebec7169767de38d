/**
 * Peer health across the three-namespace NAT: both ends run island and probe each other every
 * second. The path is cut in the NAT router (iptables DROP), both ways then one way, and the
 * peer's island is stopped: what `island status`, `status --check` and the log say each time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type Daemon, type LogRecord, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type NatTopology, natTopology, natTunnel } from '../helpers/netns.js';
import { nsEnd, tcpEachWay } from '../helpers/tcp.js';

const INTERVAL_MS = 1000;

const side = (o: { local: string; remote: string; me: string; peer: string; extra: string; interval: string }) =>
  `${natTunnel(o)}[daemon]
health_interval = "${o.interval}"
`;

/** One end of the tunnel: its file, its runtime directory, its peer's inner address. */
interface Side {
  env: NodeJS.ProcessEnv;
  config: string;
  peer: string;
}

interface End extends Side {
  daemon: Daemon;
}

/**
 * The two ends' files and runtime directories, probing every `interval`; the inner end with a
 * keepalive (it must send first through the NAT), or with `keepalive` false only its peer named
 */
async function sides(t: Parameters<typeof natTopology>[0], n: NatTopology, interval = '1s', keepalive = true) {
  // a plain peer on the public side
  const privConf = await writeConfig(
    t,
    side({
      local: n.privAddr,
      remote: n.pubAddr,
      me: '10.30.30.2',
      peer: '10.30.30.1',
      extra: keepalive ? 'keepalive = "1s"' : 'peer = "10.30.30.1"',
      interval,
    }),
  );
  const pubConf = await writeConfig(
    t,
    side({
      local: n.pubAddr,
      remote: n.natPublicAddr,
      me: '10.30.30.1',
      peer: '10.30.30.2',
      extra: 'peer = "10.30.30.2"',
      interval,
    }),
  );
  const runtime = async (name: string) => {
    const d = await mkdtemp(join(tmpdir(), `island-health-${name}-`));
    t.teardown(() => rm(d, { recursive: true, force: true }));
    return { ISLAND_RUNTIME_DIR: d };
  };
  const priv: Side = { env: await runtime('priv'), config: privConf, peer: '10.30.30.1' };
  const pub: Side = { env: await runtime('pub'), config: pubConf, peer: '10.30.30.2' };
  return { priv, pub };
}

async function island(t: Parameters<typeof natTopology>[0], n: NatTopology) {
  const { priv, pub } = await sides(t, n);
  const privEnd: End = { ...priv, daemon: startDaemon(t, n.priv, priv.config, { env: priv.env }) };
  const pubEnd: End = { ...pub, daemon: startDaemon(t, n.pub, pub.config, { env: pub.env }) };
  return { priv: privEnd, pub: pubEnd };
}

const peerLog =
  (peer: string, state: string, after = 0) =>
  (r: LogRecord) =>
    r.peer === peer && r.state === state && r.msg?.startsWith(`peer ${peer} on vx0:`) && Date.parse(r.time) >= after;

async function status(n: NatTopology, side: 'pub' | 'priv', end: Side, args: string[] = []) {
  return runIsland(n[side], ['status', '-c', end.config, ...args], { env: end.env });
}

t.test('peer health across the NAT: up, cut, one-way, no island at the other end', async (t) => {
  const n = await natTopology(t, { prefix: 'hl' });
  // a counting rule (no target): every tunnel packet the NAT forwards, both ways, outer IP headers in
  await n.nat.run(['iptables', '-I', 'FORWARD', '-p', 'udp', '--dport', '5533']);
  // and the same, only for datagrams of a probe's size: 96 bytes at the IP layer
  await n.nat.run(['iptables', '-I', 'FORWARD', '2', '-p', 'udp', '--dport', '5533', '-m', 'length', '--length', '96']);
  const { priv, pub } = await island(t, n);

  await priv.daemon.waitForLog(peerLog(priv.peer, 'up'), 45_000);
  await pub.daemon.waitForLog(peerLog(pub.peer, 'up'), 45_000);

  await t.test('both up: status table, --json, --check 0', async (t) => {
    const table = await status(n, 'priv', priv);
    t.equal(table.code, 0, table.stderr);
    t.match(
      table.stdout,
      /^peer 10\.30\.30\.1 on vx0 +up +rtt [\d.]+ ms, 0% loss\/min, its island hears us; since \d+ s$/m,
    );
    t.match(table.stdout, /^daemon: running as pid \d+: 1\/1 links ok, 1\/1 peers up$/m);
    const json = JSON.parse((await status(n, 'priv', priv, ['--json'])).stdout);
    t.match(json.peers[0], {
      object: 'peer 10.30.30.1 on vx0',
      state: 'up',
      tunnel: 'vx0',
      local: '10.30.30.2',
      port: 5534,
      keepalive: true,
      waitForPeer: false,
      intervalMs: 1000,
      answeredBy: 'island',
      peerView: { hears: true },
    });
    t.type(json.peers[0].rttMs, 'number');
    t.equal(json.daemon.running, true);
    t.equal(json.daemon.summary, '1/1 links ok, 1/1 peers up');
    const check = await status(n, 'pub', pub, ['--check']);
    t.equal(check.code, 0, 'status --check: every peer up');
    // up means what the cluster needs: TCP crosses too, both ways (a probe, like a ping, is one datagram)
    await tcpEachWay(
      t,
      { end: nsEnd(n.priv), address: '10.30.30.2' },
      { end: nsEnd(n.pub), address: '10.30.30.1' },
      { what: 'peers up' },
    );
  });

  await t.test('what the probes cost on the underlay, island at both ends', async (t) => {
    const count = async () => {
      const rule = async (n1: number) =>
        (await n.nat.run(['iptables', '-nvxL', 'FORWARD', String(n1)])).trim().split(/\s+/).map(Number);
      const [packets, bytes] = await rule(1);
      const [probes] = await rule(2);
      return { packets: packets as number, bytes: bytes as number, probes: probes as number, at: performance.now() };
    };
    const a = await count();
    await new Promise((r) => setTimeout(r, 5000));
    const b = await count();
    const seconds = (b.at - a.at) / 1000;
    const packets = b.packets - a.packets;
    const bytes = b.bytes - a.bytes;
    // each end probes once a second and answers the other's probes: four datagrams per second
    t.ok(packets >= 3 * seconds && packets <= 5 * seconds, `${packets} packets in ${seconds.toFixed(1)} s`);
    // the rest is the tunnel's own ARP now and then
    const probes = b.probes - a.probes;
    t.ok(
      probes >= 0.8 * packets,
      `${probes} of ${packets} are 96 bytes at the IP layer: 18 B payload + inner UDP/IP/Ethernet + VXLAN/UDP/IP`,
    );
    const perMinute = (interval: number) => Math.round((2 * 96 * 60) / interval);
    t.comment(
      `${packets} packets, ${bytes} bytes in ${seconds.toFixed(1)} s, ${probes} of them probes or replies of 96 B: ` +
        `a probe and its reply cost ${perMinute(25)} B/min per tunnel at a 25 s keepalive, ${perMinute(10)} B/min at 10 s`,
    );
  });

  await t.test('cut both ways in the NAT: down within 3 intervals, --check 1, one warning; back up', async (t) => {
    const t0 = Date.now();
    await n.nat.run(['iptables', '-I', 'FORWARD', '-p', 'udp', '--dport', '5533', '-j', 'DROP']);
    const down = await priv.daemon.waitForLog(peerLog(priv.peer, 'down', t0), 10_000);
    const detectMs = Date.parse(down.time) - t0;
    t.equal(down.level, 40, 'a warning');
    t.ok(detectMs <= 3 * INTERVAL_MS, `detected in ${detectMs} ms (3 probe intervals: ${3 * INTERVAL_MS} ms)`);
    t.comment(`dead peer detected ${detectMs} ms after the cut (probe interval ${INTERVAL_MS} ms)`);
    const table = await status(n, 'priv', priv);
    t.match(table.stdout, /^peer 10\.30\.30\.1 on vx0 +down +no answer to the last probes/m);
    t.match(table.stdout, /0\/1 peers up/);
    const check = await status(n, 'priv', priv, ['--check']);
    t.equal(check.code, 1, 'status --check exits 1');
    t.match(check.stderr, /^island: peer 10\.30\.30\.1 on vx0: down: /m);
    // still down two intervals later: the transition was logged once
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS + 200));
    const warnings = priv.daemon.logs.filter((r) => r.level === 40 && r.peer === priv.peer && Date.parse(r.time) >= t0);
    t.equal(warnings.length, 1, `one warning for the outage: ${warnings.map((w) => w.msg).join(' | ')}`);
    const t1 = Date.now();
    await n.nat.run(['iptables', '-D', 'FORWARD', '-p', 'udp', '--dport', '5533', '-j', 'DROP']);
    const up = await priv.daemon.waitForLog(peerLog(priv.peer, 'up', t1), 10_000);
    t.equal(up.level, 30, 'back up: info');
    t.comment(`back up ${Date.parse(up.time) - t1} ms after the path came back`);
    await pub.daemon.waitForLog(peerLog(pub.peer, 'up', t1), 10_000);
    t.equal((await status(n, 'priv', priv, ['--check'])).code, 0);
  });

  await t.test('cut one way (public → inner): the public side reports it as one-way', async (t) => {
    const rule = ['FORWARD', '-i', 'wan0', '-o', 'lan0', '-p', 'udp', '--dport', '5533', '-j', 'DROP'];
    const t0 = Date.now();
    await n.nat.run(['iptables', '-I', ...rule]);
    const oneWay = await pub.daemon.waitForLog(peerLog(pub.peer, 'one-way', t0), 10_000);
    t.equal(oneWay.level, 40);
    t.match(oneWay.msg, /one-way: we hear it, it does not hear us/);
    await priv.daemon.waitForLog(peerLog(priv.peer, 'down', t0), 10_000);
    // pub learns that priv no longer hears it from priv's next probe, up to one interval later
    let table = await status(n, 'pub', pub);
    for (
      const end = Date.now() + 3 * INTERVAL_MS;
      Date.now() < end && !/its island does not hear us/.test(table.stdout);
    ) {
      await new Promise((r) => setTimeout(r, 100));
      table = await status(n, 'pub', pub);
    }
    t.match(
      table.stdout,
      /^peer 10\.30\.30\.2 on vx0 +one-way +we hear it, it does not hear us \(our probes are lost on the way out\).*its island does not hear us/m,
    );
    const json = JSON.parse((await status(n, 'pub', pub, ['--json'])).stdout);
    t.match(json.peers[0], { state: 'one-way', peerView: { hears: false } });
    t.equal((await status(n, 'pub', pub, ['--check'])).code, 1);
    const t1 = Date.now();
    await n.nat.run(['iptables', '-D', ...rule]);
    await pub.daemon.waitForLog(peerLog(pub.peer, 'up', t1), 10_000);
    await priv.daemon.waitForLog(peerLog(priv.peer, 'up', t1), 10_000);
  });

  await t.test('the peer stops its island: still up, answered by its kernel', async (t) => {
    await pub.daemon.stop();
    // the public side's tunnel stays (SIGTERM leaves the network), its probe socket is gone
    const deadline = Date.now() + 10_000;
    let table = await status(n, 'priv', priv);
    while (!/no island answers there/.test(table.stdout) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
      table = await status(n, 'priv', priv);
    }
    t.match(
      table.stdout,
      /^peer 10\.30\.30\.1 on vx0 +up +rtt [\d.]+ ms, .*no island answers there \(its kernel refused the port\)/m,
    );
    t.equal((await status(n, 'priv', priv, ['--check'])).code, 0, 'the path works: --check is content');
  });

  await t.test('no daemon: status says so, --check exits 1', async (t) => {
    await priv.daemon.stop();
    const table = await status(n, 'priv', priv);
    t.equal(table.code, 0);
    t.match(
      table.stdout,
      /^daemon: not running \(no island daemon at .*control\.sock: not running\): desired vs live only/m,
    );
    t.notMatch(table.stdout, /^peer /m);
    const check = await status(n, 'priv', priv, ['--check']);
    t.equal(check.code, 1);
    t.match(check.stderr, /status --check: no island daemon at /);
  });
});

t.test('the peer island started later probes first: at once answered by it and heard by it', async (t) => {
  const n = await natTopology(t, { prefix: 'hlate' });
  // 20 s between regular probes and no keepalive (which probes every second): only what hearing
  // the peer's island sets off can be in time
  const { priv, pub } = await sides(t, n, '20s', false);
  // the public end's tunnel, without its daemon: its kernel refuses the inner end's probes
  const applied = await runIsland(n.pub, ['apply', '-c', pub.config], { env: pub.env });
  t.equal(applied.code, 0, applied.stderr);
  const privDaemon = startDaemon(t, n.priv, priv.config, { env: priv.env });
  await privDaemon.waitForLog(peerLog(priv.peer, 'up'), 20_000);
  const peerOf = async () => JSON.parse((await status(n, 'priv', priv, ['--json'])).stdout).peers[0];
  t.match(await peerOf(), { state: 'up', answeredBy: 'kernel' }, 'no island at the public end yet: its kernel answers');
  // past the inner end's early probes at 0.2, 0.6, 1.4, 3 and 6.2 s: the next is at 12.6 s, so the
  // public end's first probe is what the inner end hears of its island first
  await new Promise((r) => setTimeout(r, 6500));
  const t0 = Date.now();
  const pubDaemon = startDaemon(t, n.pub, pub.config, { env: pub.env });
  await pubDaemon.waitForLog(peerLog(pub.peer, 'up', t0), 10_000);
  let peer = await peerOf();
  for (const deadline = Date.now() + 3000; Date.now() < deadline && peer.answeredBy !== 'island'; )
    peer = await peerOf();
  t.match(
    peer,
    { state: 'up', answeredBy: 'island', peerView: { hears: true } },
    `the inner end's status ${Date.now() - t0} ms after the public end's daemon started`,
  );
});
