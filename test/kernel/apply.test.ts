/**
 * `island apply` / `down` against the real kernel, checked the way a user
 * would: `ip -d -j link/addr/route` inside a namespace made for the test.
 */
import t from 'tap';
import { runIsland, writeConfig } from '../helpers/island.js';
import { type Netns, netns } from '../helpers/netns.js';

const config = (o: { vni?: number; mtu?: number; withRoute?: boolean; withVx?: boolean } = {}) => `
[[bridge]]
name = "cni0"
addresses = ["10.128.1.1/24"]
mtu = 1450

${
  o.withVx === false
    ? ''
    : `[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = ${o.vni ?? 333}
local = "192.0.2.1"
remote = "192.0.2.2"
dev = "eth0"
port = 5533
source_port = 5533
mtu = ${o.mtu ?? 1400}
addresses = ["10.30.30.2/30", "fd00:3030::2/126"]
`
}
${
  o.withRoute === false || o.withVx === false
    ? ''
    : `[[route]]
to = "192.168.3.0/24"
via = "10.30.30.1"
dev = "vx0"
metric = 100

[[route]]
to = "fd00:99::/64"
dev = "vx0"
`
}
[sysctl]
"net.ipv4.ip_forward" = 1
`;

/** A namespace with an underlay eth0 (one end of a veth pair whose peer stays in a second namespace). */
async function host(t: Parameters<typeof netns>[0]): Promise<Netns> {
  const ns = await netns(t, 'apply');
  const peer = await netns(t, 'applyp');
  await ns.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p', 'netns', peer.name]);
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
  await ns.run(['ip', 'link', 'set', 'eth0', 'up']);
  return ns;
}

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
const link = async (ns: Netns, name: string) => (await ns.ipJson(['link', 'show'])).find((l: any) => l.ifname === name);
const ifindexOf = async (ns: Netns, name: string) => (await link(ns, name))?.ifindex as number | undefined;
const addrs = async (ns: Netns, name: string) =>
  ((await ns.ipJson(['addr', 'show', 'dev', name]))[0]?.addr_info ?? [])
    .filter((a: { scope: string }) => a.scope !== 'link')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
    .sort();

t.test('apply converges vxlan + bridge + v4/v6 addresses + routes, as ip shows them', async (t) => {
  const ns = await host(t);
  const path = await writeConfig(t, config());
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 0, r.stderr);

  const vx = await link(ns, 'vx0');
  t.match(vx, {
    ifname: 'vx0',
    mtu: 1400,
    ifalias: 'island',
    operstate: 'UNKNOWN',
    linkinfo: {
      info_kind: 'vxlan',
      info_data: {
        id: 333,
        remote: '192.0.2.2',
        local: '192.0.2.1',
        link: 'eth0',
        port: 5533,
        port_range: { low: 5533, high: 5534 },
      },
    },
  });
  t.ok(vx.flags.includes('UP'), 'vx0 is up');
  t.match(await link(ns, 'cni0'), { mtu: 1450, ifalias: 'island', linkinfo: { info_kind: 'bridge' } });
  t.same(await addrs(ns, 'vx0'), ['10.30.30.2/30', 'fd00:3030::2/126']);
  t.same(await addrs(ns, 'cni0'), ['10.128.1.1/24']);

  const routes = await ns.ipJson(['route', 'show', 'proto', '149']);
  t.match(routes, [{ dst: '192.168.3.0/24', gateway: '10.30.30.1', dev: 'vx0', metric: 100 }]);
  t.match(await ns.ipJson(['-6', 'route', 'show', 'proto', '149']), [
    { dst: 'fd00:99::/64', dev: 'vx0', metric: 1024 },
  ]);
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim(), '1');

  const again = await runIsland(ns, ['apply', '-c', path]);
  t.equal(again.code, 0);
  t.equal(again.stdout.trim(), 'no changes', 'a second apply changes nothing');

  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 0, 'plan --exit-code: 0 when converged');
});

