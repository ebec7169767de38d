/**
 * The host shim for a macvlan pod network, on the real kernel. A "node" namespace plays the
 * Kubernetes host: eth1 is its parent device (a veth whose far end, in a "lan" namespace, is
 * up, so the parent has carrier); a "pod" namespace gets a macvlan on eth1, made in the node
 * and moved into the pod as the CNI plugin does, and 10.5.2.10/24.
 *
 * - Without a shim the node cannot reach its own pod: the kernel keeps a parent apart from its
 *   macvlan children, so even a route to the pod subnet over eth1 sends the ARP to the wire,
 *   where nobody answers; a TCP connect fails.
 * - island's [[link]] shim0 (a macvlan on eth1 in bridge mode, 10.5.2.254/32, the route to
 *   10.5.2.0/24 through it): the node moves TCP data to the pod, whole.
 * - shim0 deleted by hand: the daemon re-creates it with the same MAC (the pod's neighbour
 *   entry for 10.5.2.254 stays true), and TCP goes through again.
 * - The parent deleted (the kernel deletes its children with it, shim0 and the pod's
 *   interface): the daemon reports shim0 blocked with the reason; the parent re-created, the
 *   daemon re-creates shim0 at once, and once the pod has its interface again (the CNI's part)
 *   TCP goes through.
 *
 * ipvlan is not in this machine's kernel (CONFIG_IPVLAN is not set): test/qemu/shim.test.ts runs
 * the same steps for an ipvlan pod network in a guest with Debian's kernel.
 */
import { writeFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { type Daemon, noErrorLogged, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type Netns, netns, veth } from '../helpers/netns.js';
import { checkTransfer, MB, nsEnd, tcpConnect, tcpListen, tcpTransfer } from '../helpers/tcp.js';

const POD = '10.5.2.10';
const SHIM = '10.5.2.254';
const BYTES = 4 * MB;

const CONF = `
[[link]]
name = "shim0"
kind = "macvlan"
parent = "eth1"
mode = "bridge"
addresses = ["${SHIM}/32"]

[[route]]
to = "10.5.2.0/24"
dev = "shim0"

[daemon]
resync = "1h"
debounce = "5ms"
`;

interface Site {
  /** the Kubernetes host: eth1 is the pod network's parent; island runs here */
  node: Netns;
  /** the far end of eth1's wire (another host, a switch): up, so eth1 has carrier */
  lan: Netns;
  pod: Netns;
}

/** eth1 in node, its peer up in lan */
async function parent(s: Pick<Site, 'node' | 'lan'>): Promise<void> {
  await veth('eth1', s.node, 'eth0', s.lan);
  await s.lan.run(['ip', 'link', 'set', 'eth0', 'up']);
  await s.node.run(['ip', 'link', 'set', 'eth1', 'up']);
}

/** The pod's interface as the macvlan CNI plugin makes it: on the node's parent, moved into the pod, renamed eth0. */
async function podInterface(s: Site): Promise<void> {
  await s.node.run(['ip', 'link', 'add', 'cnitmp0', 'link', 'eth1', 'type', 'macvlan', 'mode', 'bridge']);
  await s.node.run(['ip', 'link', 'set', 'cnitmp0', 'netns', s.pod.name]);
  await s.pod.sh(`ip link set cnitmp0 name eth0 && ip addr add ${POD}/24 dev eth0 && ip link set eth0 up`);
}

async function site(t: Test): Promise<Site> {
  const [node, lan, pod] = await Promise.all([netns(t, 'shnode'), netns(t, 'shlan'), netns(t, 'shpod')]);
  // no IPv6 chatter (router solicitations, DAD) on the wire the test watches
  await Promise.all(
    [node, lan, pod].map((ns) =>
      ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']),
    ),
  );
  const s = { node, lan, pod };
  await parent(s);
  await podInterface(s);
  return s;
}

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
type Link = Record<string, any>;
async function link(ns: Netns, name: string): Promise<Link | undefined> {
  const r = await ns.exec(['ip', '-d', '-j', 'link', 'show', name]);
  return r.code === 0 ? (JSON.parse(r.stdout)[0] as Link) : undefined;
}

/** polls ip link until `name` is there (and, with `not`, is not that ifindex) */
async function waitLink(ns: Netns, name: string, not?: number, ms = 10_000): Promise<Link | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const l = await link(ns, name);
    if ((l && l.ifindex !== not) || Date.now() > end) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** node → pod: a TCP transfer, whole, from the shim's address */
async function reachPod(t: Test, s: Site, what: string): Promise<void> {
  const r = await tcpTransfer({
    from: nsEnd(s.node, { name: 'node' }),
    to: nsEnd(s.pod, { name: 'pod' }),
    address: POD,
    bytes: BYTES,
    timeoutMs: 15_000,
  });
  checkTransfer(t, r, { bytes: BYTES, source: SHIM, what });
}

async function started(t: Test, s: Site): Promise<{ d: Daemon; path: string }> {
  const path = await writeConfig(t, CONF);
  const d = startDaemon(t, s.node, path);
  await d.waitForLog((r) => r.msg === 'island daemon running');
  const shim = await link(s.node, 'shim0');
  t.equal(shim?.linkinfo?.info_kind, 'macvlan', 'shim0 is a macvlan');
  t.equal(shim?.link, 'eth1', 'on eth1, the pods’ parent');
  t.equal(shim?.linkinfo?.info_data?.mode, 'bridge', 'in bridge mode, as the pods');
  t.equal(shim?.ifalias, 'island', 'owned by island');
  return { d, path };
}

t.test('without a shim the node cannot reach its own macvlan pod; island’s shim0 lets it', async (t) => {
  const s = await site(t);
  const listener = await tcpListen(t, s.pod, 10250);
  // the admin's first try: the pod subnet over the parent itself
  await s.node.run(['ip', 'route', 'add', '10.5.2.0/24', 'dev', 'eth1']);
  const [before] = await tcpConnect(nsEnd(s.node, { name: 'node' }), [{ host: POD, port: listener.port }], {
    timeoutMs: 3000,
    wait: true,
  });
  t.equal(
    before?.ok,
    false,
    `no shim: TCP connect to the pod fails (${before && !before.ok ? before.error : 'connected'})`,
  );
  await s.node.run(['ip', 'route', 'del', '10.5.2.0/24', 'dev', 'eth1']);

  const path = await writeConfig(t, CONF);
  const apply = await runIsland(s.node, ['apply', '-c', path]);
  t.equal(apply.code, 0, `apply exits 0 ${apply.stderr}`);
  t.match(apply.stdout, /^\+ link macvlan shim0\b.*$/m, 'apply says it made shim0');
  t.match(apply.stdout, /^\+ route 10\.5\.2\.0\/24 dev shim0$/m, 'and the route to the pods through it');
  const [after] = await tcpConnect(nsEnd(s.node, { name: 'node' }), [{ host: POD, port: listener.port }], {
    timeoutMs: 5000,
    wait: true,
  });
  t.equal(after?.ok && after.seenAs, SHIM, 'with the shim: connected, the pod sees the shim’s address');
  await reachPod(t, s, 'node → pod through shim0');
  const again = await runIsland(s.node, ['apply', '-c', path]);
  t.equal(again.stdout, 'no changes\n', 'a second apply changes nothing');
});

t.test('shim0 deleted by hand: the daemon re-creates it, same MAC, and TCP goes through again', async (t) => {
  const s = await site(t);
  const { d } = await started(t, s);
  await reachPod(t, s, 'node → pod');
  const before = await link(s.node, 'shim0');
  t.ok(before?.address, `shim0 has MAC ${before?.address}`);

  const t0 = Date.now();
  await s.node.run(['ip', 'link', 'del', 'shim0']);
  const back = await waitLink(s.node, 'shim0', before?.ifindex);
  const ms = Date.now() - t0;
  t.ok(back && back.ifindex !== before?.ifindex, `re-created (new ifindex ${back?.ifindex}) within ${ms} ms`);
  t.equal(back?.address, before?.address, 'with the same MAC: the pod’s neighbour entry for the shim stays true');
  t.equal(back?.link, 'eth1', 'on eth1 again');
  t.comment(`heal after ip link del shim0 (ip link del started → shim0 back, polled): ${ms} ms`);
  await reachPod(t, s, 'node → pod after the heal');
  noErrorLogged(t, d);
  t.equal((await d.stop()).code, 0, 'the daemon exits 0 on SIGTERM');
});

t.test('the parent deleted takes shim0 with it: blocked meanwhile, back as soon as eth1 is', async (t) => {
  const s = await site(t);
  const { d, path } = await started(t, s);
  const mac = (await link(s.node, 'shim0'))?.address;

  const seen = new Set(d.logs);
  await s.node.run(['ip', 'link', 'del', 'eth1']);
  t.notOk(await link(s.node, 'shim0'), 'the kernel deleted shim0 with its parent');
  const blocked = await d.waitForLog((r) => !seen.has(r) && r.object === 'link shim0' && r.state === 'blocked');
  t.match(blocked.msg, /eth1 does not exist/, `the daemon says why: ${blocked.msg}`);
  const status = await runIsland(s.node, ['status', '--json', '-c', path]);
  t.match(
    JSON.parse(status.stdout).objects,
    [{ object: 'link shim0', state: 'blocked', detail: /eth1 does not exist/ }],
    'status --json: link shim0 blocked, with the reason',
  );

  const t0 = Date.now();
  await parent(s);
  const back = await waitLink(s.node, 'shim0');
  const ms = Date.now() - t0;
  t.equal(back?.link, 'eth1', `shim0 back on the new eth1, ${ms} ms after the parent was re-created`);
  t.equal(back?.address, mac, 'with the same MAC');
  t.comment(`shim0 back after its parent returned (veth add started → shim0 there, polled): ${ms} ms`);
  // the pod lost its interface with the parent too: the CNI gives it a new one (a pod restart)
  await podInterface(s);
  await reachPod(t, s, 'node → pod once the parent is back');
  noErrorLogged(t, d);
  t.equal((await d.stop()).code, 0, 'the daemon exits 0 on SIGTERM');
});

t.test('a mode changed in the file is changed in place: private (cut off from the pods) → bridge', async (t) => {
  const s = await site(t);
  const listener = await tcpListen(t, s.pod, 10250);
  const path = await writeConfig(t, CONF.replace('mode = "bridge"', 'mode = "private"'));
  t.equal((await runIsland(s.node, ['apply', '-c', path])).code, 0, 'apply with mode = "private"');
  const before = await link(s.node, 'shim0');
  t.equal(before?.linkinfo?.info_data?.mode, 'private', 'shim0 in private mode');
  const [cut] = await tcpConnect(nsEnd(s.node, { name: 'node' }), [{ host: POD, port: listener.port }], {
    timeoutMs: 3000,
    wait: true,
  });
  t.equal(cut?.ok, false, 'private: the kernel keeps it apart from its bridge-mode siblings, the pod is not reached');

  await writeFile(path, CONF);
  const r = await runIsland(s.node, ['apply', '-c', path]);
  t.equal(r.stdout, '~ link shim0: mode private → bridge\n', 'apply changes the mode, nothing else');
  const after = await link(s.node, 'shim0');
  t.equal(after?.linkinfo?.info_data?.mode, 'bridge', 'shim0 in bridge mode');
  t.equal(after?.ifindex, before?.ifindex, 'the same link: changed in place');
  await reachPod(t, s, 'node → pod in bridge mode');
});
