/**
 * The .deb on a clean Debian root booted with systemd (nspawn), as an admin uses it:
 * `apt install ./island_*.deb` pulls the distribution's nodejs and starts an enabled
 * island.service; an edited /etc/island.toml and `systemctl reload island` build the tunnel;
 * a rebuilt higher version installs without flapping it (same ifindex); removal stops the
 * daemon and leaves the network; purge leaves no file behind (file lists compared before
 * install and after purge, as piuparts does).
 */
import type { Test } from 'tap';
import { BASE_VERSION, buildDeb } from '../helpers/deb.js';
import { bootDebRoot, type DebContainer, debRoot, FILE_LIST_SCRIPT, mustRun } from '../helpers/debroot.js';
import { islandToml, vxlan } from '../helpers/toml.mjs';

const CONFIG = islandToml(
  {
    tunnel: [
      vxlan({
        name: 'vxpkg',
        vni: 4242,
        local: '10.99.0.1',
        remote: '10.99.0.2',
        port: 5533,
        source_port: 5533,
        addresses: ['10.98.0.1/30'],
      }),
    ],
    route: [{ to: '10.97.0.0/24', via: '10.98.0.2' }],
  },
  { comment: 'written by the package test' },
);

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
type Link = Record<string, any>;

export async function packageLifecycle(t: Test, suite: 'bookworm' | 'trixie', nodeMajor: number): Promise<void> {
  const upgradeVersion = `${BASE_VERSION}+rebuild1`;
  const [root, deb, deb2] = await Promise.all([debRoot(suite), buildDeb(), buildDeb(upgradeVersion)]);
  const c = await bootDebRoot(t, root, suite.slice(0, 4));
  try {
    await lifecycle(t, c, deb, deb2, upgradeVersion, nodeMajor);
  } catch (e) {
    // what an admin would look at next
    const journal = await c.exec(['journalctl', '-u', 'island', '-n', '60', '--no-pager', '-o', 'short-monotonic']);
    const status = await c.exec(['systemctl', 'status', 'island', '--no-pager', '-n', '0']);
    t.comment(`systemctl status island:\n${status.stdout}\njournalctl -u island:\n${journal.stdout}`);
    throw e;
  }
}

