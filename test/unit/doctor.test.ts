/**
 * island doctor's checks on facts written by hand: each finding, where it points, and its
 * absence once the condition is gone. The host side (gathering the facts) is tested on the
 * kernel (test/kernel/doctor.test.ts).
 */
import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { daemonFindings, isIslandDaemon } from '../../src/doctor/daemon.js';
import { firewallFindings } from '../../src/doctor/firewall.js';
import { strictSomewhere } from '../../src/doctor/gather.js';
import { diagnose } from '../../src/doctor/index.js';
import { natFindings } from '../../src/doctor/nat.js';
import { networkdFindings } from '../../src/doctor/networkd.js';
import { networkManagerFindings } from '../../src/doctor/networkmanager.js';
import { rpFilterFindings } from '../../src/doctor/rpfilter.js';
import { type DoctorFacts, formatFinding } from '../../src/doctor/types.js';
import { planFirewall } from '../../src/firewall/diff.js';
import type { NftRuleset } from '../../src/firewall/nftables.js';
import { desiredFirewall } from '../../src/firewall/render.js';
import { filterTable } from '../../src/firewall/save.js';
import type { LiveFirewall } from '../../src/firewall/types.js';

function config(text: string, host?: string): Config {
  const r = parseConfig(text, '/etc/island.toml', host ? { identity: { host, addresses: [] } } : {});
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}:${e.col}: ${e.message}`).join('\n'));
  return r.config;
}

/** A host with eth0 (192.0.2.1/24, default route via 192.0.2.254) and whatever `over` says. */
function facts(over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    processes: [],
    self: 1000,
    files: new Map(),
    enabled: new Set(),
    links: [
      { ifindex: 1, name: 'lo', owned: false },
      { ifindex: 2, name: 'eth0', owned: false },
    ],
    addresses: [{ ifindex: 2, family: 4, address: '192.0.2.1', prefixlen: 24, scope: 0 }],
    routes: [
      { family: 4, dst: '0.0.0.0', dstLen: 0, table: 254, protocol: 3, type: 1, gateway: '192.0.2.254', oif: 2 },
      { family: 4, dst: '192.0.2.0', dstLen: 24, table: 254, protocol: 2, type: 1, oif: 2 },
    ],
    sysctl: {
      'net.ipv4.ip_forward': '1',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.default.rp_filter': '0',
      'net.ipv4.conf.eth0.rp_filter': '0',
    },
    txChecksum: new Map(),
    unread: [],
    ...over,
  };
}

/** A gateway behind a NAT whose route to the far site covers the far gateway's own address. */
const GATEWAY = `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "198.51.100.50"
port = 5533
source_port = 5533
addresses = ["10.3.1.3/24"]
keepalive = "25s"
peer = "10.3.1.2"

