/**
 * The keepalive across a NAT that forgets quickly: the NAT router's UDP conntrack timeouts are
 * cut to 3 s (these sysctls are per network namespace). Two islands side by side, one with
 * `keepalive = "1s"` on the inner host and one without; both idle for three timeouts; then
 * the public side pings the inner host. With the keepalive it gets through; without, the
 * mapping is gone and the NAT drops the public side's packets (the control case). The NAT's
 * counters give what the keepalive costs on the underlay.
 */
import t from 'tap';
import { startDaemon, writeConfig } from '../helpers/island.js';
import { type NatTopology, natTopology, natTunnel } from '../helpers/netns.js';
import { checkTransfer, MB, nsEnd, tcpTransfer } from '../helpers/tcp.js';

const NAT_UDP_TIMEOUT_S = 3;
const KEEPALIVE_S = 1;

const side = natTunnel;

async function island(t: Parameters<typeof natTopology>[0], prefix: string, keepalive: boolean) {
  const n = await natTopology(t, { prefix });
  await n.nat.run([
    'sysctl',
    '-qw',
    `net.netfilter.nf_conntrack_udp_timeout=${NAT_UDP_TIMEOUT_S}`,
    `net.netfilter.nf_conntrack_udp_timeout_stream=${NAT_UDP_TIMEOUT_S}`,
  ]);
  // a counting rule (no target) for the tunnel's packets, both directions, outer headers included
  await n.nat.run(['iptables', '-I', 'FORWARD', '-p', 'udp', '--dport', '5533']);
  const privConf = await writeConfig(
    t,
    side({
      local: n.privAddr,
      remote: n.pubAddr,
      me: '10.30.30.2',
      extra: keepalive ? `keepalive = "${KEEPALIVE_S}s"` : '',
    }),
  );
  const pubConf = await writeConfig(t, side({ local: n.pubAddr, remote: n.natPublicAddr, me: '10.30.30.1' }));
  const started = (r: { msg?: string }) => r.msg === 'island daemon running';
  const dpriv = startDaemon(t, n.priv, privConf);
  const dpub = startDaemon(t, n.pub, pubConf);
  await Promise.all([dpriv.waitForLog(started, 30_000), dpub.waitForLog(started, 30_000)]);
  return n;
}

const ping = (from: NatTopology['pub'], to: string) => from.exec(['ping', '-n', '-c', '2', '-i', '0.3', '-W', '1', to]);

async function counters(n: NatTopology): Promise<{ packets: number; bytes: number }> {
  const out = await n.nat.run(['iptables', '-nvxL', 'FORWARD', '1']);
  const [packets, bytes] = out.trim().split(/\s+/).map(Number);
  return { packets: packets ?? Number.NaN, bytes: bytes ?? Number.NaN };
}

t.test('idle for 3x the NAT timeout: reachable with keepalive, not without', async (t) => {
  const [kept, control] = await Promise.all([island(t, 'ka', true), island(t, 'kc', false)]);

  // the inner host sends first (the NAT learns the mapping), then the public side gets through
  for (const n of [kept, control]) {
    const first = await ping(n.priv, '10.30.30.1');
    t.equal(first.code, 0, `inner → public first:\n${first.stdout}${first.stderr}`);
    const back = await ping(n.pub, '10.30.30.2');
    t.equal(back.code, 0, `public → inner while the mapping is fresh:\n${back.stdout}`);
  }

  const before = await counters(kept);
  const idleMs = 3 * NAT_UDP_TIMEOUT_S * 1000 + 1000;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, idleMs));
  const after = await counters(kept);
  const seconds = (performance.now() - t0) / 1000;

  const withKeepalive = await ping(kept.pub, '10.30.30.2');
  t.equal(
    withKeepalive.code,
    0,
    `with keepalive: the public side still reaches the inner host:\n${withKeepalive.stdout}`,
  );
  // and a connection it starts carries data, through the mapping the keepalive kept
  const tcp = await tcpTransfer({ from: nsEnd(kept.pub), to: nsEnd(kept.priv), address: '10.30.30.2', bytes: 5 * MB });
  checkTransfer(t, tcp, { bytes: 5 * MB, source: '10.30.30.1', what: 'with keepalive: TCP public → inner' });
  const without = await ping(control.pub, '10.30.30.2');
  t.not(without.code, 0, 'without keepalive (the control case): the NAT forgot the mapping, the ping fails');
  t.match(without.stdout, /0 received/);
  const ct = await control.nat.run(['conntrack', '-L', '-p', 'udp', '--dport', '5533']).catch(() => '');
  t.notMatch(ct, /sport=5533 dport=5533/, 'no mapping left in the control NAT');

  // what the keepalive costs: every tunnel packet the NAT forwarded while idle (outer IP headers in)
  const packets = after.packets - before.packets;
  const bytes = after.bytes - before.bytes;
  t.ok(packets > 0, `the idle island with keepalive sent ${packets} packets in ${seconds.toFixed(1)} s`);
  const perProbe = bytes / packets;
  const perMinuteAt = (interval: number) => Math.round((bytes / seconds) * KEEPALIVE_S * (60 / interval));
  t.comment(
    `keepalive every ${KEEPALIVE_S} s, peer without health: ${packets} packets, ${bytes} bytes in ${seconds.toFixed(1)} s ` +
      `(${perProbe.toFixed(0)} B per packet at the IP layer, probe + the peer kernel's port unreachable); ` +
      `per tunnel: ${perMinuteAt(1)} B/min at 1 s, ${perMinuteAt(25)} B/min at 25 s`,
  );
  t.ok(perProbe < 200, 'each packet is small');
});
