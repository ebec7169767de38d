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
import { bootContainer, debRoot, FILE_LIST_SCRIPT, mustRun } from '../helpers/nspawn.js';

const CONFIG = `# written by the package test
[[tunnel]]
name = "vxpkg"
kind = "vxlan"
vni = 4242
local = "10.99.0.1"
remote = "10.99.0.2"
port = 5533
source_port = 5533
addresses = ["10.98.0.1/30"]

[[route]]
to = "10.97.0.0/24"
via = "10.98.0.2"
`;

// biome-ignore lint/suspicious/noExplicitAny: ip's JSON
type Link = Record<string, any>;

export async function packageLifecycle(t: Test, suite: 'bookworm' | 'trixie', nodeMajor: number): Promise<void> {
  const upgradeVersion = `${BASE_VERSION}+rebuild1`;
  const [root, deb, deb2] = await Promise.all([debRoot(suite), buildDeb(), buildDeb(upgradeVersion)]);
  const c = await bootDebRoot(t, root, suite.slice(0, 4));
  await mustRun(['mkdir', '-p', `${c.root}/root/debs`]);
  await mustRun(['cp', deb, deb2, `${c.root}/root/debs/`]);
  const debName = deb.split('/').pop() as string;
  const deb2Name = deb2.split('/').pop() as string;
  const apt = (args: string) => c.sh(`cd /root/debs && apt-get ${args}`, { timeoutMs: 300_000 });

  const before = await c.sh(FILE_LIST_SCRIPT);
  const version = async (pkg: string) => (await c.sh(`dpkg-query -W ${pkg}`)).split('\t')[1]?.trim();
  t.notMatch(await c.sh('dpkg-query -W'), /^(nodejs|iptables)\t/m, 'the clean root has no nodejs, no iptables');

  const install = await apt(`install -y ./${debName}`);
  t.match(install, /Setting up nodejs /, 'apt install ./island_*.deb pulls the distribution nodejs');
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
  t.match(await c.sh('ip route show proto island'), /^10\.97\.0\.0\/24 via 10\.98\.0\.2 dev vxpkg proto island/m);
  const pid1 = (await c.sh('systemctl show -P MainPID island')).trim();

  // upgrade: a rebuilt higher version of the same tree
  const upgrade = await apt(`install -y ./${deb2Name}`);
  t.match(
    upgrade,
    new RegExp(`Unpacking island \\(${reEscape(upgradeVersion)}\\) over \\(${reEscape(BASE_VERSION)}\\)`),
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

  // purge, and the dependencies apt pulled in; then compare with the clean root
  await apt('purge -y island');
  await apt('autoremove --purge -y');
  await c.sh('ip link del vxpkg');
  const afterPurge = await c.sh(FILE_LIST_SCRIPT);
  const was = new Set(before.split('\n'));
  const now = new Set(afterPurge.split('\n'));
  t.same(
    afterPurge.split('\n').filter((f) => !was.has(f)),
    [],
    'purge leaves no file or directory that was not there before install',
  );
  t.same(
    before.split('\n').filter((f) => !now.has(f)),
    [],
    'and removes none that was',
  );
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
