/**
 * The public end starts first, behind a NAT that keeps what it sees (like most real ones: no rule
 * drops the unsolicited packet before conntrack records it). A packet from the public gateway to
 * the NAT's outside address, sent before the private gateway's first one, leaves an UNREPLIED
 * entry there; MASQUERADE then moves the private gateway's mapping to another port and the
 * public end's packets keep refreshing the stale entry: a one-way tunnel for as long as the
 * public end keeps talking. island's own probes towards a peer behind a NAT therefore wait until
 * the peer has spoken, and island's links make no IPv6 link-local address unless they declare
 * IPv6 (a link that has one sends router solicitations and MLD reports as it comes up). The test: the public daemon runs alone for several probe intervals, then
 * the private one starts; TCP must cross both ways and the NAT must hold the pinned mapping.
 */
import t, { type Test } from 'tap';
import { configDir, noErrorLogged, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { NAT_PLAN, natIsland, natTopology } from '../helpers/netns.js';
import { nsEnd, tcpEachWay } from '../helpers/tcp.js';

const P = NAT_PLAN;
const PORT = 5533;
const PROBE_S = 1;
const running = (r: { msg?: string }) => r.msg === 'island daemon running';

const TUNNEL = `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 333
port = ${PORT}
source_port = ${PORT}
ends = { pub = "10.30.30.1/30", priv = "10.30.30.2/30" }
`;

const ISLAND = natIsland(`
[daemon]
health_interval = "${PROBE_S}s"
${TUNNEL}`);

t.test('the public end up first does not poison the NAT', async (t) => {
  // IPv6 on, as on real hosts: a link with a link-local address sends RS and MLD at once
  const n = await natTopology(t, { prefix: 'nf', dropUnsolicitedUdpPort: null, ipv6: true });
  const conf = await writeConfig(t, ISLAND);
  const pub = startDaemon(t, n.pub, conf);
  await pub.waitForLog(running, 30_000);
  // several of its probe intervals alone: before the fix each one reached the NAT
  await new Promise((r) => setTimeout(r, 4 * PROBE_S * 1000));
  const v6 = JSON.parse(await n.pub.run(['ip', '-j', '-6', 'addr', 'show', 'dev', 'vx0'])) as {
    addr_info?: unknown[];
  }[];
  t.same(v6[0]?.addr_info ?? [], [], 'vx0 declares no IPv6 address: it has no link-local one either');
  const toNat = await n.nat.run(['conntrack', '-L', '-p', 'udp', '--dport', String(PORT), '-d', P.natPublicAddr]);
  t.equal(toNat.trim(), '', 'nothing from the public end reached the NAT while the private end was away');

  const priv = startDaemon(t, n.priv, conf);
  await priv.waitForLog(running, 30_000);
  await tcpEachWay(
    t,
    { end: nsEnd(n.priv, { name: 'priv' }), address: '10.30.30.2' },
    { end: nsEnd(n.pub, { name: 'pub' }), address: '10.30.30.1' },
  );
  const ct = (await n.nat.run(['conntrack', '-L', '-p', 'udp', '--dport', String(PORT)])).trim().split('\n');
  t.equal(ct.length, 1, 'the NAT holds one mapping for the tunnel', { conntrack: ct });
  t.match(
    ct[0],
    new RegExp(`src=${P.pubAddr} dst=${P.natPublicAddr} sport=${PORT} dport=${PORT}`),
    'on the pinned port',
  );
  noErrorLogged(t, pub);
  noErrorLogged(t, priv);
});

// the lab's file: the inner end keeps the mapping open every 25 s, the public end probes every 10 s
const LAB_LIKE = natIsland(TUNNEL);

/** The NAT topology with the lab's file, each daemon its own control socket (which status asks). */
async function labLike(t: Test, prefix: string) {
  // the NAT drops unsolicited UDP before conntrack records it, as the lab's does
  const n = await natTopology(t, { prefix });
  const conf = await writeConfig(t, LAB_LIKE);
  const env = { pub: { ISLAND_RUNTIME_DIR: await configDir(t) }, priv: { ISLAND_RUNTIME_DIR: await configDir(t) } };
  /** ms from `since` until `status --check` passes on that side, or undefined after limitMs */
  const upWithin = async (side: 'pub' | 'priv', since: number, limitMs: number) => {
    for (;;) {
      const st = await runIsland(n[side], ['status', '--check', '-c', conf], { env: env[side] });
      if (st.code === 0) return Math.round(performance.now() - since);
      if (performance.now() - since > limitMs) return undefined;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return { n, conf, env, upWithin };
}

t.test(
  'the public end started a few seconds after the inner one sees its peer up at once, not a keepalive later',
  async (t) => {
    const { n, conf, env, upWithin } = await labLike(t, 'nl');
    const priv = startDaemon(t, n.priv, conf, { env: env.priv });
    await priv.waitForLog(running, 30_000);
    // long enough for the inner end's first probe to be lost: the kernel gives up resolving the
    // far tunnel address after 3 ARP requests a second apart, as when the public end starts slower
    await new Promise((r) => setTimeout(r, 3500));
    const pub = startDaemon(t, n.pub, conf, { env: env.pub });
    await pub.waitForLog(running, 30_000);
    const t0 = performance.now();
    // the inner end probes early (0.2, 0.6, 1.4, 3, 6.2, 12.6 s after its start) until it hears
    // the public one: at 6.2 s here, a few seconds after the public daemon runs; before, nothing
    // until the inner end's next keepalive, 25 s after its start
    const pubUp = await upWithin('pub', t0, 20_000);
    const privUp = await upWithin('priv', t0, 20_000);
    t.ok(pubUp !== undefined && pubUp < 12_000, `public end: peer up ${pubUp} ms after its daemon runs`);
    t.ok(privUp !== undefined && privUp < 12_000, `inner end: peer up ${privUp} ms after the public daemon runs`);
    noErrorLogged(t, pub);
    noErrorLogged(t, priv);
  },
);

t.test(
  'the public end restarted sees its peer up again at once: its island says bye, the inner end probes early',
  async (t) => {
    const { n, conf, env, upWithin } = await labLike(t, 'nr');
    const priv = startDaemon(t, n.priv, conf, { env: env.priv });
    const first = startDaemon(t, n.pub, conf, { env: env.pub });
    await Promise.all([priv.waitForLog(running, 30_000), first.waitForLog(running, 30_000)]);
    t.ok(
      (await upWithin('pub', performance.now(), 10_000)) !== undefined,
      'both started: the public end sees its peer up',
    );
    // a restart (systemctl restart, an upgrade): the inner end's next keepalive is up to 25 s away
    t.strictSame(await first.stop(), { code: 0, signal: null }, 'the public daemon stops on SIGTERM');
    const pub = startDaemon(t, n.pub, conf, { env: env.pub });
    await pub.waitForLog(running, 30_000);
    const upMs = await upWithin('pub', performance.now(), 20_000);
    t.ok(upMs !== undefined && upMs < 8000, `restarted public end: peer up ${upMs} ms after its daemon runs`);
    noErrorLogged(t, pub);
    noErrorLogged(t, priv);
  },
);
