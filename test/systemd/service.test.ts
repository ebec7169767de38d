/**
 * island.service under a real systemd: a Debian 12 container (systemd 252, Debian's own
 * nodejs 18) booted with systemd-nspawn and a private network, island installed from this
 * tree the way the package lays it out, and a stand-in kubelet.service.
 *
 * One container, one boot for the sequence below (each step leaves the service as the next one
 * expects it), then a reboot of the same container at the end.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import t from 'tap';
import { type Container, container } from '../helpers/container.js';
import { REPO } from '../helpers/island.js';
import { mustRun } from '../helpers/netns.js';

// a cold cache builds the Debian root first (~1 min); the sequence itself takes ~1 min
t.setTimeout(600_000);

const CONFIG = (addr: string) => `# the underlay is a bridge island makes itself: the private network has only lo
[[bridge]]
name = "br-lab"
addresses = ["10.99.0.1/24"]

[[tunnel]]
name = "vx0"
kind = "vxlan"
vni = 42
local = "10.99.0.1"
remote = "10.99.0.2"
dev = "br-lab"
port = 4789
addresses = ["${addr}"]

[sysctl]
"net.ipv4.ip_forward" = 1
`;
/** line 9 holds `vni = 42` */
const VNI_LINE = CONFIG('x').split('\n').indexOf('vni = 42') + 1;

// kubelet is slow to start on purpose: island starting after it shows in the journal
const KUBELET = `[Unit]
Description=stand-in kubelet (test)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 1

[Install]
WantedBy=multi-user.target
`;

const MSG_STARTING = '7d4958e842da4a758f6c1cdc7b36dcc5';
const MSG_STARTED = '39f53479d3a045ac8e11786248231fbf';

async function prepare(root: string): Promise<void> {
  await mustRun(['bash', join(REPO, 'test', 'systemd', 'install.sh'), root, REPO], { timeoutMs: 120_000 });
  await writeFile(join(root, 'etc/island.toml'), CONFIG('10.30.30.1/30'), { mode: 0o644 });
  await writeFile(join(root, 'etc/systemd/system/kubelet.service'), KUBELET, { mode: 0o644 });
  await mustRun([
    'ln',
    '-sf',
    '/etc/systemd/system/kubelet.service',
    join(root, 'etc/systemd/system/multi-user.target.wants/kubelet.service'),
  ]);
  await mustRun([
    'install',
    '-D',
    '-m',
    '0755',
    join(REPO, 'test', 'systemd', 'probe.pl'),
    join(root, 'usr/local/lib/island-probe.pl'),
  ]);
}

async function show(c: Container, props: string[], unit?: string): Promise<Record<string, string>> {
  const out = await c.run(['systemctl', 'show', ...props.flatMap((p) => ['-p', p]), ...(unit ? [unit] : [])]);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
async function link(c: Container, name: string): Promise<any | undefined> {
  const r = await c.exec(['ip', '-d', '-j', 'addr', 'show', 'dev', name]);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout)[0];
}

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
const v4 = (l: any): string[] =>
  // biome-ignore lint/suspicious/noExplicitAny: ip's JSON
  (l?.addr_info ?? []).filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface JournalEntry {
  MESSAGE?: string;
  MESSAGE_ID?: string;
  UNIT?: string;
  PRIORITY?: string;
  __MONOTONIC_TIMESTAMP: string;
  [k: string]: unknown;
}
async function journal(c: Container, args: string[]): Promise<JournalEntry[]> {
  const out = await c.run(['journalctl', '--no-pager', '-o', 'json', ...args]);
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JournalEntry);
}
async function cursor(c: Container): Promise<string> {
  const out = await c.run(['journalctl', '-n', '0', '--show-cursor', '--no-pager']);
  return /-- cursor: (.*)/.exec(out)?.[1] ?? '';
}
const islandLines = (entries: JournalEntry[]) =>
  entries.filter((e) => e._SYSTEMD_UNIT === 'island.service' || e.UNIT === 'island.service').map((e) => e.MESSAGE);

async function writeConfig(c: Container, text: string): Promise<void> {
  // in place, as `cat >` or an editor without a backup would
  await c.writeFile('/etc/island.toml', text, 0o644);
}