t.test('mtu changes in place; vni re-creates; removal from the file removes from the host', async (t) => {
  const ns = await host(t);
  const path = await writeConfig(t, config());
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0);
  const first = await ifindexOf(ns, 'vx0');

  const mtuPath = await writeConfig(t, config({ mtu: 1350 }));
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', mtuPath]);
  t.equal(plan.code, 2, 'plan --exit-code: 2 when changes are pending');
  t.equal(plan.stdout.trim(), '~ link vx0: mtu 1400 → 1350');
  t.equal((await runIsland(ns, ['apply', '-c', mtuPath])).code, 0);
  t.equal((await link(ns, 'vx0')).mtu, 1350);
  t.equal(await ifindexOf(ns, 'vx0'), first, 'same ifindex: changed in place');

  const vniPath = await writeConfig(t, config({ vni: 444, mtu: 1350 }));
  const r = await runIsland(ns, ['apply', '-c', vniPath]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /vni changed: the kernel cannot change it in place/);
  const vx = await link(ns, 'vx0');
  t.equal(vx.linkinfo.info_data.id, 444);
  t.not(vx.ifindex, first, 're-created: new ifindex');
  t.same(await addrs(ns, 'vx0'), ['10.30.30.2/30', 'fd00:3030::2/126'], 'addresses back on the new link');
  t.match(await ns.ipJson(['route', 'show', 'proto', '149']), [{ dst: '192.168.3.0/24', dev: 'vx0' }], 'route back');

  const noVx = await writeConfig(t, config({ withVx: false }));
  t.equal((await runIsland(ns, ['apply', '-c', noVx])).code, 0);
  t.equal(await ifindexOf(ns, 'vx0'), undefined, 'vx0 removed');
  t.same(await ns.ipJson(['route', 'show', 'proto', '149']), [], 'its routes removed');
  t.ok(await ifindexOf(ns, 'cni0'), 'cni0 stays');
});

t.test('foreign links, addresses and routes are untouched by apply and down', async (t) => {
  const ns = await host(t);
  await ns.sh(`
    ip link add br-foreign type bridge
    ip link set br-foreign up
    ip addr add 10.200.0.1/24 dev br-foreign
    ip route add 10.201.0.0/24 via 10.200.0.2 proto static
    ip route add 10.202.0.0/24 dev br-foreign
  `);
  const before = {
    link: await link(ns, 'br-foreign'),
    addrs: await addrs(ns, 'br-foreign'),
    routes: await ns.ipJson(['route', 'show']),
  };
  const path = await writeConfig(t, config());
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0);
  const down = await runIsland(ns, ['down']);
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /- link vx0/);
  t.match(down.stdout, /- link cni0/);

  t.equal(await ifindexOf(ns, 'vx0'), undefined, 'down removed vx0');
  t.equal(await ifindexOf(ns, 'cni0'), undefined, 'down removed cni0');
  const after = await link(ns, 'br-foreign');
  t.equal(after.ifindex, before.link.ifindex, 'foreign bridge still there, same ifindex');
  t.same(await addrs(ns, 'br-foreign'), before.addrs, 'its address untouched');
  t.same(await ns.ipJson(['route', 'show']), before.routes, 'every foreign route untouched');
  t.equal((await runIsland(ns, ['down'])).stdout.trim(), 'nothing to remove');
});

t.test('a foreign link holding a declared name: clear error, left untouched', async (t) => {
  const ns = await host(t);
  await ns.run(['ip', 'link', 'add', 'vx0', 'type', 'bridge']);
  const before = await link(ns, 'vx0');
  const path = await writeConfig(t, config());
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 3, 'exit 3: nothing failed, but the file is not reached');
  t.match(
    r.stderr,
    /^island: link vx0: a link named vx0 \(bridge, ifindex \d+\) exists and is not island's; remove or rename it$/m,
  );
  t.match(r.stdout, /^not converged: 1 foreign, 4 blocked: the host does not match the file$/m);
  t.notMatch(r.stdout, /no changes/);
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 3, 'plan --exit-code: 3, the file cannot be reached');
  t.match(plan.stdout, /^! link vx0: foreign: a link named vx0/m);
  t.match(plan.stdout, /^not converged: 1 foreign, 4 blocked: the host does not match the file\n$/m);
  t.equal((await runIsland(ns, ['plan', '-c', path])).code, 0, 'plan without --exit-code: 0');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const after = await link(ns, 'vx0');
  t.same(
    { ifindex: after.ifindex, kind: after.linkinfo.info_kind, alias: after.ifalias },
    { ifindex: before.ifindex, kind: 'bridge', alias: undefined },
  );
  t.ok(await ifindexOf(ns, 'cni0'), 'the rest of the island converged anyway');
  const st = await runIsland(ns, ['status', '--json', '-c', path]);
  t.match(JSON.parse(st.stdout).objects, [{ object: 'sysctl net.ipv4.ip_forward', state: 'ok' }]);
  t.ok(
    JSON.parse(st.stdout).objects.some(
      (o: { object: string; state: string }) => o.object === 'link vx0' && o.state === 'foreign',
    ),
    'status says foreign',
  );
});