async function lifecycle(
  t: Test,
  c: DebContainer,
  deb: string,
  deb2: string,
  upgradeVersion: string,
  nodeMajor: number,
): Promise<void> {
  await mustRun(['mkdir', '-p', `${c.root}/root/debs`]);
  await mustRun(['cp', deb, deb2, `${c.root}/root/debs/`]);
  const debName = deb.split('/').pop() as string;
  const deb2Name = deb2.split('/').pop() as string;
  // --force-confold: keep the admin's /etc/island.toml without asking, as unattended upgrades do
  // (the shipped example changes between versions; dpkg would ask, and there is no terminal)
  const apt = (args: string) =>
    c.sh(`cd /root/debs && apt-get -o Dpkg::Options::=--force-confold ${args}`, { timeoutMs: 300_000 });

  const before = await c.sh(FILE_LIST_SCRIPT);
  const version = async (pkg: string) => (await c.sh(`dpkg-query -W ${pkg}`)).split('\t')[1]?.trim();
  t.notMatch(await c.sh('dpkg-query -W'), /^(nodejs|iptables)\t/m, 'the clean root has no nodejs, no iptables');

  const install = await apt(`install -y ./${debName}`);
  t.match(install, /Setting up nodejs /, 'apt install ./island_*.deb pulls the distribution nodejs');
  t.match(install, /Setting up iputils-ping /, 'and iputils-ping, whose ping island test runs');
  t.match(install, /Setting up island /, 'and sets up island');
  const nodeVersion = (await c.sh('/usr/bin/node --version')).trim();
  t.match(nodeVersion, new RegExp(`^v${nodeMajor}\\.`), `Debian's own node ${nodeVersion} is what island runs on`);
  t.match(await version('nodejs'), /dfsg/, `Debian's nodejs package (${await version('nodejs')})`);
  t.equal((await c.exec(['systemctl', 'is-enabled', 'island.service'])).stdout.trim(), 'enabled', 'enabled');
  t.equal((await c.exec(['systemctl', 'is-active', 'island.service'])).stdout.trim(), 'active', 'active');
  t.equal((await c.sh('island check')).trim(), '/etc/island.toml: ok', 'the shipped file is valid');
  t.equal((await c.sh('ip -j link show')).includes('"alias":"island"'), false, 'as shipped, nothing is built');
  // `ip` fails on a protocol name it does not know
  t.equal(await c.sh('ip route show proto island'), '', 'rt_protos.d names protocol 149 "island" for ip(8)');
  await c.sh('test -s /usr/share/man/man8/island.8.gz && test -s /usr/share/man/man5/island.toml.5.gz');
  await c.sh(
    'test -s /usr/share/island/island.toml.schema.json && test -s /usr/share/bash-completion/completions/island',
  );

  // the admin edits the file and reloads
  await c.sh('cat > /etc/island.toml', { input: CONFIG });
  await c.sh('systemctl reload island');
  const link = await waitFor(async () => {
    const r = await c.exec(['ip', '-d', '-j', 'link', 'show', 'vxpkg']);
    return r.code === 0 ? (JSON.parse(r.stdout)[0] as Link) : undefined;
  }, 10_000);
  t.ok(link, 'after systemctl reload island the configured vxlan exists');
  if (!link) return;
  t.equal(link.linkinfo?.info_kind, 'vxlan', 'a vxlan');
  t.equal(link.linkinfo?.info_data?.id, 4242, 'with the configured VNI');
  t.equal(link.ifalias, 'island', 'owned by island');
  t.match(await c.sh('ip route show proto island'), /^10\.97\.0\.0\/24 via 10\.98\.0\.2 dev vxpkg/m, 'its route');
  const pid1 = (await c.sh('systemctl show -P MainPID island')).trim();

  // upgrade: a rebuilt higher version of the same tree
  const upgrade = await apt(`install -y ./${deb2Name}`);
  t.match(
    upgrade,
    new RegExp(`Unpacking island \\(${reEscape(upgradeVersion)}\\) over \\(${reEscape(BASE_VERSION)}\\)`),
    'apt upgrades the package in place',
  );
  t.equal(await version('island'), upgradeVersion, 'upgraded');
  await waitFor(async () => (await c.exec(['systemctl', 'is-active', 'island'])).stdout.trim() === 'active', 10_000);
  const pid2 = (await c.sh('systemctl show -P MainPID island')).trim();
  t.not(pid2, pid1, 'the daemon was restarted after the upgrade');
  const after = JSON.parse(await c.sh('ip -d -j link show vxpkg'))[0] as Link;
  t.equal(after.ifindex, link.ifindex, `no flap: vxpkg keeps ifindex ${link.ifindex} across the upgrade`);
  t.equal(after.operstate, link.operstate, 'and its state');
  t.match(await c.sh('ip -j addr show vxpkg'), /10\.98\.0\.1/, 'and its address');

  // remove: the daemon stops, the network stays as it is (documented in island(8))
  await apt('remove -y island');
  t.not((await c.exec(['systemctl', 'is-active', 'island'])).stdout.trim(), 'active', 'removed: not running');
  t.equal((await c.exec(['test', '-e', '/etc/island.toml'])).code, 0, 'remove keeps the conffile');
  t.equal((await c.exec(['ip', 'link', 'show', 'vxpkg'])).code, 0, 'remove leaves the tunnel in place');

  // purge. The dependencies apt pulled in stay: what they leave behind is theirs (ca-certificates'
  // generated links, openssl kept by a Recommends), so the first cycle is checked by name, and a
  // second install/purge cycle with the dependencies in place is compared file by file, as
  // piuparts does
  await apt('purge -y island');
  await c.sh('ip link del vxpkg');
  const purged = await c.sh(FILE_LIST_SCRIPT);
  t.same(
    added(before, purged).filter((f) => /island/i.test(f)),
    [],
    'purge leaves nothing of island behind (file names compared with the clean root)',
  );
  t.same(added(purged, before), [], 'and nothing that was there before install is gone');

  await apt(`install -y ./${debName}`);
  t.equal((await c.exec(['systemctl', 'is-active', 'island'])).stdout.trim(), 'active', 'installed again: active');
  await c.sh('cat > /etc/island.toml', { input: CONFIG });
  await c.sh('systemctl reload island && ip link show vxpkg >/dev/null');
  await apt(`install -y ./${deb2Name}`);
  await apt('purge -y island');
  await c.sh('ip link del vxpkg');
  const again = await c.sh(FILE_LIST_SCRIPT);
  t.same(added(purged, again), [], 'install, reload, upgrade, purge with the dependencies in place: no file left');
  t.same(added(again, purged), [], 'and none removed');
}

/** lines of `after` that are not in `before` */
function added(before: string, after: string): string[] {
  const was = new Set(before.split('\n'));
  return after.split('\n').filter((f) => f && !was.has(f));
}

function reEscape(s: string): string {
  return s.replace(/[.+]/g, '\\$&');
}

async function waitFor<T>(probe: () => Promise<T | undefined | false>, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}
