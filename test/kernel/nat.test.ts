/**
 * The island across a real NAT: three namespaces (public host, MASQUERADE
 * router, host behind it), island daemons on both hosts, VXLAN on port 5533
 * with the source port pinned. The host behind the NAT sends first; then the
 * public side reaches it through the NAT, and bridge subnets route across: pings,
 * then 20 MB of TCP each way (sha256 on both sides, sources kept).
 */
import t from 'tap';
import { startDaemon, writeConfig } from '../helpers/island.js';
import { natTopology, natTunnel } from '../helpers/netns.js';
import { checkTransfer, MB, nsEnd, tcpTransfer } from '../helpers/tcp.js';

const side = (o: {
  local: string;
  remote: string;
  me: string;
  peer: string;
  mine: string;
  theirs: string;
}) => `${natTunnel(o)}
[[bridge]]
name = "cni0"
addresses = ["${o.mine}.1/24"]

[[route]]
to = "${o.theirs}.0/24"
via = "${o.peer}"
dev = "vx0"

[sysctl]
"net.ipv4.ip_forward" = 1
`;

t.test(
  'VXLAN port 5533, source_port 5533 across MASQUERADE: pings both ways after the inner host sends first',
  async (t) => {
    const n = await natTopology(t, { prefix: 'isl' });
    const pubConf = await writeConfig(
      t,
      side({
        local: n.pubAddr,
        remote: n.natPublicAddr,
        me: '10.30.30.1',
        peer: '10.30.30.2',
        mine: '10.128.0',
        theirs: '10.128.1',
      }),
    );
    const privConf = await writeConfig(
      t,
      side({
        local: n.privAddr,
        remote: n.pubAddr,
        me: '10.30.30.2',
        peer: '10.30.30.1',
        mine: '10.128.1',
        theirs: '10.128.0',
      }),
    );
    const started = (r: { msg?: string }) => r.msg === 'island daemon running';
    const dpub = startDaemon(t, n.pub, pubConf);
    const dpriv = startDaemon(t, n.priv, privConf);
    await Promise.all([dpub.waitForLog(started), dpriv.waitForLog(started)]);

    // the kernel got the pinned range [5533, 5534)
    // biome-ignore lint/suspicious/noExplicitAny: ip's JSON
    const vx = (await n.priv.ipJson(['link', 'show'])).find((l: any) => l.ifname === 'vx0');
    t.same(vx.linkinfo.info_data.port_range, { low: 5533, high: 5534 });

    const first = await n.priv.exec(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '10.30.30.1']);
    t.equal(first.code, 0, `the inner host reaches the public side first:\n${first.stdout}${first.stderr}`);

    const conntrack = await n.nat
      .run(['conntrack', '-L', '-p', 'udp', '--dport', '5533'])
      .catch((e: Error) => e.message);
    t.match(conntrack, /sport=5533 dport=5533 .*sport=5533 dport=5533/, 'the NAT kept source port 5533');

    const back = await n.pub.exec(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '10.30.30.2']);
    t.equal(back.code, 0, `the public side reaches the host behind the NAT:\n${back.stdout}`);

    const bridges = await n.pub.exec([
      'ping',
      '-n',
      '-c',
      '2',
      '-i',
      '0.2',
      '-W',
      '2',
      '-I',
      '10.128.0.1',
      '10.128.1.1',
    ]);
    t.equal(bridges.code, 0, `cni0 → cni0 across the island through the route island added:\n${bridges.stdout}`);

    // TCP, as the cluster uses the island: 20 MB each way between the bridges, intact, and each
    // end sees the other's own address (the underlay crosses a NAT, the island does not)
    const pub = nsEnd(n.pub, { name: 'public host' });
    const priv = nsEnd(n.priv, { name: 'host behind the NAT' });
    const big = 20 * MB;
    const up = await tcpTransfer({ from: priv, to: pub, address: '10.128.0.1', source: '10.128.1.1', bytes: big });
    checkTransfer(t, up, { bytes: big, source: '10.128.1.1', what: 'TCP cni0 → cni0, inner to public' });
    const down = await tcpTransfer({ from: pub, to: priv, address: '10.128.1.1', source: '10.128.0.1', bytes: big });
    checkTransfer(t, down, { bytes: big, source: '10.128.0.1', what: 'TCP cni0 → cni0, public to inner' });

    // a deleted tunnel on the inner side comes back, and traffic with it
    await n.priv.run(['ip', 'link', 'del', 'vx0']);
    const again = await n.priv.exec(['ping', '-n', '-c', '1', '-w', '5', '10.30.30.1']);
    t.equal(again.code, 0, 'healed tunnel carries traffic again');
    const healed = await tcpTransfer({ from: pub, to: priv, address: '10.30.30.2', bytes: 5 * MB });
    checkTransfer(t, healed, {
      bytes: 5 * MB,
      source: '10.30.30.1',
      what: 'TCP over the healed tunnel, public to inner',
    });
  },
);