[[route]]
to = "198.51.100.0/24"
via = "10.3.1.2"
`;

const proc = (pid: number, comm: string, ...argv: string[]) => ({ pid, comm, argv: argv.length ? argv : [comm] });

t.test('networkd: ManageForeignRoutes on, from the default or a file, drop-ins in systemd order', async (t) => {
  const running = [proc(300, 'systemd-network', '/lib/systemd/systemd-networkd')];
  const cfg = config(GATEWAY);
  t.same(networkdFindings(facts({ config: cfg })), [], 'networkd not running: nothing');

  const dflt = networkdFindings(facts({ config: cfg, processes: running }));
  t.same(
    dflt.map((f) => [f.severity, f.where, f.what]),
    [
      [
        'warning',
        '/etc/systemd/networkd.conf (ManageForeignRoutes unset: yes by default)',
        'systemd-networkd runs with ManageForeignRoutes=yes',
      ],
      [
        'warning',
        '/etc/systemd/networkd.conf (ManageForeignRoutingPolicyRules unset: yes by default)',
        'systemd-networkd runs with ManageForeignRoutingPolicyRules=yes',
      ],
    ],
    'running with no file: both defaults',
  );
  t.match(dflt[0]?.why, /island's 1 route\(s\) vanish/, 'says what island loses');
  t.match(dflt[0]?.fix, /ManageForeignRoutes=no under \[Network\] in \/etc\/systemd\/networkd.conf.d\/island.conf/);

  const files = new Map([
    ['/etc/systemd/networkd.conf', '[Network]\n#ManageForeignRoutes=yes\nManageForeignRoutes=yes\n'],
    ['/usr/lib/systemd/networkd.conf.d/10-vendor.conf', '[Network]\nManageForeignRoutingPolicyRules=no\n'],
  ]);
  t.same(
    networkdFindings(facts({ config: cfg, processes: running, files })).map((f) => f.where),
    ['/etc/systemd/networkd.conf:3'],
    'the line that sets it; a vendor drop-in turned the rules off',
  );
  files.set('/etc/systemd/networkd.conf.d/island.conf', '[Network]\nManageForeignRoutes=no\n');
  t.same(networkdFindings(facts({ config: cfg, processes: running, files })), [], 'a drop-in turns it off: nothing');
  // a drop-in of the same name in /etc masks the vendor's
  files.set('/etc/systemd/networkd.conf.d/10-vendor.conf', '[Network]\n');
  t.same(
    networkdFindings(facts({ config: cfg, processes: running, files })).map((f) => f.what),
    ['systemd-networkd runs with ManageForeignRoutingPolicyRules=yes'],
    '/etc masks /usr/lib by name',
  );
  t.same(
    networkdFindings(facts({ config: config(''), processes: running })).map((f) => f.what),
    ['systemd-networkd runs with ManageForeignRoutingPolicyRules=yes'],
    'no routes in the file: only the rules (the CNI keeps those)',
  );
});

t.test('firewalld FlushAllOnReload and FirewallBackend; nftables.service flush ruleset', async (t) => {
  const conf = '# firewalld config file\nDefaultZone=public\nFlushAllOnReload=yes\nFirewallBackend=iptables\n';
  const files = new Map([['/etc/firewalld/firewalld.conf', conf]]);
  t.same(firewallFindings(facts({ files })), [], 'firewalld neither running nor enabled');
  const on = firewallFindings(facts({ files, enabled: new Set(['firewalld.service']) }));
  t.same(
    on.map((f) => [f.severity, f.where, f.what]),
    [
      ['warning', '/etc/firewalld/firewalld.conf:3', 'firewalld FlushAllOnReload=yes'],
      ['warning', '/etc/firewalld/firewalld.conf:4', 'firewalld FirewallBackend=iptables'],
    ],
  );
  files.set('/etc/firewalld/firewalld.conf', 'FlushAllOnReload=no\nFirewallBackend=nftables\n');
  t.same(firewallFindings(facts({ files, processes: [proc(7, 'firewalld')] })), [], 'no and nftables: nothing');

  const nft = '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n';
  const nfiles = new Map([['/etc/nftables.conf', nft]]);
  t.same(firewallFindings(facts({ files: nfiles })), [], 'nftables.service not enabled');
  t.same(
    firewallFindings(facts({ files: nfiles, enabled: new Set(['nftables.service']) })).map((f) => f.where),
    ['/etc/nftables.conf:3'],
    'enabled: the line',
  );
  nfiles.set('/etc/nftables.conf', '#!/usr/sbin/nft -f\n# flush ruleset\ndestroy table inet filter\n');
  t.same(
    firewallFindings(facts({ files: nfiles, enabled: new Set(['nftables.service']) })),
    [],
    'a comment is not a flush',
  );
});

t.test("a foreign nft base chain and an INPUT that drop island's traffic: errors, the fix apart", async (t) => {
  const cfg = config(GATEWAY);
  const want = desiredFirewall(cfg);
  const ruleset: NftRuleset = {
    tables: [
      {
        family: 'inet',
        name: 'filter',
        chains: new Map([['input', { name: 'input', rules: [], policy: 'drop' }]]),
        base: [{ family: 'inet', table: 'filter', chain: 'input', hook: 'input', priority: 0, policy: 'drop' }],
      },
    ],
  };
  const table = filterTable('*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  const live: LiveFirewall = {
    backend: 'nft',
    why: 'test',
    tables: { 4: { ok: true, chains: table } },
    nft: { ok: true, ruleset },
  };
  const found = firewallFindings(facts({ config: cfg, firewall: { status: planFirewall(want, live).status, live } }));
  t.same(
    found.map((f) => [f.severity, f.where]).sort(),
    [
      ['error', 'firewall ipv4 INPUT'],
      ['error', 'nftables inet filter chain input'],
    ],
    'both, as errors',
  );
  for (const f of found) {
    t.notMatch(
      f.why,
      /accept island's traffic first|with a \[forward\] section/,
      `${f.where}: the cause, without the fix`,
    );
    t.match(f.fix, /nft 'insert rule inet filter input|\[forward\] section/, `${f.where}: the fix, on its own`);
  }
  const accepting = {
    ...live,
    tables: { 4: { ok: true as const, chains: filterTable('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n') } },
    nft: { ok: true as const, ruleset: { tables: [] } },
  };
  t.same(
    firewallFindings(
      facts({ config: cfg, firewall: { status: planFirewall(want, accepting).status, live: accepting } }),
    ),
    [],
    'nothing drops: nothing',
  );
});

t.test("docker's FORWARD DROP without [forward] accepting the island's links", async (t) => {
  const cfg = config(GATEWAY);
  const docker = filterTable(
    '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\n' +
      '-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j DOCKER\n-A DOCKER-USER -j RETURN\nCOMMIT\n',
  );
  const live: LiveFirewall = { backend: 'nft', why: 'test', tables: { 4: { ok: true, chains: docker } } };
  const f = firewallFindings(facts({ config: cfg, firewall: { status: [], live } }));
  t.same(
    f.map((x) => [x.severity, x.where, x.what]),
    [['error', 'iptables-nft FORWARD (policy DROP)', 'docker set FORWARD to drop']],
  );
  t.match(f[0]?.fix, /\[forward\] accept = \["vx0"\].*iptables -I DOCKER-USER -i vx0 -j ACCEPT/);
  t.same(
    firewallFindings(facts({ config: cfg, firewall: { status: [], live }, sysctl: { 'net.ipv4.ip_forward': '0' } })),
    [],
    'a host that does not forward: nothing',
  );
  const accepted = config(`${GATEWAY}\n[forward]\naccept = ["vx0"]\n`);
  t.same(firewallFindings(facts({ config: accepted, firewall: { status: [], live } })), [], '[forward] accepts vx0');
});

t.test('rp_filter 1 where a route through the tunnel covers the far gateway', async (t) => {
  const cfg = config(GATEWAY);
  const strict = (over: Record<string, string>) =>
    rpFilterFindings(facts({ config: cfg, sysctl: { ...facts().sysctl, ...over } }));
  const f = strict({ 'net.ipv4.conf.eth0.rp_filter': '1' });
  t.same(
    f.map((x) => [x.severity, x.where, x.what]),
    [['error', 'net.ipv4.conf.eth0.rp_filter = 1', 'strict reverse-path filtering on eth0']],
  );
  t.match(
    f[0]?.why,
    /vx0's outer packets from 198\.51\.100\.50 arrive on eth0, but the route back to 198\.51\.100\.50 is 198\.51\.100\.0\/24 dev vx0/,
  );
  t.match(f[0]?.fix, /"net\.ipv4\.conf\.eth0\.rp_filter" = 2/);
  t.same(strict({ 'net.ipv4.conf.eth0.rp_filter': '2' }), [], 'loose: nothing');
  // the kernel takes the larger of all and the link's
  const allLoose = { 'net.ipv4.conf.all.rp_filter': '2', 'net.ipv4.conf.eth0.rp_filter': '1' };
  t.same(strict(allLoose), [], 'all = 2 makes every link loose, eth0 = 1 too: nothing');
  t.notOk(strictSomewhere({ ...facts().sysctl, ...allLoose }, cfg), 'and no route needs reading for it');
  const fileStrict = config(`${GATEWAY}\n[sysctl]\n"net.ipv4.conf.all.rp_filter" = 0\n`);
  t.ok(strictSomewhere({ ...facts().sysctl, ...allLoose }, fileStrict), "unless the file's [sysctl] sets all lower");
  t.same(
    strict({ 'net.ipv4.conf.all.rp_filter': '1' }).map((x) => x.where),
    ['net.ipv4.conf.all.rp_filter = 1'],
    'all = 1 makes every link strict',
  );
  const files = new Map([
    ['/usr/lib/sysctl.d/50-default.conf', 'net.ipv4.conf.*.rp_filter = 2\n'],
    ['/etc/sysctl.d/99-lab.conf', '# lab\nnet.ipv4.conf.eth0.rp_filter=1\n'],
  ]);
  t.same(
    rpFilterFindings(
      facts({ config: cfg, files, sysctl: { ...facts().sysctl, 'net.ipv4.conf.eth0.rp_filter': '1' } }),
    ).map((x) => x.where),
    ['net.ipv4.conf.eth0.rp_filter = 1 (set by /etc/sysctl.d/99-lab.conf:2)'],
    'and the file that sets it at boot',
  );
  const kept = config(`${GATEWAY}\n[sysctl]\n"net.ipv4.conf.eth0.rp_filter" = 2\n`);
  t.same(
    rpFilterFindings(facts({ config: kept, sysctl: { ...facts().sysctl, 'net.ipv4.conf.eth0.rp_filter': '1' } })),
    [],
    "the file's [sysctl] keeps it loose: nothing",
  );
  const noCover = config(
    GATEWAY.replace('198.51.100.0/24', '198.51.100.0/26').replace('198.51.100.50', '198.51.100.70'),
  );
  t.same(
    rpFilterFindings(facts({ config: noCover, sysctl: { ...facts().sysctl, 'net.ipv4.conf.eth0.rp_filter': '1' } })),
    [],
    'no route of the island covers the remote: symmetric, nothing',
  );

  // on the tunnel: traffic from a network island routes through it, whose way back is elsewhere
  const routed = config(`${GATEWAY}\n[[route]]\nto = "10.99.0.0/16"\nvia = "10.3.1.2"\n`);
  const links = [...facts().links, { ifindex: 7, name: 'vx0', kind: 'vxlan', owned: true }];
  const aside = [
    ...facts().routes,
    {
      family: 4 as const,
      dst: '10.99.0.0',
      dstLen: 24,
      table: 254,
      protocol: 3,
      type: 1,
      gateway: '192.0.2.254',
      oif: 2,
    },
  ];
  const onTunnel = (over: Record<string, string>, routes = aside) =>
    rpFilterFindings(facts({ config: routed, links, routes, sysctl: { ...facts().sysctl, ...over } }));
  const v = onTunnel({ 'net.ipv4.conf.vx0.rp_filter': '1' });
  t.same(
    v.map((x) => [x.severity, x.where, x.what]),
    [['error', 'net.ipv4.conf.vx0.rp_filter = 1', 'strict reverse-path filtering on vx0']],
  );
  t.match(
    v[0]?.why,
    /traffic from 10\.99\.0\.0\/16 arrive on vx0, but the route back to 10\.99\.0\.0 is 10\.99\.0\.0\/24 dev eth0/,
  );
  t.match(v[0]?.fix, /"net\.ipv4\.conf\.vx0\.rp_filter" = 2/);
  t.same(onTunnel({ 'net.ipv4.conf.vx0.rp_filter': '2' }), [], 'loose on the tunnel: nothing');
  t.same(onTunnel({ 'net.ipv4.conf.vx0.rp_filter': '1' }, facts().routes), [], 'no way back elsewhere: nothing');
});

t.test('NetworkManager managing a link island keeps, or its underlay', async (t) => {
  const cfg = config(GATEWAY);
  const links = [...facts().links, { ifindex: 7, name: 'vx0', kind: 'vxlan', owned: true }];
  const nm = [proc(500, 'NetworkManager', '/usr/sbin/NetworkManager', '--no-daemon')];
  const files = new Map([
    ['/run/NetworkManager/devices/2', '[device]\nmanaged=true\nconnection-uuid=1b0c\n'],
    ['/run/NetworkManager/devices/7', '[device]\nmanaged=false\n'],
  ]);
  t.same(networkManagerFindings(facts({ config: cfg, links, files })), [], 'NetworkManager not running');
  const f = networkManagerFindings(facts({ config: cfg, links, files, processes: nm }));
  t.same(
    f.map((x) => [x.severity, x.where, x.what]),
    [['warning', '/run/NetworkManager/devices/2:2 (eth0)', "NetworkManager manages vx0's underlay"]],
  );
  t.match(f[0]?.why, /and may move the address vx0 is bound to off eth0$/, 'the tunnel by its name');
  files.set('/run/NetworkManager/devices/7', '[device]\nmanaged=true\nnm-owned=false\n');
  t.same(
    networkManagerFindings(facts({ config: cfg, links, files, processes: nm })).map((x) => x.what),
    ['NetworkManager manages a link island keeps (vx0)', "NetworkManager manages vx0's underlay"],
  );
  files.set('/run/NetworkManager/devices/2', '[device]\nmanaged=false\n');
  files.set('/run/NetworkManager/devices/7', '[device]\nmanaged=false\n');
  t.same(networkManagerFindings(facts({ config: cfg, links, files, processes: nm })), [], 'both unmanaged');
});

t.test('a second island daemon; a lock held by something else', async (t) => {
  const a = proc(100, 'node', '/usr/bin/node', '/usr/lib/island/dist/cli.cjs', 'daemon');
  const b = proc(200, 'node', 'node', '/home/me/island/dist/cli.js', '-c', '/tmp/x.toml', 'daemon');
  const status = proc(300, 'node', 'node', '/home/me/island/dist/cli.js', 'status');
  t.ok(isIslandDaemon(a) && isIslandDaemon(b), 'the package and a clone');
  t.notOk(isIslandDaemon(status), 'island status is no daemon');
  t.notOk(isIslandDaemon(proc(5, 'sleep', 'sleep', 'daemon')), 'nor anything with "daemon" in it');
  t.same(daemonFindings(facts({ processes: [a], lock: { held: true, holder: { pid: 100 } } })), [], 'one daemon');
  const two = daemonFindings(facts({ processes: [a, b, status], lock: { held: true, holder: { pid: 100 } } }));
  t.same(
    two.map((x) => [x.severity, x.where, x.what]),
    [['error', 'pids 100, 200 (100 holds the lock @island/daemon)', '2 island daemons in this network namespace']],
  );
  t.match(two[0]?.fix, /stop 200/);
  t.same(
    daemonFindings(facts({ lock: { held: true } })).map((x) => [x.severity, x.where]),
    [['error', 'abstract unix socket @island/daemon']],
    'a squatter',
  );
  t.same(
    daemonFindings(facts({ processes: [proc(1000, 'node', 'node', 'dist/cli.js', 'daemon')] })),
    [],
    'itself never counts',
  );
});

t.test('the end behind a NAT: keepalive, and TX checksum offload of a VXLAN across it', async (t) => {
  const perHost = (extra: string) =>
    config(
      `[[tunnel]]\nname = "vx0"\nkind = "vxlan"\nvni = 42\nlocal = "192.168.3.100"\nremote = "198.18.0.50"\nport = 5533\naddresses = ["10.3.1.2/30"]\n${extra}`,
    );
  const none = natFindings(facts({ config: perHost('') }));
  t.same(
    none.map((x) => [x.severity, x.family, x.where]),
    [['warning', 'keepalive', '/etc/island.toml [[tunnel]] vx0']],
    'a private local and a public remote: probably behind a NAT, a warning',
  );
  t.same(natFindings(facts({ config: perHost('keepalive = "25s"\n') })), [], 'with keepalive: nothing');
  const tx = natFindings(facts({ config: perHost('keepalive = "25s"\ntx_checksum_offload = true\n') }));
  t.same(
    tx.map((x) => [x.severity, x.family]),
    [['error', 'tx-checksum']],
    'offload left on across a NAT: TCP dies',
  );
  t.match(tx[0]?.where, /tx-checksumming on when created/);
  t.same(
    natFindings(
      facts({
        config: perHost('keepalive = "25s"\ntx_checksum_offload = true\n'),
        txChecksum: new Map([['vx0', false]]),
      }),
    ).map((x) => x.severity),
    ['warning'],
    'off now by hand: a warning (it comes back with the link)',
  );

  // the one-file lab: faraday is behind the NAT by the file's own word
  const lab = `
