/**
 * The ipvlan host shim on a real kernel: this machine's kernel has no ipvlan (CONFIG_IPVLAN is
 * not set), so one QEMU guest runs Debian's own kernel with island's .deb installed, and the
 * steps of test/kernel/shim.test.ts run inside it, in namespaces the test makes there: "node"
 * (the Kubernetes host: eth1 is the pods' parent, a veth whose far end is up in "lan") and
 * "pod" (an ipvlan on eth1 in l2 mode, made in the node and moved into the pod as the CNI
 * plugin does, 10.5.2.10/24).
 *
 * - Without a shim, a route to the pod subnet over eth1: the node's TCP connect gets no answer.
 * - `island daemon` in the node with [[link]] shim0 (ipvlan on eth1, l2, 10.5.2.254/32, the
 *   route to 10.5.2.0/24 through it): TCP data from the node to the pod arrives whole.
 * - shim0 deleted by hand: back, and TCP again.
 * - eth1 deleted (the kernel takes shim0 and the pod's interface with it): the daemon says
 *   shim0 is blocked and why; eth1 back: shim0 back.
 * - The file says mode l3 (SIGHUP): changed in place (same ifindex), and the pod's interface
 *   is in l3 too, since the kernel keeps one ipvlan mode per parent; TCP still goes through.
 */
import t, { type Test } from 'tap';
import { buildDeb } from '../helpers/deb.js';
import { netns } from '../helpers/netns.js';
import { bootGuest, type Guest, qemuImage } from '../helpers/qemu.js';
import { MB, TCP_PEER } from '../helpers/tcp.js';

// cold: the image (~4-7 min) and the package (~30 s); then every node start in the guest
// costs 10-40 s under TCG
t.setTimeout(1_500_000);

const POD = '10.5.2.10';
const SHIM = '10.5.2.254';
const BYTES = 2 * MB;

const conf = (mode: string) => `[[link]]
name = "shim0"
kind = "ipvlan"
parent = "eth1"
mode = "${mode}"
addresses = ["${SHIM}/32"]

[[route]]
to = "10.5.2.0/24"
dev = "shim0"

[daemon]
resync = "1h"
debounce = "5ms"
`;

/** eth1 in node, its far end up in lan */
const PARENT = `ip link add eth1 netns node type veth peer name eth0 netns lan
ip -n lan link set eth0 up && ip -n node link set eth1 up`;

/** the pod's interface as the ipvlan CNI plugin makes it */
const POD_IFACE = `ip -n node link add cnitmp0 link eth1 type ipvlan mode l2
ip -n node link set cnitmp0 netns pod
ip -n pod link set cnitmp0 name eth0 && ip -n pod addr add ${POD}/24 dev eth0 && ip -n pod link set eth0 up`;

const SITE = `set -e
for n in node lan pod; do
  ip netns add $n
  ip -n $n link set lo up
  ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
${PARENT}
${POD_IFACE}`;

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
type Link = Record<string, any>;
async function link(g: Guest, ns: string, name: string): Promise<Link | undefined> {
  const r = await g.run(`ip -n ${ns} -d -j link show ${name}`);
  return r.code === 0 ? (JSON.parse(r.stdout)[0] as Link) : undefined;
}

/** runs `first` in the guest, then polls there until node's shim0 exists: the time from `first` to it, in ms */
async function waitShim(g: Guest, first = ''): Promise<number> {
  const out = await g.sh(
    `s=$(date +%s%N)
     ${first}
     for i in $(seq 1200); do ip -n node link show shim0 >/dev/null 2>&1 && break; sleep 0.05; done
     ip -n node link show shim0 >/dev/null && echo $(( ($(date +%s%N) - s) / 1000000 ))`,
    120_000,
  );
  return Number(out.trim());
}

/**
 * TCP from the node to the pod, both ends in the guest (its agent runs one script at a time:
 * the server runs in the background of the client's script). The client's record carries the
 * server's report: bytes, sha256 and the source address it saw.
 */
async function reachPod(t: Test, g: Guest, what: string): Promise<void> {
  const port = 20000 + Math.floor(Math.random() * 10000);
  const srv = JSON.stringify({ port, timeoutMs: 200_000 });
  const cli = JSON.stringify({ host: POD, port, bytes: BYTES, timeoutMs: 180_000, attemptMs: 2000 });
  const out = await g.run(
    `ip netns exec pod timeout -s KILL 210 node /mnt/q/tcp-peer.mjs server '${srv}' >/run/srv.out 2>&1 &
     ip netns exec node timeout -s KILL 200 node /mnt/q/tcp-peer.mjs client '${cli}'; rc=$?; wait; exit $rc`,
    300_000,
  );
  const sent = out.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((r) => r.event === 'sent');
  t.ok(sent, `${what}: the transfer completed (${out.stdout.trim().split('\n').at(-1)})`);
  t.equal(sent?.server?.bytes, BYTES, `${what}: ${BYTES} bytes arrived`);
  t.equal(sent?.server?.sha256, sent?.sha256, `${what}: sha256 the same on both sides`);
  t.equal(sent?.server?.peer, SHIM, `${what}: the pod saw the shim's address`);
}

