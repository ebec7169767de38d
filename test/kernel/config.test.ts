/**
 * Issue 10, families 1, 2 and 4 against the running kernel, in namespaces made here:
 * - what check refuses, the kernel refuses too (or takes and never shows back), and check
 *   refuses it first, at its line;
 * - a file check accepts converges: a second apply says "no changes";
 * - one kernel route however its metric is spelled: no flip between applies or resyncs;
 * - sysctls: tcp_rmem (printed back with tabs) converges; a VLAN-style interface name with a
 *   dot gets the right /proc/sys path in both spellings; the table of known bounds is the
 *   kernel's own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { KNOWN_SYSCTLS, sysctlName } from '../../src/config/sysctl.js';
import { REPO, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type Netns, netns } from '../helpers/netns.js';

const GOOD = join(REPO, 'test', 'fixtures', 'good');

async function check(t: Parameters<typeof netns>[0], ns: Netns, text: string) {
  const path = await writeConfig(t, text);
  const r = await runIsland(ns, ['check', '-c', path]);
  return {
    code: r.code,
    lines: r.stderr
      .trim()
      .split('\n')
      .map((l) => l.slice(path.length + 1)),
  };
}

t.test('what check refuses, the kernel refuses: check says so first, at the line', async (t) => {
  const ns = await netns(t, 'kref');
  await ns.run(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await ns.run(['ip', 'link', 'set', 'br0', 'up']);
  await ns.run(['ip', 'addr', 'add', '10.50.0.1/24', 'dev', 'br0']);

  // two vxlan with one VNI and port, whatever their ends: EEXIST
  await ns.run('ip link add vxa type vxlan id 5 local 10.50.0.1 remote 10.50.0.9 dstport 4789'.split(' '));
  const second = await ns.exec(
    'ip link add vxb type vxlan id 5 local 10.50.0.2 remote 10.50.0.8 dstport 4789'.split(' '),
  );
  t.not(second.code, 0);
  t.match(second.stderr, /VNI already exists/);
  // over another underlay device too; only link-local IPv6 ends tell devs apart, and a
  // global one created after them still clashes
  await ns.run(['ip', 'link', 'add', 'br1', 'type', 'bridge']);
  const overDev = await ns.exec(
    'ip link add vxb type vxlan id 5 local 10.50.0.2 remote 10.50.0.8 dstport 4789 dev br1'.split(' '),
  );
  t.not(overDev.code, 0, 'another dev: still one VNI and port');
  for (const dev of ['br0', 'br1']) {
    const ll = await ns.exec([
      'ip',
      'link',
      'add',
      `vxl${dev}`,
      'type',
      'vxlan',
      'id',
      '5',
      'local',
      'fe80::1',
      'remote',
      'fe80::2',
      'dstport',
      '4789',
      'dev',
      dev,
    ]);
    t.equal(ll.code, 0, `link-local over ${dev}: ${ll.stderr}`);
  }
  const global6 = await ns.exec('ip link add vxg type vxlan id 5 local fd00::1 remote fd00::2 dstport 4789'.split(' '));
  t.not(global6.code, 0, 'a global IPv6 one after them clashes');
  const vx = (name: string, extra: string) => `[[tunnel]]\nname = "${name}"\nkind = "vxlan"\nvni = 5\n${extra}\n`;
  const c1 = await check(
    t,
    ns,
    vx('vxa', 'local = "10.50.0.1"\nremote = "10.50.0.9"') + vx('vxb', 'local = "10.50.0.2"\nremote = "10.50.0.8"'),
  );
  t.equal(c1.code, 1);
  t.match(c1.lines, [/^10:7: tunnel\[1\]\.vni: VNI 5 on UDP port 4789 is already used by vxa \(line 2\)/]);

  // "all" and "default" as link names: EINVAL
  for (const name of ['all', 'default']) {
    const r = await ns.exec(['ip', 'link', 'add', name, 'type', 'bridge']);
    t.not(r.code, 0, `the kernel refuses a link named ${name}`);
    const c = await check(t, ns, `[[bridge]]\nname = "${name}"\n`);
    t.match(c.lines, [new RegExp(`^2:8: bridge\\[0\\]\\.name: "${name}" cannot be a link name`)]);
  }

  // 0.0.0.0 is taken without an error and never appears; ::, ::1 and multicast are refused
  const zero = await ns.exec(['ip', 'addr', 'add', '0.0.0.0/24', 'dev', 'br0']);
  t.equal(zero.code, 0, 'the kernel takes 0.0.0.0 without an error...');
  t.notMatch(await ns.run(['ip', '-4', 'addr', 'show', 'dev', 'br0']), /0\.0\.0\.0/, '...and adds nothing');
  for (const a of ['::/64', '::1/128', 'ff02::1/64']) {
    t.not((await ns.exec(['ip', 'addr', 'add', a, 'dev', 'br0'])).code, 0, `the kernel refuses ${a}`);
  }
  const c2 = await check(
    t,
    ns,
    '[[bridge]]\nname = "br1"\naddresses = ["0.0.0.0/24", "::/64", "::1/128", "ff02::1/64"]\n',
  );
  t.equal(c2.lines.length, 4);
  for (const l of c2.lines) t.match(l, /^3:\d+: bridge\[0\]\.addresses\[\d\]: /);

  // a vxlan over the bridge it is a port of: EBUSY
  await ns.run('ip link add vxc type vxlan id 7 local 10.50.0.1 remote 10.50.0.7 dstport 4789 dev br0'.split(' '));
  const loop = await ns.exec(['ip', 'link', 'set', 'vxc', 'master', 'br0']);
  t.not(loop.code, 0);
  const c3 = await check(
    t,
    ns,
    `${vx('vxc', 'local = "10.50.0.1"\nremote = "10.50.0.7"\ndev = "br0"')}[[bridge]]\nname = "br0"\nports = ["vxc"]\n`,
  );
  t.match(c3.lines, [/^7:7: tunnel\[0\]\.dev: br0 is the bridge vxc is a port of/]);

  // multicast and broadcast gateways
  for (const via of ['224.0.0.1', '255.255.255.255']) {
    t.not((await ns.exec(['ip', 'route', 'add', '10.60.0.0/16', 'via', via])).code, 0, `the kernel refuses via ${via}`);
    const c = await check(t, ns, `[[route]]\nto = "10.60.0.0/16"\nvia = "${via}"\n`);
    t.match(c.lines, [/^3:7: route\[0\]\.via: .*which the kernel does not take as a gateway/]);
  }

  // a vxlan MTU above its underlay's less 50: lowered at creation, then refused
  await ns.run(
    'ip link add vxd mtu 1500 type vxlan id 8 local 10.50.0.1 remote 10.50.0.6 dstport 4789 dev br0'.split(' '),
  );
  t.match(await ns.run(['ip', '-o', 'link', 'show', 'vxd']), /mtu 1450 /, 'the kernel lowered it');
  t.not((await ns.exec(['ip', 'link', 'set', 'vxd', 'mtu', '1500'])).code, 0, 'and refuses to raise it');
});

t.test(
  'what check refuses, the kernel refuses (audit): group scope, IPv6 under 1280, a [[link]] parent, disable_ipv6, ip_forward',
  async (t) => {
    const ns = await netns(t, 'kref2');
    const sh = (cmd: string) => ns.exec(cmd.split(' '));
    for (const cmd of [
      'ip link add br0 mtu 1300 type bridge',
      'ip link add br2 mtu 1330 type bridge',
      'ip link set br0 up',
      'ip addr add fe80::1/64 dev br0 nodad',
      'ip addr add 10.0.0.1/24 dev br0',
    ])
      await ns.run(cmd.split(' '));

    // a link-local local with a group wider than the link: refused; a group of link scope: taken
    const wide = await sh('ip link add vxw type vxlan id 1 dstport 4789 local fe80::1 group ff0e::5 dev br0');
    t.match(wide.stderr, /Invalid combination of local and remote address scopes/);
    t.equal((await sh('ip link add vxl type vxlan id 2 dstport 4789 local fe80::1 group ff02::5 dev br0')).code, 0);
    const vx = (name: string, vni: number, extra: string) =>
      `[[tunnel]]\nname = "${name}"\nkind = "vxlan"\nvni = ${vni}\n${extra}\n`;
    const c1 = await check(
      t,
      ns,
      vx('vxw', 1, 'local = "fe80::1"\nremote = "ff0e::5"\ndev = "br0"') +
        vx('vxl', 2, 'local = "fe80::1"\nremote = "ff02::5"\ndev = "br0"'),
    );
    t.match(c1.lines, [/^6:10: tunnel\[0\]\.remote: ff0e::5 is a multicast group wider than the link/]);

    // an auto vxlan over a 1300 bridge is 1250: no IPv6 address; over 1330 it is 1280: taken
    await ns.run('ip link add vx0 type vxlan id 7 dstport 4789 local 10.0.0.1 remote 10.0.0.2 dev br0'.split(' '));
    await ns.run('ip link add vx2 type vxlan id 9 dstport 4789 local 10.0.0.1 remote 10.0.0.3 dev br2'.split(' '));
    t.match(await ns.run(['ip', '-o', 'link', 'show', 'vx0']), /mtu 1250 /);
    t.not((await sh('ip addr add 2001:db8::1/64 dev vx0')).code, 0, 'the kernel refuses IPv6 below 1280');
    t.equal((await sh('ip addr add 2001:db8:3::1/64 dev vx2')).code, 0, 'and takes it at 1280');
    const c2 = await check(
      t,
      ns,
      '[[bridge]]\nname = "br0"\nmtu = 1300\naddresses = ["10.0.0.1/24"]\n' +
        vx('vx0', 7, 'local = "10.0.0.1"\nremote = "10.0.0.2"\ndev = "br0"\naddresses = ["2001:db8::1/64"]'),
    );
    t.match(c2.lines, [
      /^12:14: tunnel\[0\]\.addresses\[0\]: IPv6 needs an MTU of at least 1280, and vx0's would be 1250/,
    ]);

    // macvlan: not on lo nor on a device without Ethernet (a tun stands in for ipip, which this
    // kernel lacks); not on a bridge port (busy); not larger than its parent
    await ns.run(['ip', 'tuntap', 'add', 'tun0', 'mode', 'tun']);
    await ns.run('ip link add vx3 type vxlan id 10 dstport 4789 local 10.0.0.1 remote 10.0.0.4'.split(' '));
    await ns.run('ip link add br1 type bridge'.split(' '));
    await ns.run('ip link add br3 mtu 1400 type bridge'.split(' '));
    await ns.run('ip link set vx3 master br1'.split(' '));
    t.not((await sh('ip link add m0 link lo type macvlan mode bridge')).code, 0, 'not on lo');
    t.not((await sh('ip link add m1 link tun0 type macvlan mode bridge')).code, 0, 'not on a layer 3 device');
    t.match((await sh('ip link add m2 link vx3 type macvlan mode bridge')).stderr, /busy/, 'not on a bridge port');
    t.not((await sh('ip link add m3 mtu 1500 link br3 type macvlan mode bridge')).code, 0, 'not above its parent');
    t.equal((await sh('ip link add m4 mtu 1400 link br3 type macvlan mode bridge')).code, 0, 'as large: taken');
    const shim = (name: string, parent: string, extra = '') =>
      `[[link]]\nname = "${name}"\nkind = "macvlan"\nparent = "${parent}"\n${extra}\n`;
    const c3 = await check(
      t,
      ns,
      `${vx('vx3', 10, 'local = "10.0.0.1"\nremote = "10.0.0.4"')}[[bridge]]\nname = "br1"\nports = ["vx3"]\n\n` +
        '[[bridge]]\nname = "br3"\nmtu = 1400\n\n' +
        shim('m0', 'lo') +
        shim('m2', 'vx3') +
        shim('m3', 'br3', 'mtu = 1500'),
    );
    t.match(c3.lines, [
      /^18:10: link\[0\]\.parent: the kernel puts a macvlan on an Ethernet device only, not on lo/,
      /^23:10: link\[1\]\.parent: vx3 is a port of bridge br1/,
      /^29:7: link\[2\]\.mtu: 1500 is above br3's mtu 1400/,
    ]);

    // disable_ipv6 on a link: its IPv6 addresses are refused
    await ns.run(['sysctl', '-qw', 'net.ipv6.conf.br2.disable_ipv6=1']);
    t.match((await sh('ip addr add 2001:db8:4::1/64 dev br2')).stderr, /IPv6 is disabled on this device/);
    const c5 = await check(
      t,
      ns,
      '[[bridge]]\nname = "br2"\naddresses = ["2001:db8:4::1/64"]\n[sysctl]\n"net.ipv6.conf.br2.disable_ipv6" = "1"\n',
    );
    t.match(c5.lines, [/^5:36: sysctl\."net\.ipv6\.conf\.br2\.disable_ipv6": disables IPv6 on br2/]);

    // net.ipv4.ip_forward and net.ipv4.conf.all.forwarding are one value
    await ns.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    t.equal((await ns.run(['sysctl', '-n', 'net.ipv4.conf.all.forwarding'])).trim(), '1');
    await ns.run(['sysctl', '-qw', 'net.ipv4.conf.all.forwarding=0']);
    t.equal((await ns.run(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '0');
    const c4 = await check(t, ns, '[sysctl]\n"net.ipv4.ip_forward" = "1"\n"net.ipv4.conf.all.forwarding" = "0"\n');
    t.match(c4.lines, [
      /^3:1: sysctl\."net\.ipv4\.conf\.all\.forwarding": same sysctl as "net\.ipv4\.ip_forward" \(line 2\)/,
    ]);
  },
);

/** eth0 and eth1 for the tunnels that name a dev. */
async function underlay(t: Parameters<typeof netns>[0], tag: string): Promise<Netns> {
  const ns = await netns(t, tag);
  // no dummy module here: each is one end of a veth pair whose other end stays down
  for (const dev of ['eth0', 'eth1']) {
    await ns.run(['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    await ns.run(['ip', 'link', 'set', dev, 'up']);
  }
  await ns.run(['ip', 'addr', 'add', '192.168.3.100/24', 'dev', 'eth0']);
  // the IPv6 tunnels' local addresses: a tunnel whose local is not on the host is blocked
  for (const a of ['fd00::1/64', 'fe80::1/64']) await ns.run(['ip', 'addr', 'add', a, 'dev', 'eth0', 'nodad']);
  return ns;
}

t.test('a file check accepts converges: kernel-identities.toml, applied twice', async (t) => {
  const ns = await underlay(t, 'kgood');
  // this kernel has no ipip: the vxlan, bridge and route identities are what is tested here
  const text = readFileSync(join(GOOD, 'kernel-identities.toml'), 'utf8').replace(
    /\[\[tunnel\]\]\nname = "ipip\d"\n(?:[^[\n][^\n]*\n)*\n?/g,
    '',
  );
  t.notMatch(text, /kind = "ipip"/);
  const path = await writeConfig(t, text);
  const first = await runIsland(ns, ['apply', '-c', path]);
  t.equal(first.code, 0, first.stderr);
  const second = await runIsland(ns, ['apply', '-c', path]);
  t.equal(second.code, 0, second.stderr);
  t.equal(second.stdout.trim(), 'no changes');
  // the same VNI on two ports and two families: three devices
  const vnis = (await ns.ipJson(['link', 'show', 'type', 'vxlan']))
    .filter((l: { linkinfo: { info_data: { id: number } } }) => l.linkinfo.info_data.id === 333)
    .map((l: { ifname: string }) => l.ifname)
    .sort();
  t.same(vnis, ['vx0', 'vx1', 'vx2']);
  // both metrics of 10.4.0.0/16 are there, each once
  const routes = (await ns.ipJson(['route', 'show', '10.4.0.0/16'])).map((r: { metric?: number }) => r.metric ?? 0);
  t.same(
    routes.sort((a: number, b: number) => a - b),
    [0, 100],
  );
});

t.test('a route with no metric and one with metric 0 are one route: applies and a daemon never flip it', async (t) => {
  const ns = await underlay(t, 'kmetric');
  const file = (m4: string, m6: string) => `[[bridge]]
name = "br0"
addresses = ["10.3.1.3/24", "fd00:3::3/64"]

[[route]]
to = "10.4.0.0/16"
via = "10.3.1.1"
${m4}

[[route]]
to = "fd00:4::/64"
via = "fd00:3::1"
${m6}

[daemon]
resync = "1s"
`;
  const zero = await writeConfig(t, file('metric = 0', 'metric = 0'), 'zero.toml');
  const none = await writeConfig(t, file('', ''), 'none.toml');
  const v6default = await writeConfig(t, file('metric = 0', 'metric = 1024'), 'v6.toml');
  const r = await runIsland(ns, ['apply', '-c', zero]);
  t.equal(r.code, 0, r.stderr);
  for (const [what, path] of [
    ['no metric', none],
    ['IPv6 metric = 1024', v6default],
    ['metric = 0 again', zero],
  ] as const) {
    const again = await runIsland(ns, ['apply', '-c', path]);
    t.equal(again.code, 0, again.stderr);
    t.equal(again.stdout.trim(), 'no changes', `after metric = 0: ${what} is the same route`);
  }
  const v4 = await ns.ipJson(['route', 'show', '10.4.0.0/16']);
  const v6 = await ns.ipJson(['-6', 'route', 'show', 'fd00:4::/64']);
  t.match(v4, [{ dst: '10.4.0.0/16', gateway: '10.3.1.1', protocol: '149' }]);
  t.equal(v4.length, 1);
  t.match(v6, [{ dst: 'fd00:4::/64', gateway: 'fd00:3::1', metric: 1024 }]);
  t.equal(v6.length, 1);

  // a daemon on the file without metrics, resyncing every second, changes nothing
  const d = startDaemon(t, ns, none);
  await d.waitForLog((l) => l.msg === 'island daemon running');
  await new Promise((res) => setTimeout(res, 3500));
  const changes = d.logs.filter((l) => typeof l.object === 'string' && l.object.startsWith('route'));
  t.strictSame(changes, [], 'no route repaired in 3 resyncs');
  t.equal(d.logs.filter((l) => l.msg === 'reconciled').length, 0, 'no pass had anything to do');
});

t.test('sysctls: tcp_rmem converges, and an interface name with a dot gets its own /proc/sys path', async (t) => {
  const ns = await underlay(t, 'ksysctl');
  // a VLAN's name: this kernel has no 8021q module, so a veth carries it
  await ns.run(['ip', 'link', 'add', 'eth0.100', 'type', 'veth', 'peer', 'name', 'eth0.100p']);
  const text = `[sysctl]
"net.ipv4.tcp_rmem" = "4096 87380 6291456"
"net.ipv4.conf.eth0/100.forwarding" = 1
"net.ipv6.conf.eth0.100.forwarding" = 1
"net.ipv4.conf.eth0.100.rp_filter" = 2

[daemon]
resync = "1s"
`;
  const path = await writeConfig(t, text);
  const first = await runIsland(ns, ['apply', '-c', path]);
  t.equal(first.code, 0, first.stderr);
  t.equal(
    (await ns.run(['cat', '/proc/sys/net/ipv4/tcp_rmem'])).trim(),
    '4096\t87380\t6291456',
    'the kernel prints tabs',
  );
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/conf/eth0.100/forwarding'])).trim(), '1');
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv6/conf/eth0.100/forwarding'])).trim(), '1');
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/conf/eth0.100/rp_filter'])).trim(), '2');
  t.equal((await ns.run(['sysctl', '-n', 'net.ipv4.conf.eth0/100.forwarding'])).trim(), '1', 'as sysctl(8) reads it');
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/conf/eth0/forwarding'])).trim(), '0', 'eth0 itself untouched');
  const second = await runIsland(ns, ['apply', '-c', path]);
  t.equal(second.stdout.trim(), 'no changes', second.stderr);
  const plan = await runIsland(ns, ['plan', '--exit-code', '-c', path]);
  t.equal(plan.code, 0, 'plan --exit-code: nothing pending');

  const d = startDaemon(t, ns, path);
  await d.waitForLog((l) => l.msg === 'island daemon running');
  await new Promise((res) => setTimeout(res, 3500));
  t.strictSame(
    d.logs.filter((l) => typeof l.object === 'string' && l.object.startsWith('sysctl')),
    [],
    'the daemon rewrites no sysctl in 3 resyncs',
  );
});

t.test("the known sysctl bounds are the kernel's: each bound taken, one past it refused", async (t) => {
  const ns = await netns(t, 'kbounds');
  let tested = 0;
  for (const [generic, known] of Object.entries(KNOWN_SYSCTLS)) {
    // the port range and its unprivileged start depend on each other: tested on their own below
    if (/ip_local_port_range|ip_unprivileged_port_start/.test(generic)) continue;
    const key = generic.replace('<if>', 'all');
    const file = `/proc/sys/${sysctlName(key).path}`;
    const before = await ns.exec(['cat', file]);
    if (before.code !== 0) {
      t.comment(`${key}: not in this kernel, skipped`);
      continue;
    }
    const write = async (values: number[]) =>
      (await ns.exec(['sh', '-c', `printf '%s' "$1" > ${file}`, 'sh', values.join(' ')])).code === 0;
    const mins = known.values.map(([min]) => min);
    const maxs = known.values.map(([, max]) => max);
    t.ok(await write(mins), `${key}: ${mins.join(' ')} taken`);
    t.ok(await write(maxs), `${key}: ${maxs.join(' ')} taken`);
    for (let i = 0; i < known.values.length; i++) {
      const below = [...mins];
      below[i] = (mins[i] as number) - 1;
      const above = [...maxs];
      above[i] = (maxs[i] as number) + 1;
      t.notOk(await write(below), `${key}: ${below.join(' ')} refused`);
      t.notOk(await write(above), `${key}: ${above.join(' ')} refused`);
    }
    await ns.exec(['sh', '-c', `printf '%s' "$1" > ${file}`, 'sh', before.stdout.trim()]);
    tested++;
  }
  t.ok(tested >= 30, `${tested} keys checked`);

  const range = async (v: string) =>
    (await ns.exec(['sh', '-c', `printf '%s' "$1" > /proc/sys/net/ipv4/ip_local_port_range`, 'sh', v])).code === 0;
  t.notOk(await range('60999 32768'), 'a reversed range is refused');
  t.notOk(await range('80 90'), 'a range below ip_unprivileged_port_start (1024) is refused');
  t.ok(await range('1024 65535'), '1024 65535 is taken');
  t.notOk(await range('1024 65536'), '65536 is refused');
  t.ok(await range('32768 60999'), 'back to the default');
  const start = async (v: string) =>
    (await ns.exec(['sh', '-c', `printf '%s' "$1" > /proc/sys/net/ipv4/ip_unprivileged_port_start`, 'sh', v])).code ===
    0;
  t.notOk(await start('32769'), 'an unprivileged start above the range is refused');
  t.ok(await start('32768'), 'one at its low end is taken');
  t.ok(await start('1024'), 'back to the default');
  // numbers the kernel reads in another base, and shows back in decimal
  await ns.run(['sh', '-c', "printf '010' > /proc/sys/net/ipv4/conf/all/rp_filter"]);
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/conf/all/rp_filter'])).trim(), '8', '"010" is octal');
  await ns.run(['sh', '-c', "printf '0x2' > /proc/sys/net/ipv4/conf/all/rp_filter"]);
  t.equal((await ns.run(['cat', '/proc/sys/net/ipv4/conf/all/rp_filter'])).trim(), '2', '"0x2" is hexadecimal');
  t.not(
    (await ns.exec(['sh', '-c', "printf '+1' > /proc/sys/net/ipv4/conf/all/rp_filter"])).code,
    0,
    '"+1" is refused',
  );
});