t.test('missing underlay: the tunnel waits, the error names the device', async (t) => {
  const ns = await netns(t, 'nounder');
  const path = await writeConfig(t, config());
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 3);
  t.match(r.stderr, /^island: link vx0: underlay device eth0 does not exist$/m);
  t.ok(await ifindexOf(ns, 'cni0'), 'cni0 converged anyway');
});

t.test('ipip: this kernel has no ipip; the error says so in one line', async (t) => {
  const ns = await netns(t, 'ipip');
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
  const path = await writeConfig(
    t,
    `[[tunnel]]\nname = "island0"\nkind = "ipip"\nlocal = "192.0.2.1"\nremote = "192.0.2.2"\naddresses = ["10.3.1.3/24"]\n`,
  );
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 1, 'exit 1: the kernel refused it');
  t.match(
    r.stderr,
    /^island: link island0: create ipip island0: refused by the kernel: the kernel has no ipip support .*\(declared at .*island\.toml:1\)$/m,
  );
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a refusal among requests sent together: the others are carried out, each answered on its own', async (t) => {
  // the links of one stage leave in one sendmsg; the kernel refuses the ipip one (no ipip here)
  const ns = await netns(t, 'batch');
  await ns.run(['ip', 'addr', 'add', '192.0.2.1/32', 'dev', 'lo']);
  const vx = (i: number) =>
    `[[tunnel]]\nname = "vx${i}"\nkind = "vxlan"\nvni = ${100 + i}\nlocal = "192.0.2.1"\nremote = "192.0.2.2"\naddresses = ["10.31.${i}.2/30"]\n`;
  const path = await writeConfig(
    t,
    `${vx(1)}\n[[tunnel]]\nname = "island0"\nkind = "ipip"\nlocal = "192.0.2.1"\nremote = "192.0.2.3"\n\n${vx(2)}`,
  );
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 1, 'exit 1: the kernel refused one');
  t.match(r.stderr, /^island: link island0: create ipip island0: refused by the kernel/m);
  t.equal(r.stderr.trim().split('\n').length, 1, 'that one only');
  for (const i of [1, 2]) {
    t.ok((await link(ns, `vx${i}`))?.flags?.includes('UP'), `vx${i} made and up`);
    t.same(await addrs(ns, `vx${i}`), [`10.31.${i}.2/30`], `vx${i}'s address`);
  }
});

t.test('status: a table and --json, per object', async (t) => {
  const ns = await host(t);
  const path = await writeConfig(t, config());
  const missing = await runIsland(ns, ['status', '-c', path]);
  t.equal(missing.code, 0);
  t.match(missing.stdout, /^OBJECT\s+STATE\s+DETAIL$/m);
  t.match(missing.stdout, /^link vx0\s+missing$/m);
  await runIsland(ns, ['apply', '-c', path]);
  await ns.run(['ip', 'link', 'set', 'cni0', 'mtu', '1500']);
  const st = JSON.parse((await runIsland(ns, ['status', '--json', '-c', path])).stdout);
  const byObject = Object.fromEntries(st.objects.map((o: { object: string }) => [o.object, o]));
  t.match(byObject['link cni0'], { state: 'drifted', detail: 'mtu 1500 → 1450' });
  t.match(byObject['link vx0'], { state: 'ok' });
  t.match(byObject['route 192.168.3.0/24 metric 100'], { state: 'ok' });
});

t.test('a vxlan whose underlay is a bridge of the same file converges in one apply', async (t) => {
  const ns = await netns(t, 'overbr');
  const path = await writeConfig(
    t,
    `[[bridge]]\nname = "br-under"\naddresses = ["192.0.2.1/24"]\n\n[[tunnel]]\nname = "vx0"\nkind = "vxlan"\nvni = 7\nlocal = "192.0.2.1"\nremote = "192.0.2.2"\ndev = "br-under"\naddresses = ["10.30.30.1/30"]\n`,
  );
  const r = await runIsland(ns, ['apply', '-c', path]);
  t.equal(r.code, 0, r.stderr);
  t.match(await link(ns, 'vx0'), { linkinfo: { info_data: { link: 'br-under', id: 7 } } });
});
