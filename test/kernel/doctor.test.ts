/**
 * `island doctor` on a real kernel: each check's condition built in a namespace (and its files
 * laid over /etc and /run in a private mount namespace of the command: runIsland's `files`),
 * the finding asserted, then its absence once the condition is gone. Programs this machine does
 * not run (systemd-networkd, firewalld, NetworkManager, an older island daemon) are stand-ins:
 * a process of that name in the namespace, which is all the checks look for besides the files.
 * `island check` runs the same checks as warnings on the host whose file it is, not with --host
 * naming another.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { CLI, REPO, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type Netns, netns, ufw } from '../helpers/netns.js';
import { privateMounts } from '../helpers/spawn.mjs';

const LAB_TOML = join(REPO, 'etc', 'examples', 'lab.toml');

/** A host with eth0 at `address` (a veth whose peer stays in the namespace) and a default route. */
async function host(t: Test, prefix: string, address = '192.0.2.1/24', gateway = '192.0.2.254'): Promise<Netns> {
  const ns = await netns(t, prefix);
  await ns.run(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p']);
  await ns.run(['ip', 'addr', 'add', address, 'dev', 'eth0']);
  for (const l of ['eth0', 'eth0p']) await ns.run(['ip', 'link', 'set', l, 'up']);
  await ns.run(['ip', 'route', 'add', 'default', 'via', gateway]);
  return ns;
}

/** A process named `name` in the namespace (a copy of sleep: /proc/PID/comm is its name), gone at teardown. */
async function standIn(t: Test, ns: Netns, name: string, argv: string[] = ['600']): Promise<ChildProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'island-standin-'));
  const bin = join(dir, name);
  await copyFile('/bin/sleep', bin);
  await chmod(bin, 0o755);
  const c = spawn('ip', ['netns', 'exec', ns.name, bin, ...argv], { stdio: 'ignore' });
  t.teardown(async () => {
    c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  // until it runs under its own name
  for (let i = 0; i < 100; i++) {
    const r = await ns.exec(['pgrep', '-x', name.slice(0, 15)]);
    if (r.code === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return c;
}

/** A gateway's file: a vxlan to 198.51.100.50 and a route through it that covers that address. */
const GATEWAY = (extra = '') => `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.0.2.1"
remote = "198.51.100.50"
port = 5533
addresses = ["10.3.1.1/30"]
keepalive = "25s"

[[route]]
to = "198.51.100.0/24"
via = "10.3.1.2"
${extra}`;

interface Doctor {
  code: number;
  lines: string[];
  out: string;
}

async function doctor(ns: Netns, path: string, files?: Record<string, string>, args: string[] = []): Promise<Doctor> {
  const r = await runIsland(ns, ['doctor', '-c', path, ...args], files ? { files } : {});
  return { code: r.code, lines: r.stdout.split('\n').filter(Boolean), out: `${r.stdout}${r.stderr}` };
}

/** the findings (not the notes, not the summary) that match */
const has = (d: Doctor, re: RegExp) => d.lines.filter((l) => /: (error|warning): /.test(l) && re.test(l));

t.test('systemd-networkd with ManageForeignRoutes on (file:line), then off in a drop-in', async (t) => {
  const ns = await host(t, 'docnd');
  const path = await writeConfig(t, GATEWAY());
  const files = { '/etc/systemd/networkd.conf': '[Network]\nManageForeignRoutes=yes\n' };
  t.same(has(await doctor(ns, path, files), /networkd/), [], 'no systemd-networkd in this namespace: nothing');
  await standIn(t, ns, 'systemd-networkd');
  const d = await doctor(ns, path, files);
  t.equal(d.code, 0, 'warnings only: exit 0');
  t.match(
    has(d, /networkd/),
    [
      /^\/etc\/systemd\/networkd\.conf:2: warning: systemd-networkd runs with ManageForeignRoutes=yes: .*island's 1 route\(s\) vanish.*; fix: ManageForeignRoutes=no/,
      /^\/etc\/systemd\/networkd\.conf \(ManageForeignRoutingPolicyRules unset: yes by default\): warning: /,
    ],
    d.out,
  );
  const off = await doctor(ns, path, {
    ...files,
    '/etc/systemd/networkd.conf.d/island.conf':
      '[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n',
  });
  t.same(has(off, /networkd/), [], 'both off in a drop-in: nothing');
  t.match(off.lines.at(-1), /^island doctor: nothing known to fight the island here/, off.out);
});

t.test('firewalld FlushAllOnReload=yes; nftables.service whose file flushes the ruleset', async (t) => {
  const ns = await host(t, 'docfw');
  const path = await writeConfig(t, GATEWAY());
  const conf = '# firewalld.conf\nDefaultZone=public\nFlushAllOnReload=yes\n';
  t.same(has(await doctor(ns, path, { '/etc/firewalld/firewalld.conf': conf }), /firewalld/), [], 'not running');
  await standIn(t, ns, 'firewalld');
  const d = await doctor(ns, path, { '/etc/firewalld/firewalld.conf': conf });
  t.match(
    has(d, /firewalld/),
    [/^\/etc\/firewalld\/firewalld\.conf:3: warning: firewalld FlushAllOnReload=yes: /],
    d.out,
  );
  const no = await doctor(ns, path, { '/etc/firewalld/firewalld.conf': conf.replace('=yes', '=no') });
  t.same(has(no, /firewalld/), [], 'FlushAllOnReload=no: nothing');

  const enabled = { '/etc/systemd/system/sysinit.target.wants/nftables.service': '' };
  const flush = '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n';
  const n = await doctor(ns, path, { ...enabled, '/etc/nftables.conf': flush });
  t.match(
    has(n, /nftables\.service/),
    [/^\/etc\/nftables\.conf:3: warning: nftables\.service is enabled and its ruleset runs `flush ruleset`: /],
    n.out,
  );
  const kept = await doctor(ns, path, {
    ...enabled,
    '/etc/nftables.conf': flush.replace('flush ruleset', 'destroy table inet filter'),
  });
  t.same(has(kept, /nftables\.service/), [], 'a file that destroys only its own table: nothing');
});

t.test(
  "another nftables table's input or forward chain with policy drop; INPUT policy DROP without island's accepts",
  async (t) => {
    const ns = await host(t, 'docnft');
    const path = await writeConfig(t, GATEWAY());
    await ns.run(['nft', 'add table inet filter']);
    await ns.run(['nft', 'add chain inet filter input { type filter hook input priority 0; policy drop; }']);
    const d = await doctor(ns, path);
    t.equal(d.code, 1, 'an error: exit 1');
    t.match(
      has(d, /^nftables /),
      [
        /^nftables inet filter chain input: error: a firewall drops island's traffic: hook input, policy drop: drops vx0's packets \(udp 5533 from 198\.51\.100\.50\), vx0's health probes \(udp 5534 from 10\.3\.1\.2\) \(policy drop\).*; fix: accept island's traffic first in that chain \(nft 'insert rule inet filter input ip saddr 198\.51\.100\.50\/32 udp dport 5533 accept'; nft 'insert rule inet filter input iifname "vx0" ip saddr 10\.3\.1\.2\/32 udp dport 5534 accept'\), or set its policy to accept$/,
      ],
      d.out,
    );
    await ns.run(['nft', 'add chain inet filter input { policy accept; }']);
    t.same(has(await doctor(ns, path), /^nftables /), [], 'policy accept: nothing');

    // the forward hook: island's ISLAND-FORWARD accepts in iptables cannot override it
    const accepting = await writeConfig(t, GATEWAY('[forward]\naccept = ["vx0"]\n'));
    await ns.run(['nft', 'add chain inet filter forward { type filter hook forward priority 0; policy drop; }']);
    const fw = await doctor(ns, accepting);
    t.equal(fw.code, 1, 'forward hook: exit 1');
    t.match(
      has(fw, /^nftables /),
      [
        /^nftables inet filter chain forward: error: a firewall drops island's traffic: hook forward, policy drop: drops forwarded traffic in vx0, out vx0.*; fix: .*nft 'insert rule inet filter forward .*accept'/,
      ],
      fw.out,
    );
    await ns.run(['nft', 'add chain inet filter forward { policy accept; }']);
    t.same(has(await doctor(ns, accepting), /^nftables /), [], 'forward policy accept: nothing');
    await ns.run(['nft', 'delete table inet filter']);

    // iptables' INPUT, where the file keeps no [forward] (so no ISLAND-INPUT)
    await ns.run(['iptables', '-P', 'INPUT', 'DROP']);
    const i = await doctor(ns, path);
    t.match(
      has(i, /INPUT/),
      [
        /^firewall ipv4 INPUT: error: .*iptables-nft INPUT drops vx0's packets .*policy DROP.*; fix: with a \[forward\] section/,
      ],
      i.out,
    );
    t.same(has(await doctor(ns, accepting), /INPUT/), [], 'with [forward], island keeps ISLAND-INPUT first: nothing');
  },
);

t.test("ufw enable: its INPUT drops the tunnel's port until ufw allows it", async (t) => {
  const ns = await host(t, 'docufw');
  const path = await writeConfig(t, GATEWAY());
  const run = await ufw(t, ns);
  await run('--force', 'enable');
  t.match(await ns.run(['iptables', '-S', 'INPUT']), /^-P INPUT DROP$/m, 'ufw: INPUT policy DROP');
  const d = await doctor(ns, path);
  t.equal(d.code, 1, 'exit 1');
  t.match(
    has(d, /INPUT/),
    [
      /^firewall ipv4 INPUT: error: a firewall drops island's traffic: iptables-nft INPUT drops vx0's packets \(udp 5533 from 198\.51\.100\.50\).*; fix: with a \[forward\] section/,
    ],
    d.out,
  );
  await run('allow', '5533/udp');
  t.same(has(await doctor(ns, path), /INPUT/), [], 'ufw allow 5533/udp: nothing');
});

t.test("docker's FORWARD DROP where [forward] does not accept the tunnel", async (t) => {
  const ns = await host(t, 'docdk');
  await ns.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  for (const c of ['DOCKER', 'DOCKER-USER']) await ns.run(['iptables', '-N', c]);
  await ns.run(['iptables', '-A', 'FORWARD', '-j', 'DOCKER-USER']);
  await ns.run(['iptables', '-A', 'DOCKER-USER', '-j', 'RETURN']);
  await ns.run(['iptables', '-P', 'FORWARD', 'DROP']);
  const path = await writeConfig(t, GATEWAY());
  const d = await doctor(ns, path);
  t.equal(d.code, 1, 'exit 1');
  t.match(
    has(d, /FORWARD/),
    [
      /^iptables-nft FORWARD \(policy DROP\): error: docker set FORWARD to drop: .*in vx0, out vx0 is dropped.*; fix: \[forward\] accept = \["vx0"\].*DOCKER-USER/,
    ],
    d.out,
  );
  const fwd = await writeConfig(t, GATEWAY('[forward]\naccept = ["vx0"]\n'));
  t.same(has(await doctor(ns, fwd), /FORWARD/), [], '[forward] accepts vx0: nothing');
});

t.test('rp_filter 1 on the underlay of a one-file gateway; island check warns on this host only', async (t) => {
  // faraday of etc/examples/lab.toml: its route to sopnode covers sopnode-l1's own address
  const ns = await host(t, 'docrp', '192.168.3.100/24', '192.168.3.1');
  // a copy: check refuses a file others may write, whatever umask the clone was made with
  const LAB = await writeConfig(t, await readFile(LAB_TOML, 'utf8'));
  await ns.run(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=1']);
  const d = await doctor(ns, LAB);
  t.equal(d.code, 1, 'exit 1');
  const line =
    /^net\.ipv4\.conf\.eth0\.rp_filter = 1: error: strict reverse-path filtering on eth0: vx0's outer packets from 198\.51\.100\.50 arrive on eth0, but the route back to 198\.51\.100\.50 is 198\.51\.100\.0\/24 dev vx0: the kernel drops them as spoofed; fix: loose mode: "net\.ipv4\.conf\.eth0\.rp_filter" = 2/;
  t.match(has(d, /rp_filter/), [line], d.out);

  const check = await runIsland(ns, ['check', '-c', LAB]);
  t.equal(check.code, 0, 'island check: still valid');
  t.match(check.stdout, /gateway of site r2lab \(address 192\.168\.3\.100\)/);
  t.match(
    check.stderr,
    /^net\.ipv4\.conf\.eth0\.rp_filter = 1: warning: strict reverse-path filtering on eth0: /m,
    'the finding, as a warning',
  );
  const named = await runIsland(ns, ['check', '-c', LAB, '--host', 'faraday']);
  t.match(named.stderr, /rp_filter = 1: warning/, '--host naming this very host: the same');
  const other = await runIsland(ns, ['check', '-c', LAB, '--host', 'sopnode-l1']);
  t.equal(other.code, 0);
  t.notMatch(other.stderr, /rp_filter/, "--host naming another host: not this host's checks");

  await ns.run(['sysctl', '-qw', 'net.ipv4.conf.eth0.rp_filter=2']);
  t.same(has(await doctor(ns, LAB), /rp_filter/), [], 'loose: nothing');
  t.equal((await runIsland(ns, ['check', '-c', LAB])).stderr, '', 'and check says nothing more');
});

t.test('rp_filter 1 on the tunnel, for a network routed through it whose way back is elsewhere', async (t) => {
  const ns = await host(t, 'docrpt');
  const path = await writeConfig(t, GATEWAY('[[route]]\nto = "10.99.0.0/16"\nvia = "10.3.1.2"\n'));
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0, 'island apply builds vx0 and its routes');
  await ns.run(['ip', 'route', 'add', '10.99.0.0/24', 'via', '192.0.2.254']);
  await ns.run(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.vx0.rp_filter=1']);
  const d = await doctor(ns, path);
  t.equal(d.code, 1, 'exit 1');
  t.match(
    has(d, /rp_filter/),
    [
      /^net\.ipv4\.conf\.vx0\.rp_filter = 1: error: strict reverse-path filtering on vx0: traffic from 10\.99\.0\.0\/16 arrive on vx0, but the route back to 10\.99\.0\.0 is 10\.99\.0\.0\/24 dev eth0: .*; fix: loose mode: "net\.ipv4\.conf\.vx0\.rp_filter" = 2/,
    ],
    d.out,
  );
  await ns.run(['sysctl', '-qw', 'net.ipv4.conf.vx0.rp_filter=2']);
  t.same(has(await doctor(ns, path), /rp_filter/), [], 'loose: nothing');
});

t.test(
  'island check loads no netlink where no finding could come of the kernel (issue 14), and does where one could',
  async (t) => {
    const ns = await host(t, 'docnl');
    const path = await writeConfig(t, GATEWAY());
    // a preload that names every module of node-netlink's, as it is loaded
    const dir = await mkdtemp(join(tmpdir(), 'island-loads-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const hook = join(dir, 'hook.cjs');
    await writeFile(
      hook,
      "const M = require('node:module'); const load = M._load;\n" +
        "M._load = function (r, ...a) { if (/netlink/.test(r)) process.stderr.write('loaded ' + r + '\\n'); return load.call(this, r, ...a); };\n",
    );
    const env = { NODE_OPTIONS: `--require=${hook}` };
    const rp = (v: number) => [
      'sysctl',
      '-qw',
      ...['all', 'default', 'eth0'].map((l) => `net.ipv4.conf.${l}.rp_filter=${l === 'eth0' ? v : 0}`),
    ];
    await ns.run(rp(0));
    const quiet = await runIsland(ns, ['check', '-c', path], { env });
    t.equal(quiet.code, 0, quiet.stderr);
    t.notMatch(quiet.stderr, /loaded .*netlink/, 'loose rp_filter, no NetworkManager: no netlink at all');
    // 192.0.2.1 to 198.51.100.50 crosses no NAT: the kernel's offload is no finding's there
    const offload = await writeConfig(
      t,
      GATEWAY().replace('keepalive = "25s"', 'keepalive = "25s"\ntx_checksum_offload = true'),
      'offload.toml',
    );
    const kept = await runIsland(ns, ['check', '-c', offload], { env });
    t.equal(kept.code, 0, kept.stderr);
    t.notMatch(kept.stderr, /loaded .*netlink/, 'TX checksum offload left to the kernel, across no NAT: no netlink');
    // the kernel takes the larger of conf.all and the link's: all = 2 leaves no link strict
    await ns.run([...rp(1), 'net.ipv4.conf.all.rp_filter=2']);
    const loose = await runIsland(ns, ['check', '-c', path], { env });
    t.equal(loose.code, 0, loose.stderr);
    t.notMatch(loose.stderr, /loaded .*netlink/, 'eth0 strict but all loose: no netlink');
    t.same(has(await doctor(ns, path), /rp_filter/), [], 'and doctor finds nothing either');
    await ns.run(rp(1));
    const strict = await runIsland(ns, ['check', '-c', path], { env });
    t.match(strict.stderr, /loaded .*netlink/, 'strict rp_filter on eth0: the routes are read');
    t.match(strict.stderr, /rp_filter = 1: warning: strict reverse-path filtering on eth0/, 'and the finding said');
  },
);

t.test("NetworkManager managing a tunnel's underlay, or a link island keeps", async (t) => {
  const ns = await host(t, 'docnm');
  const path = await writeConfig(t, GATEWAY());
  const [eth0] = await ns.ipJson(['link', 'show', 'eth0']);
  const state = (managed: boolean) => ({
    [`/run/NetworkManager/devices/${eth0.ifindex}`]: `[device]\nmanaged=${managed}\nconnection-uuid=0b7f\n`,
  });
  t.same(has(await doctor(ns, path, state(true)), /NetworkManager/), [], 'NetworkManager not running');
  await standIn(t, ns, 'NetworkManager');
  const d = await doctor(ns, path, state(true));
  t.match(
    has(d, /NetworkManager/),
    [
      new RegExp(
        `^/run/NetworkManager/devices/${eth0.ifindex}:2 \\(eth0\\): warning: NetworkManager manages vx0's underlay: .*; fix: unmanaged-devices=interface-name:eth0`,
      ),
    ],
    d.out,
  );
  t.same(has(await doctor(ns, path, state(false)), /NetworkManager/), [], 'unmanaged: nothing');

  // a link island keeps: vx0, made by island apply, recorded as managed
  t.equal((await runIsland(ns, ['apply', '-c', path])).code, 0, 'island apply builds vx0');
  const [vx0] = await ns.ipJson(['link', 'show', 'vx0']);
  const vx0State = (managed: boolean) => ({
    ...state(false),
    [`/run/NetworkManager/devices/${vx0.ifindex}`]: `[device]\nmanaged=${managed}\n`,
  });
  const own = await doctor(ns, path, vx0State(true));
  t.match(
    has(own, /NetworkManager/),
    [
      new RegExp(
        `^/run/NetworkManager/devices/${vx0.ifindex}:2 \\(vx0\\): warning: NetworkManager manages a link island keeps \\(vx0\\): .*; fix: unmanaged-devices=interface-name:vx0`,
      ),
    ],
    own.out,
  );
  t.same(has(await doctor(ns, path, vx0State(false)), /NetworkManager/), [], 'vx0 unmanaged: nothing');
});

t.test('a second island daemon (an older one, without the lock); a program squatting the lock', async (t) => {
  const ns = await host(t, 'docdm');
  const path = await writeConfig(t, GATEWAY());
  const d = startDaemon(t, ns, path);
  await d.waitForLog((r) => r.msg === 'island daemon running');
  t.same(has(await doctor(ns, path), /daemon/), [], 'one daemon: nothing');
  // what an island from before the lock looks like to ps: node (the doctor reads the command
  // line of node's processes only), running /usr/sbin/island daemon
  const old = spawn(
    'ip',
    ['netns', 'exec', ns.name, process.execPath, '-e', 'setTimeout(() => {}, 600e3)', '/usr/sbin/island', 'daemon'],
    { stdio: 'ignore' },
  );
  t.teardown(() => void old.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const two = await doctor(ns, path);
  t.equal(two.code, 1, 'exit 1');
  t.match(
    has(two, /daemon/),
    [
      new RegExp(
        `^pids .*\\b${d.pid}\\b.* \\(\\d+ holds the lock @island/daemon\\): error: 2 island daemons in this network namespace: `,
      ),
    ],
    two.out,
  );
  old.kill('SIGKILL');
  await d.stop();

  // a program that binds the lock's name and does not answer as island
  const squat = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      process.execPath,
      '-e',
      "require('net').createServer((c) => c.end('hello\\n')).listen('\\0island/daemon')",
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => void squat.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 500));
  const s = await doctor(ns, path);
  t.match(
    has(s, /daemon/),
    [/^abstract unix socket @island\/daemon: error: another program holds the island daemon lock: /],
    s.out,
  );
  squat.kill('SIGKILL');
});

t.test('behind a NAT: no keepalive; TX checksum offload left on across the NAT', async (t) => {
  const ns = await host(t, 'docnat', '192.168.3.100/24', '192.168.3.1');
  const tunnel = (extra: string) => `
[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "192.168.3.100"
remote = "198.18.0.50"
port = 5533
source_port = 5533
addresses = ["10.3.1.2/30"]
${extra}`;
  const none = await doctor(ns, await writeConfig(t, tunnel('')));
  t.match(
    has(none, /keepalive/),
    [
      /\[\[tunnel\]\] vx0: warning: the end behind the NAT sends no keepalive: 192\.168\.3\.100 is private and 198\.18\.0\.50 public/,
    ],
    none.out,
  );
  const kept = await writeConfig(t, tunnel('keepalive = "25s"\n'));
  t.same(has(await doctor(ns, kept), /keepalive/), [], 'with a keepalive: nothing');

  const on = await writeConfig(t, tunnel('keepalive = "25s"\ntx_checksum_offload = true\n'));
  t.equal((await runIsland(ns, ['apply', '-c', on])).code, 0, 'island apply builds vx0, offload as the kernel has it');
  t.match(await ns.run(['ethtool', '-k', 'vx0']), /^tx-checksumming: on/m, 'ethtool -k vx0: tx-checksumming: on');
  const d = await doctor(ns, on);
  t.equal(d.code, 1, 'exit 1');
  t.match(
    has(d, /TX checksum/),
    [
      /\(tx_checksum_offload = true; ethtool -k vx0: tx-checksumming on\): error: TX checksum offload on a VXLAN across a NAT: .*TCP connection times out/,
    ],
    d.out,
  );
  await ns.run(['ethtool', '-K', 'vx0', 'tx', 'off']);
  t.match(has(await doctor(ns, on), /TX checksum/), [/tx-checksumming off now\): warning: /], 'off by hand: a warning');
  t.same(has(await doctor(ns, kept), /TX checksum/), [], 'island keeps it off (the default): nothing');
});

t.test(
  'a busy namespace (41 tunnels): the findings about one of them are all said, none about the others',
  async (t) => {
    const ns = await host(t, 'docbusy', '192.168.3.100/24', '192.168.3.1');
    // 40 tunnels across no NAT, offload left to the kernel, each with a network routed through it;
    // nat0 across one
    const tunnels = Array.from(
      { length: 40 },
      (_, i) => `
[[tunnel]]
name = "vx${i}"
kind = "vxlan"
vni = ${100 + i}
local = "192.168.3.100"
remote = "192.168.3.200"
port = 5533
addresses = ["10.40.${i}.1/30"]
tx_checksum_offload = true

[[route]]
to = "172.16.${i}.0/24"
via = "10.40.${i}.2"
`,
    );
    const path = await writeConfig(
      t,
      `${tunnels.join('')}
[[tunnel]]
name = "nat0"
kind = "vxlan"
vni = 42
local = "192.168.3.100"
remote = "198.18.0.50"
port = 5535
addresses = ["10.41.0.1/30"]
keepalive = "25s"
tx_checksum_offload = true
`,
    );
    const apply = await runIsland(ns, ['apply', '-c', path]);
    t.equal(apply.code, 0, `island apply builds the 41 tunnels ${apply.stderr}`);
    const links = await ns.ipJson(['link', 'show', 'type', 'vxlan']);
    t.equal(links.length, 41, 'ip -j link show type vxlan: 41');
    // traffic from 172.16.17.0/24 arrives on vx17, and its way back is a foreign route on eth0
    await ns.run(['ip', 'route', 'add', '172.16.17.0/25', 'via', '192.168.3.1']);
    await ns.run(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.vx17.rp_filter=1']);
    await ns.run(['ethtool', '-K', 'nat0', 'tx', 'off']);
    const d = await doctor(ns, path);
    t.equal(d.code, 1, 'exit 1');
    t.match(
      has(d, /rp_filter|TX checksum/),
      [
        /^net\.ipv4\.conf\.vx17\.rp_filter = 1: error: strict reverse-path filtering on vx17: traffic from 172\.16\.17\.0\/24 arrive on vx17, but the route back to 172\.16\.17\.0 is 172\.16\.17\.0\/25 dev eth0/,
        /\[\[tunnel\]\] nat0 \(tx_checksum_offload = true; ethtool -k nat0: tx-checksumming off now\): warning: TX checksum offload on a VXLAN across a NAT/,
      ],
      d.out,
    );
    t.equal(has(d, /rp_filter|TX checksum/).length, 2, 'and nothing about the 40 others');
    const check = await runIsland(ns, ['check', '-c', path]);
    t.equal(check.code, 0, check.stderr);
    t.match(
      check.stderr.split('\n').filter((l) => /rp_filter|TX checksum/.test(l)),
      [
        /^net\.ipv4\.conf\.vx17\.rp_filter = 1: warning: strict reverse-path filtering on vx17: /,
        /nat0 \(tx_checksum_offload = true; ethtool -k nat0: tx-checksumming off now\): warning: /,
      ],
      'island check: the same two, as warnings',
    );
    await ns.run(['ethtool', '-K', 'nat0', 'tx', 'on']);
    await ns.run(['sysctl', '-qw', 'net.ipv4.conf.vx17.rp_filter=2']);
    t.match(
      has(await doctor(ns, path), /rp_filter|TX checksum/),
      [/nat0 \(tx_checksum_offload = true; ethtool -k nat0: tx-checksumming on\): error: /],
      'loose vx17, offload back on nat0: only nat0, as an error',
    );
  },
);

t.test(
  '[daemon] rcu_expedited on a read-only /sys (a container): check and doctor say the daemon cannot set it',
  async (t) => {
    const ns = await host(t, 'docrcu');
    const path = await writeConfig(t, `${GATEWAY()}\n[daemon]\nrcu_expedited = true\n`);
    t.same(has(await doctor(ns, path), /rcu_expedited/), [], 'this host: writable, rcu_normal 0: nothing');
    // /sys read-only for the command alone: a remount of its own mount namespace's bind, as a container has it
    const readOnly = (cmd: string) =>
      ns.exec(
        privateMounts('mount -o remount,bind,ro /sys && exec "$@"', 'sh', process.execPath, CLI, cmd, '-c', path),
      );
    const warning = new RegExp(
      `^${path.replaceAll('/', '\\/')} \\[daemon\\] rcu_expedited: warning: the daemon cannot set /sys/kernel/rcu_expedited \\(EROFS: read-only file system\\): .*; fix: `,
    );
    const d = await readOnly('doctor');
    t.match(
      d.stdout.split('\n').filter((l) => /rcu_expedited/.test(l)),
      [warning],
      `${d.stdout}${d.stderr}`,
    );
    const c = await readOnly('check');
    t.equal(c.code, 0, 'a warning: check still passes the file');
    t.match(
      `${c.stdout}${c.stderr}`.split('\n').filter((l) => /rcu_expedited/.test(l)),
      [warning],
      `${c.stdout}${c.stderr}`,
    );
  },
);