t.test('ipvlan host shim in a Debian 12 guest', async (t) => {
  const started = Date.now();
  const lap = (what: string) => t.comment(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  const [image, deb, host] = await Promise.all([qemuImage(), buildDeb(), netns(t, 'qshim')]);
  await host.sh('ip tuntap add tap0 mode tap && ip addr add 192.0.2.1/24 dev tap0 && ip link set tap0 up');
  const g = await bootGuest(t, image, {
    name: 'shim',
    ns: host,
    tap: 'tap0',
    mac: '52:54:00:15:00:11',
    addr: '192.0.2.2/24',
    files: [deb, TCP_PEER],
  });
  lap(`guest up (${g.bootMs} ms from QEMU start)`);
  const debName = deb.split('/').pop() as string;
  t.match(await g.sh(`dpkg -i --force-confold /mnt/q/${debName} 2>&1`, 600_000), /Setting up island /, '.deb installs');
  await g.sh(SITE);
  t.equal((await link(g, 'pod', 'eth0'))?.linkinfo?.info_kind, 'ipvlan', "the pod's eth0 is an ipvlan");
  lap('island installed, node and pod namespaces built');

  // the admin's first try: the pod subnet over the parent itself; nobody answers
  const none = await g.run(
    `ip -n node route add 10.5.2.0/24 dev eth1
     ip netns exec node timeout 5 bash -c 'exec 3<>/dev/tcp/${POD}/7' 2>&1; echo "rc=$?"
     ip -n node route del 10.5.2.0/24 dev eth1`,
  );
  // no answer to ARP: the kernel gives up with EHOSTUNREACH, or the 5 s run out first; a reset
  // ("Connection refused") would mean the pod was reached
  t.match(none.stdout, /No route to host|rc=124/, 'no shim: a TCP connect to the pod gets no answer');
  t.notMatch(none.stdout, /refused|rc=0/, 'not even a reset');

  await g.sh(`cat >/root/shim.toml <<'EOF'\n${conf('l2')}EOF
# a runtime directory of its own: island.service, installed with the package, holds /run/island
ISLAND_RUNTIME_DIR=/run/island-shim ip netns exec node island daemon -c /root/shim.toml >/root/daemon.log 2>&1 </dev/null &
echo $! >/run/island-shim.pid`);
  await waitShim(g);
  const shim = await link(g, 'node', 'shim0');
  t.equal(shim?.linkinfo?.info_kind, 'ipvlan', 'shim0 is an ipvlan');
  t.equal(shim?.link, 'eth1', 'on eth1');
  t.equal(shim?.linkinfo?.info_data?.mode, 'l2', 'in l2 mode');
  t.equal(shim?.ifalias, 'island', 'owned by island');
  lap('daemon up, shim0 made');
  await reachPod(t, g, 'node → pod through shim0');

  const healMs = await waitShim(g, 'ip -n node link del shim0');
  const healed = await link(g, 'node', 'shim0');
  t.not(healed?.ifindex, shim?.ifindex, `shim0 deleted by hand is back after ${healMs} ms (polled in the guest)`);
  t.equal(healed?.link, 'eth1', 'on eth1 again');
  await reachPod(t, g, 'node → pod after the heal');
  lap('healed');

  await g.sh('ip -n node link del eth1');
  const log = await g.sh(
    `for i in $(seq 600); do grep -q '"link shim0: blocked' /root/daemon.log && break; sleep 0.1; done
     grep '"link shim0: blocked' /root/daemon.log | tail -1`,
    120_000,
  );
  t.match(log, /eth1 does not exist/, 'parent gone: the daemon says shim0 is blocked, and why');
  const backMs = await waitShim(g, PARENT);
  t.ok(backMs >= 0, `eth1 back: shim0 back after ${backMs} ms`);
  await g.sh(POD_IFACE);
  await reachPod(t, g, 'node → pod once the parent is back');
  lap('parent deleted and back');

  const before = await link(g, 'node', 'shim0');
  await g.sh(`cat >/root/shim.toml <<'EOF'\n${conf('l3')}EOF
kill -HUP "$(cat /run/island-shim.pid)"
for i in $(seq 600); do grep -q '"~ link shim0' /root/daemon.log && break; sleep 0.1; done`);
  const after = await link(g, 'node', 'shim0');
  t.equal(after?.linkinfo?.info_data?.mode, 'l3', 'the file says l3: shim0 is in l3');
  t.equal(after?.ifindex, before?.ifindex, 'changed in place: same ifindex');
  t.equal(
    (await link(g, 'pod', 'eth0'))?.linkinfo?.info_data?.mode,
    'l3',
    "and so is the pod's interface: the kernel keeps one ipvlan mode per parent",
  );
  await reachPod(t, g, 'node → pod in l3 mode');
  t.notMatch(await g.sh('cat /root/daemon.log'), /"level":50/, 'the daemon logged no error');
  lap('done');
});