/** Boot to island ready, from the container's own clocks (µs since its systemd started). */
async function bootToReady(
  c: Container,
): Promise<{ bootToReadyMs: number; startToReadyMs: number; kubeletToReadyMs: number }> {
  const m = await show(c, ['UserspaceTimestampMonotonic']);
  const u = await show(c, ['InactiveExitTimestampMonotonic', 'ActiveEnterTimestampMonotonic'], 'island.service');
  const k = await show(c, ['ActiveEnterTimestampMonotonic'], 'kubelet.service');
  const ready = Number(u.ActiveEnterTimestampMonotonic);
  return {
    bootToReadyMs: (ready - Number(m.UserspaceTimestampMonotonic)) / 1000,
    startToReadyMs: (ready - Number(u.InactiveExitTimestampMonotonic)) / 1000,
    kubeletToReadyMs: (ready - Number(k.ActiveEnterTimestampMonotonic)) / 1000,
  };
}

t.test('island.service in a booted Debian 12 container', async (t) => {
  const c = await container(t, { prepare });
  t.comment(`Debian root: ${Math.round(c.rootMs)} ms (cache ${c.rootMs > 5000 ? 'cold: built' : 'warm'})`);
  t.comment(`container booted in ${Math.round(c.bootMs)} ms (host clock: systemd-nspawn start to is-system-running)`);
  const timings: string[] = [];
  const step = async (name: string, fn: (t: Tap) => Promise<void>) => {
    const t0 = performance.now();
    await t.test(name, fn);
    timings.push(`${name}: ${Math.round(performance.now() - t0)} ms`);
  };
  type Tap = typeof t;

  await step('the installed unit: verify prints nothing, exposure <= 2.0 with every setting counted', async (t) => {
    const v = await c.exec(['systemd-analyze', 'verify', '--man=no', 'island.service']);
    t.equal(`${v.stdout}${v.stderr}`, '', 'systemd-analyze verify island.service (with its drop-in) prints nothing');
    t.equal(v.code, 0);
    const s = await c.exec(['systemd-analyze', 'security', '--offline=yes', '/lib/systemd/system/island.service']);
    const exposure = Number(/Overall exposure level for island\.service: ([\d.]+)/.exec(s.stdout)?.[1]);
    t.ok(exposure <= 2.0, `exposure ${exposure} <= 2.0`);
    t.comment(`systemd-analyze security --offline=yes: exposure ${exposure}`);
    // what is left open, each with its reason in the unit: anything else showing up here is a regression
    const open = s.stdout
      .split('\n')
      .filter((l) => l.startsWith('✗'))
      .map((l) => l.slice(2).split(/\s+/)[0])
      .sort();
    t.same(
      open,
      [
        'CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)',
        'CapabilityBoundingSet=~CAP_NET_ADMIN',
        'DeviceAllow=',
        'IPAddressDeny=',
        'MemoryDenyWriteExecute=',
        'PrivateNetwork=',
        'PrivateUsers=',
        'ProcSubset=',
        'RestrictAddressFamilies=~AF_(INET|INET6)',
        'RestrictAddressFamilies=~AF_NETLINK',
        'RestrictAddressFamilies=~AF_UNIX',
        'RootDirectory=/RootImage=',
        'User=/DynamicUser=',
      ],
      'only the settings the unit explains are open',
    );
    const drop = await c.run(['systemctl', 'cat', 'island.service']);
    t.match(drop, /After=kubelet\.service containerd\.service docker\.service/, 'the drop-in is loaded');
    t.notMatch(drop, /(Requires|Wants)=.*kubelet/, 'ordering only: no dependency on kubelet');
  });

  await step('after boot: active, started after kubelet, tunnel and sysctl in place', async (t) => {
    const u = await show(c, ['ActiveState', 'SubState', 'StatusText', 'MainPID'], 'island.service');
    t.equal(u.ActiveState, 'active');
    t.equal(u.StatusText, '2/2 links ok', 'STATUS= from the daemon');
    const exe = await c.run(['readlink', `/proc/${u.MainPID}/exe`]);
    t.equal(exe.trim(), '/usr/bin/node', "runs on Debian's own nodejs");
    t.match(await c.run(['node', '--version']), /^v18\./, 'Debian 12 nodejs is 18.x');
    const boot = await journal(c, ['-b', '_PID=1']);
    const at = (unit: string, id: string) =>
      Number(boot.find((e) => e.UNIT === unit && e.MESSAGE_ID === id)?.__MONOTONIC_TIMESTAMP ?? Number.NaN);
    const kubeletDone = at('kubelet.service', MSG_STARTED);
    const islandStarting = at('island.service', MSG_STARTING);
    t.ok(kubeletDone > 0 && islandStarting > 0, 'both units appear in the journal');
    t.ok(kubeletDone <= islandStarting, 'island starts after kubelet has started (journal order)');
    const vx = await link(c, 'vx0');
    t.equal(vx?.linkinfo?.info_kind, 'vxlan');
    t.equal(vx?.linkinfo?.info_data?.id, 42);
    t.equal(vx?.ifalias, 'island');
    t.same(v4(vx), ['10.30.30.1/30']);
    t.equal((await c.run(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1', 'sysctl written through the sandbox');
    const r = await bootToReady(c);
    t.comment(
      `boot to island ready: ${r.bootToReadyMs.toFixed(0)} ms after the container's systemd started, 1 s of it the stand-in kubelet (kubelet up to READY=1: ${r.kubeletToReadyMs.toFixed(0)} ms; island start to READY=1: ${r.startToReadyMs.toFixed(0)} ms)`,
    );
  });

  await step('when systemctl start returns, the tunnel exists', async (t) => {
    await c.run(['systemctl', 'stop', 'island']);
    await c.run(['ip', 'link', 'del', 'vx0']);
    await c.run(['ip', 'link', 'del', 'br-lab']);
    t.equal(await link(c, 'vx0'), undefined, 'gone before the start');
    await c.run(['systemctl', 'start', 'island']);
    const vx = await link(c, 'vx0');
    t.ok(vx, 'vx0 exists as soon as systemctl start returns');
    t.same(v4(vx), ['10.30.30.1/30'], 'with its address');
  });

  await step('systemctl reload with a good edit applies it, without re-creating the link', async (t) => {
    const before = await link(c, 'vx0');
    const from = await cursor(c);
    await writeConfig(c, CONFIG('10.30.30.5/30'));
    const r = await c.exec(['systemctl', 'reload', 'island']);
    t.equal(r.code, 0, `systemctl reload succeeds ${r.stderr}`);
    const after = await waitFor('the new address', async () => {
      const l = await link(c, 'vx0');
      return v4(l).includes('10.30.30.5/30') && l;
    });
    t.same(v4(after), ['10.30.30.5/30']);
    t.equal(after.ifindex, before.ifindex, 'same ifindex: the tunnel was not re-created');
    const lines = islandLines(await journal(c, [`--after-cursor=${from}`, '-u', 'island']));
    t.ok(
      lines.some((m) => m?.includes('reloading the configuration (SIGHUP)')),
      'the reload came from ExecReload',
    );
  });

  await step('systemctl reload with a bad edit fails, names file:line, changes nothing', async (t) => {
    const before = await link(c, 'vx0');
    const pid = (await show(c, ['MainPID'], 'island.service')).MainPID;
    await writeConfig(c, CONFIG('10.30.30.6/30').replace('vni = 42', 'vni = "42"'));
    const r = await c.exec(['systemctl', 'reload', 'island']);
    t.not(r.code, 0, 'systemctl reload fails');
    const status = await c.exec(['systemctl', 'status', '--no-pager', '-n', '20', 'island']);
    t.match(
      status.stdout,
      `/etc/island.toml:${VNI_LINE}:7: tunnel[0].vni: expected an integer`,
      'systemctl status shows the file:line:col error',
    );
    const u = await waitFor('STATUS= with the error', async () => {
      const s = await show(c, ['StatusText', 'MainPID', 'ActiveState'], 'island.service');
      return s.StatusText?.startsWith('config error') && s;
    });
    t.equal(u.StatusText, `config error at /etc/island.toml:${VNI_LINE}`);
    t.equal(u.MainPID, pid, 'the daemon kept running');
    t.equal(u.ActiveState, 'active');
    const after = await link(c, 'vx0');
    t.same(v4(after), ['10.30.30.5/30'], 'the last good configuration stays');
    t.equal(after.ifindex, before.ifindex);
  });

  await step('a config file others can write is refused', async (t) => {
    await writeConfig(c, CONFIG('10.30.30.6/30'));
    await c.run(['chmod', '0664', '/etc/island.toml']);
    const r = await c.exec(['systemctl', 'reload', 'island']);
    t.not(r.code, 0, 'systemctl reload fails');
    const status = await c.run(['journalctl', '-u', 'island', '-n', '30', '--no-pager', '-o', 'cat']);
    t.match(status, '/etc/island.toml: writable by its group (mode 0664): refusing it (chmod go-w /etc/island.toml)');
    t.same(v4(await link(c, 'vx0')), ['10.30.30.5/30'], 'nothing changed');
    await c.run(['chmod', '0644', '/etc/island.toml']);
  });

  await step('saving the file (temporary file + rename) reloads by itself', async (t) => {
    const from = await cursor(c);
    await c.writeFile('/etc/.island.toml.swp', CONFIG('10.30.30.9/30'), 0o644);
    await rename(join(c.root, 'etc/.island.toml.swp'), join(c.root, 'etc/island.toml'));
    const l = await waitFor('the saved address', async () => {
      const x = await link(c, 'vx0');
      return v4(x).includes('10.30.30.9/30') && x;
    });
    t.same(v4(l), ['10.30.30.9/30'], 'applied without systemctl');
    const lines = islandLines(await journal(c, [`--after-cursor=${from}`, '-u', 'island']));
    t.ok(lines.some((m) => m?.includes('reloading the configuration (file changed)')));
    const s = await waitFor('STATUS= back to the summary', async () => {
      const x = await show(c, ['StatusText'], 'island.service');
      return x.StatusText === '2/2 links ok' && x;
    });
    t.equal(s.StatusText, '2/2 links ok', 'the config error is cleared once a good file is in');
  });

  await step('[hosts]: the daemon hands the names to island-hosts.service, getent resolves them', async (t) => {
    const s = await c.exec([
      'systemd-analyze',
      'security',
      '--offline=yes',
      '/lib/systemd/system/island-hosts.service',
    ]);
    const exposure = Number(/Overall exposure level for island-hosts\.service: ([\d.]+)/.exec(s.stdout)?.[1]);
    t.ok(exposure <= 2.0, `island-hosts.service exposure ${exposure} <= 2.0`);
    t.comment(`island-hosts.service: exposure ${exposure}`);
    const before = await c.run(['cat', '/etc/hosts']);
    const from = await cursor(c);
    await writeConfig(c, `${CONFIG('10.30.30.9/30')}\n[hosts]\n"sopnode-tunnel" = "10.30.30.10"\n`);
    const resolved = await waitFor('getent hosts sopnode-tunnel', async () => {
      const r = await c.exec(['getent', 'hosts', 'sopnode-tunnel']);
      return r.code === 0 && r.stdout;
    });
    t.match(resolved, /^10\.30\.30\.10\s+sopnode-tunnel$/m);
    const hosts = await c.run(['cat', '/etc/hosts']);
    t.ok(hosts.startsWith(before), 'the lines island did not write are unchanged');
    t.match(hosts.slice(before.length), /^# BEGIN island: .*\n10\.30\.30\.10\tsopnode-tunnel\n# END island\n$/);
    const lines = islandLines(await journal(c, [`--after-cursor=${from}`, '-u', 'island', '-u', 'island-hosts']));
    t.ok(
      lines.some((m) => m?.includes('read-only here (EROFS); handed the names to island-hosts.service')),
      'the daemon cannot write /etc itself and hands over',
    );
    const helper = await journal(c, [`--after-cursor=${from}`, '-u', 'island-hosts']);
    t.ok(
      helper.some((e) => String(e.MESSAGE).includes('hosts /etc/hosts: add sopnode-tunnel 10.30.30.10')),
      'island-hosts.service wrote it',
    );
    // the test's own NODE_OPTIONS (tap's loaders) must not reach the container's node
    const st = await c.exec(['env', '-u', 'NODE_OPTIONS', 'island', 'status']);
    t.match(st.stdout, /^hosts \/etc\/hosts +ok +1 name$/m);
    t.match(st.stdout, /^daemon: running as pid \d+: 2\/2 links ok$/m, 'the CLI reaches the daemon at /run/island');
    await writeConfig(c, CONFIG('10.30.30.9/30'));
    await waitFor('the name removed', async () => (await c.run(['cat', '/etc/hosts'])) === before);
    t.equal((await c.exec(['getent', 'hosts', 'sopnode-tunnel'])).code, 2, 'gone with the [hosts] line');
  });

  await step(
    "[daemon] metrics: node_exporter's directory is writable in the sandbox, the rest of /var is not",
    async (t) => {
      const dir = '/var/lib/prometheus/node-exporter';
      const prom = `${dir}/island.prom`;
      // as prometheus-node-exporter lays it out (root's, 0755); ReadWritePaths=-... binds it from the next start
      await c.run(['install', '-d', '-m', '0755', dir]);
      await c.run(['systemctl', 'restart', 'island']);
      await writeConfig(c, `${CONFIG('10.30.30.9/30')}\n[daemon]\nmetrics = "${prom}"\n`);
      const text = await waitFor('the metrics file', async () => {
        const r = await c.exec(['cat', prom]);
        return r.code === 0 && r.stdout.includes('island_passes_total') && r.stdout;
      });
      const families = parsePrometheusTextFormat(text) as {
        name: string;
        metrics: { value?: string; labels?: Record<string, string> }[];
      }[];
      const links = families
        .find((f) => f.name === 'island_objects')
        ?.metrics.find((m) => m.labels?.kind === 'link' && m.labels?.state === 'ok');
      t.equal(links?.value, '2', 'island_objects{kind="link",state="ok"} 2: br-lab and vx0');
      t.equal((await c.run(['stat', '-c', '%a %U', prom])).trim(), '644 root', 'readable by node_exporter');
      t.equal((await c.run(['bash', '-c', `ls -A ${dir}`])).trim(), 'island.prom', 'no temporary left behind');
      const from = await cursor(c);
      await writeConfig(c, `${CONFIG('10.30.30.9/30')}\n[daemon]\nmetrics = "/var/lib/island.prom"\n`);
      const warned = await waitFor('the warning', async () =>
        islandLines(await journal(c, [`--after-cursor=${from}`, '-u', 'island'])).find((m) =>
          m?.includes('metrics: cannot write /var/lib/island.prom'),
        ),
      );
      t.match(
        warned,
        'read-only here: under island.service, add the directory to ReadWritePaths=',
        'says why and what to do',
      );
      await writeConfig(c, CONFIG('10.30.30.9/30'));
      await c.run(['rm', '-r', '/var/lib/prometheus']);
    },
  );

  await step('every sandbox setting holds inside island.service', async (t) => {
    await c.run(['bash', '-c', 'echo secret > /root/island-probe-secret; touch /tmp/island-probe-marker']);
    const base = parseProbe(await c.run(['perl', '/usr/local/lib/island-probe.pl']));
    await c.writeFile(
      '/etc/systemd/system/island.service.d/zz-probe.conf',
      '[Service]\nExecStartPre=-/usr/bin/perl /usr/local/lib/island-probe.pl\n',
    );
    await c.run(['systemctl', 'daemon-reload']);
    const from = await cursor(c);
    await c.run(['systemctl', 'restart', 'island']);
    const box = parseProbe(
      islandLines(await journal(c, [`--after-cursor=${from}`, '-u', 'island']))
        .filter((m) => m?.startsWith('PROBE '))
        .join('\n'),
    );
    await c.run(['rm', '/etc/systemd/system/island.service.d/zz-probe.conf']);
    await c.run(['systemctl', 'daemon-reload']);
    await c.run(['systemctl', 'restart', 'island']);
    t.ok(box.done !== undefined, `the probe ran inside the unit: ${JSON.stringify(box)}`);
    t.comment(`plain root: ${JSON.stringify(base)}`);
    // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13
    t.equal(box.capbnd, '0000000000003000', 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW');
    t.equal(box.capeff, '0000000000003000', 'effective capabilities: the same two');
    t.equal(box.nonewprivs, '1', 'NoNewPrivileges=yes');
    t.equal(box.seccomp, '2', 'a seccomp filter (SystemCallFilter=, RestrictAddressFamilies=, ...)');
    const expect: [string, 'ok' | 'denied', string][] = [
      ['write:/usr/lib', 'denied', 'ProtectSystem=strict: /usr read-only'],
      ['write:/etc', 'denied', 'ProtectSystem=strict: /etc read-only'],
      ['write:/var/lib', 'denied', 'ProtectSystem=strict: /var read-only'],
      ['write:/run', 'ok', 'ReadWritePaths=/run (iptables lock)'],
      ['sysctl:/proc/sys/net/ipv4/ip_forward', 'ok', 'ReadWritePaths=/proc/sys/net under ProtectKernelTunables'],
      ['sysctl:/proc/sys/kernel/domainname', 'denied', 'ProtectKernelTunables=yes'],
      ['read:/root/island-probe-secret', 'denied', 'ProtectHome=yes'],
      ['see:/tmp/island-probe-marker', 'denied', 'PrivateTmp=yes'],
      ['see:/dev/console', 'denied', 'PrivateDevices=yes'],
      ['chmod-suid', 'denied', 'RestrictSUIDSGID=yes'],
      ['socket:unix', 'ok', 'AF_UNIX allowed'],
      ['socket:netlink', 'ok', 'AF_NETLINK allowed'],
      ['socket:inet', 'ok', 'AF_INET allowed'],
      ['socket:inet6', 'ok', 'AF_INET6 allowed'],
      ['socket:packet', 'denied', 'RestrictAddressFamilies: no AF_PACKET'],
      ['syscall:ptrace-traceme', 'denied', 'SystemCallFilter=@system-service (no @debug)'],
      ['syscall:setpriority', 'denied', 'SystemCallFilter=~@resources'],
      ['syscall:personality-linux32', 'denied', 'LockPersonality=yes'],
      ['syscall:unshare-user', 'denied', 'RestrictNamespaces=yes'],
      ['syscall:sched-rr', 'denied', 'RestrictRealtime=yes'],
      ['firewall:iptables-nft-restore', 'ok', 'iptables-restore (nft) works in the sandbox'],
      ['firewall:iptables-legacy-restore', 'ok', 'iptables-restore (legacy, /run/xtables.lock) works in the sandbox'],
    ];
    for (const [key, want, why] of expect) {
      t.equal(box[key]?.split(':')[0], want, `${why} (${key}: ${box[key]})`);
      // a denial proves the setting only when plain root may do it (the container itself
      // already makes /proc/sys outside net read-only and /tmp private)
      if (want === 'denied' && !['sysctl:/proc/sys/kernel/domainname'].includes(key))
        t.equal(base[key], 'ok', `plain root in the container may: ${key}`);
    }
    t.equal(box['umask-file-mode'], '0600', 'UMask=0077');
  });

  await step('a stalled daemon is killed by the watchdog, restarted, and converges again', async (t) => {
    const u = await show(c, ['MainPID', 'NRestarts', 'WatchdogUSec'], 'island.service');
    t.equal(u.WatchdogUSec, '10s');
    const t0 = performance.now();
    await c.run(['kill', '-STOP', u.MainPID ?? '']);
    // stalled: nothing repairs this until systemd steps in
    await c.run(['ip', 'link', 'del', 'vx0']);
    const after = await waitFor(
      'a new main process',
      async () => {
        const s = await show(c, ['MainPID', 'NRestarts', 'ActiveState', 'Result'], 'island.service');
        return s.MainPID !== u.MainPID && s.MainPID !== '0' && s.ActiveState === 'active' && s;
      },
      30_000,
    );
    const ms = performance.now() - t0;
    t.equal(Number(after.NRestarts), Number(u.NRestarts) + 1, 'restarted once');
    const lines = (await c.run(['journalctl', '-u', 'island', '-n', '40', '--no-pager', '-o', 'cat'])).split('\n');
    t.ok(
      lines.some((l) => l.includes('Watchdog timeout')),
      'systemd: watchdog timeout',
    );
    t.ok(
      lines.some((l) => l.includes("Failed with result 'watchdog'")),
      'the failure is the watchdog',
    );
    t.same(v4(await link(c, 'vx0')), ['10.30.30.9/30'], 'the deleted tunnel is back once active again');
    t.comment(`SIGSTOP to active again: ${Math.round(ms)} ms (WatchdogSec=10s, RestartSec=1s)`);
  });

  await step('a missing underlay: READY=1 after the bounded wait, STATUS= says degraded', async (t) => {
    await writeConfig(c, CONFIG('10.30.30.9/30').replace('dev = "br-lab"', 'dev = "eth9"'));
    const t0 = performance.now();
    const r = await c.exec(['systemctl', 'restart', 'island'], { timeoutMs: 60_000 });
    const ms = performance.now() - t0;
    t.equal(r.code, 0, 'the start does not fail');
    t.ok(ms < 20_000, `and does not hang: ${Math.round(ms)} ms`);
    const s = await show(c, ['ActiveState', 'StatusText'], 'island.service');
    t.equal(s.ActiveState, 'active');
    t.match(s.StatusText, /^degraded: not converged after 10 s: 1\/2 links ok, .*link vx0 blocked/);
    await writeConfig(c, CONFIG('10.30.30.9/30'));
    await c.run(['systemctl', 'reload', 'island']);
    await waitFor('vx0 on br-lab again', async () => (await link(c, 'vx0'))?.linkinfo?.info_data?.link === 'br-lab');
  });

  await step('systemctl stop leaves the tunnel in place', async (t) => {
    const before = await link(c, 'vx0');
    const t0 = performance.now();
    await c.run(['systemctl', 'stop', 'island']);
    const ms = performance.now() - t0;
    t.ok(ms < 5000, `stopped in ${Math.round(ms)} ms`, {
      journal: ms < 5000 ? '' : await c.run(['journalctl', '-u', 'island', '-n', '40', '--no-pager']),
    });
    const after = await link(c, 'vx0');
    t.ok(after, 'vx0 still there');
    t.equal(after?.ifindex, before?.ifindex);
    t.same(v4(after), v4(before), 'with its addresses');
    const lines = (await c.run(['journalctl', '-u', 'island', '-n', '10', '--no-pager', '-o', 'cat'])).split('\n');
    t.ok(lines.some((l) => l.includes('SIGTERM: stopping, the network stays as it is')));
    const t1 = performance.now();
    await c.run(['systemctl', 'start', 'island']);
    t.comment(`start with everything in place (adopted): ${Math.round(performance.now() - t1)} ms`);
  });

  await step('journalctl -p warning shows warnings and errors only', async (t) => {
    const warn = await journal(c, ['-u', 'island', '-p', 'warning']);
    const all = await journal(c, ['-u', 'island']);
    t.ok(warn.length > 0, `errors of this run are there (${warn.length})`);
    t.ok(
      warn.every((e) => Number(e.PRIORITY) <= 4),
      'every entry at warning or above',
    );
    t.ok(
      warn.some((e) => e.PRIORITY === '3' && String(e.MESSAGE).includes('tunnel[0].vni')),
      'the config error is an error (3)',
    );
    t.ok(
      all.some((e) => e.PRIORITY === '6' && String(e.MESSAGE).includes('"status"')),
      'info lines exist, at priority 6',
    );
    t.notOk(
      warn.some((e) => String(e.MESSAGE).includes('"level":30')),
      'no info line under -p warning',
    );
  });

  await step('a reboot of the container brings everything back', async (t) => {
    const t0 = performance.now();
    await c.reboot();
    t.comment(`reboot: ${Math.round(performance.now() - t0)} ms until the container answered again`);
    const u = await show(c, ['ActiveState', 'StatusText'], 'island.service');
    t.equal(u.ActiveState, 'active');
    t.equal(u.StatusText, '2/2 links ok');
    const vx = await link(c, 'vx0');
    t.equal(vx?.linkinfo?.info_data?.id, 42);
    t.same(v4(vx), ['10.30.30.9/30']);
    t.equal((await c.run(['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1');
    const r = await bootToReady(c);
    t.comment(
      `boot to island ready after the reboot: ${r.bootToReadyMs.toFixed(0)} ms (kubelet up to READY=1: ${r.kubeletToReadyMs.toFixed(0)} ms; island start to READY=1: ${r.startToReadyMs.toFixed(0)} ms)`,
    );
    const boot = await journal(c, ['-b', '_PID=1']);
    const at = (unit: string, id: string) =>
      Number(boot.find((e) => e.UNIT === unit && e.MESSAGE_ID === id)?.__MONOTONIC_TIMESTAMP ?? Number.NaN);
    t.ok(at('kubelet.service', MSG_STARTED) <= at('island.service', MSG_STARTING), 'after kubelet again');
  });

  t.comment(`step timings: ${timings.join('; ')}`);
});

function parseProbe(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^PROBE (\S+)(?: (.*))?$/.exec(line.trim());
    if (m?.[1]) r[m[1]] = m[2] ?? '';
  }
  return r;
}