[[site]]
name = "sopnode"
subnet = "198.51.100.0/24"
gateway = "sopnode-l1"
[[site]]
name = "r2lab"
subnet = "192.168.3.0/24"
gateway = "faraday"
[[host]]
name = "sopnode-l1"
address = "198.51.100.50"
[[host]]
name = "faraday"
address = "192.168.3.100"
public = "203.0.113.2"
[[tunnel]]
name = "vx0"
kind = "vxlan"
ends = { sopnode = "10.3.1.2/24", r2lab = "10.3.1.3/24" }
vni = 42
port = 5533
source_port = 5533
`;
  t.same(natFindings(facts({ config: config(lab, 'faraday') })), [], 'faraday keeps the mapping open by default');
  t.same(
    natFindings(
      facts({
        config: config(
          lab.replace('source_port = 5533', 'source_port = 5533\ntx_checksum_offload = true'),
          'sopnode-l1',
        ),
      }),
    ).map((x) => [x.severity, x.family]),
    [['error', 'tx-checksum']],
    'the public end crosses the NAT too',
  );
});

t.test('one line per finding, errors first', async (t) => {
  const cfg = config(GATEWAY);
  const f = diagnose(
    facts({
      config: cfg,
      processes: [proc(300, 'systemd-network')],
      sysctl: { ...facts().sysctl, 'net.ipv4.conf.all.rp_filter': '1' },
    }),
  );
  t.same(
    f.map((x) => x.severity),
    ['error', 'warning', 'warning'],
  );
  const line = formatFinding(f[0] as (typeof f)[0]);
  t.match(line, /^net\.ipv4\.conf\.all\.rp_filter = 1: error: strict reverse-path filtering on eth0: .*; fix: /);
  t.notMatch(line, /\n/, 'one line');
  t.match(formatFinding(f[0] as (typeof f)[0], 'warning'), /: warning: strict/, "island check's form");
  t.same(diagnose(facts({ config: cfg })), [], 'a quiet host: nothing');
});

t.test('[daemon] rcu_expedited that cannot take effect: rcu_normal wins, or the file is read-only', async (t) => {
  const cfg = config(`${GATEWAY}\n[daemon]\nrcu_expedited = true\n`);
  const rcu = (r: DoctorFacts['rcu']) =>
    diagnose(facts({ config: cfg, ...(r ? { rcu: r } : {}) })).map((x) => formatFinding(x));
  t.same(rcu({ normal: '0' }), [], 'writable, rcu_normal 0: nothing');
  t.match(rcu({ normal: '1' }), [
    /^\/etc\/island\.toml \[daemon\] rcu_expedited: warning: \/sys\/kernel\/rcu_normal is 1, which turns every expedited grace period into a normal one: the key has no effect: .*; fix: .*remove the key; otherwise echo 0 > \/sys\/kernel\/rcu_normal/,
  ]);
  t.match(rcu({ normal: '0', unwritable: 'EROFS: read-only file system' }), [
    /^\/etc\/island\.toml \[daemon\] rcu_expedited: warning: the daemon cannot set \/sys\/kernel\/rcu_expedited \(EROFS: read-only file system\): .*; fix: set it where the kernel is/,
  ]);
  const without = config(GATEWAY);
  t.same(
    diagnose(facts({ config: without, rcu: { normal: '1' } })),
    [],
    'the key not set: rcu_normal is none of island’s business',
  );
});
