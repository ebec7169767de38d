/**
 * The .deb on a clean Debian root booted with systemd (nspawn), as an admin uses it:
 * `apt install ./island_*.deb` pulls the distribution's nodejs and starts an enabled
 * island.service; an edited /etc/island.toml and `systemctl reload island` build the tunnel;
 * a rebuilt higher version installs without flapping it (same ifindex); removal stops the
 * daemon and leaves the network; purge leaves no file behind (file lists compared before
 * install and after purge, as piuparts does). V8's code caches, which postinst makes for the
 * host's node (scripts/code-cache.mjs), are taken by that node, one-shot commands and the
 * sandboxed daemon alike, and made again by an upgrade and by a new /usr/bin/node (the trigger).
 */
import type { Test } from 'tap';
import { cacheUseOf, PROBE_JS } from '../helpers/code-cache-probe.js';
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

/** The code caches postinst makes beside the bundles, one each (scripts/bundle.mjs BUNDLES). */
const CACHE_DIR = '/usr/lib/island/dist';
const CACHES = ['island-apply.cache', 'island-check.cache', 'island.cache'];
/** A command of each bundle (the entry's BUNDLE: check and plan have their own), none changing anything */
const USES = ['check', 'plan', 'graph'];
/** The probe (test/helpers/code-cache-probe.ts), outside /root, which the unit's ProtectHome hides from the daemon. */
const PROBE = '/usr/local/lib/code-cache-probe.cjs';
const ACCEPTED = ['island-check.cjs: accepted', 'island-apply.cjs: accepted', 'island.cjs: accepted'];
const REJECTED = ACCEPTED.map((l) => l.replace('accepted', 'rejected'));

/** The code cache files beside the bundles. */
async function cacheFiles(c: DebContainer): Promise<string[]> {
  return (await c.sh(`cd ${CACHE_DIR} && ls -1 -- *.cache 2>/dev/null || true`)).split('\n').filter(Boolean);
}

/** What V8 made of each bundle's code cache in a command run through /usr/sbin/island (USES). */
async function cacheUse(c: DebContainer): Promise<string[]> {
  return Promise.all(
    USES.map(async (cmd) => {
      const r = await c.exec(['env', `NODE_OPTIONS=--require=${PROBE}`, 'island', cmd]);
      return cacheUseOf(r.stderr) ?? `island ${cmd}: no vm.Script (exit ${r.code}) ${r.stderr}`;
    }),
  );
}

/** The caches replaced by ones V8 rejects (cut short), as a cache for another node is. */
const spoilCaches = (c: DebContainer) => c.sh(`for f in ${CACHE_DIR}/*.cache; do truncate -s 4096 "$f"; done`);

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
  // node reads NODE_EXTRA_CA_CERTS at every start (~38 ms where it names the system bundle);
  // island makes no TLS connection, and /usr/sbin/island drops it: no warning for a bad one either
  const badCerts = ['env', 'NODE_EXTRA_CA_CERTS=/nonexistent'];
  t.match(
    (await c.exec([...badCerts, '/usr/bin/node', '-e', '0'])).stderr,
    /extra certs/,
    'node warns of bad extra certs',
  );
  const checked = await c.exec([...badCerts, 'island', 'check']);
  t.same([checked.code, checked.stderr], [0, ''], 'island, through /usr/sbin/island, never reads them');
  t.equal((await c.sh('ip -j link show')).includes('"alias":"island"'), false, 'as shipped, nothing is built');
  // `ip` fails on a protocol name it does not know
  t.equal(await c.sh('ip route show proto island'), '', 'rt_protos.d names protocol 149 "island" for ip(8)');
  await c.sh('test -s /usr/share/man/man8/island.8.gz && test -s /usr/share/man/man5/island.toml.5.gz');
  await c.sh(
    'test -s /usr/share/island/island.toml.schema.json && test -s /usr/share/bash-completion/completions/island',
  );

  // V8's code caches, made by postinst for this node: as root, from the runs in namespaces of
  // their own (scripts/code-cache.mjs), each taken by the node island runs
  t.notMatch(install, /no (V8 )?code cache/, 'postinst made every code cache');
  t.same(await cacheFiles(c), CACHES, `postinst made a code cache beside each bundle in ${CACHE_DIR}`);
  await c.sh(`cat > ${PROBE}`, { input: PROBE_JS });
  t.same(await cacheUse(c), ACCEPTED, `${nodeVersion} takes them: island check, plan, graph`);
  // the daemon, in the unit's sandbox (ProtectSystem=strict...), with the unit's own NODE_OPTIONS
  // (as systemd shows them; a quoted value with spaces would not match: the test says so)
  const unitOptions = /(?:^|\s)NODE_OPTIONS=(\S+)/.exec(await c.sh('systemctl show -P Environment island'))?.[1];
  t.ok(unitOptions, `island.service sets NODE_OPTIONS (${unitOptions})`);
  const dropInDir = '/etc/systemd/system/island.service.d';
  await c.sh(`mkdir -p ${dropInDir} && cat > ${dropInDir}/probe.conf`, {
    input: `[Service]\nEnvironment="NODE_OPTIONS=${unitOptions} --require=${PROBE}"\n`,
  });
  await c.sh('systemctl daemon-reload && systemctl restart island');
  const daemonUse = await waitFor(async () => cacheUseOf(await c.sh('journalctl -u island -o cat --no-pager')), 5000);
  t.equal(daemonUse, 'island.cjs: accepted', "and the daemon, in the unit's sandbox");
  await c.sh(`rm -r ${dropInDir} && systemctl daemon-reload && systemctl restart island`);

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

  // upgrade: a rebuilt higher version of the same tree. Its caches are made again (the old ones,
  // cut short here, are rejected: the probe can tell)
  await spoilCaches(c);
  t.same(await cacheUse(c), REJECTED, 'caches cut short: rejected');
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
  t.same(await cacheFiles(c), CACHES, 'the upgrade made the code caches again');
  t.same(await cacheUse(c), ACCEPTED, 'which the node takes');

  // a new /usr/bin/node (here: nodejs reinstalled) runs island's postinst through its file
  // trigger, which makes the caches again for it
  await spoilCaches(c);
  const renode = await apt('install -y --reinstall nodejs');
  t.match(renode, /Processing triggers for island /, 'reinstalling nodejs triggers island');
  t.same(await cacheUse(c), ACCEPTED, 'whose postinst made the code caches again');
  await c.sh(`rm ${PROBE}`);

  // remove: the daemon stops, the network stays as it is (documented in island(8))
  await apt('remove -y island');
  t.not((await c.exec(['systemctl', 'is-active', 'island'])).stdout.trim(), 'active', 'removed: not running');
  t.equal((await c.exec(['test', '-e', '/etc/island.toml'])).code, 0, 'remove keeps the conffile');
  t.equal((await c.exec(['ip', 'link', 'show', 'vxpkg'])).code, 0, 'remove leaves the tunnel in place');
  t.equal((await c.exec(['test', '-e', '/usr/lib/island'])).code, 1, 'and no /usr/lib/island: the caches went too');

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
  await c.sh('systemctl reload island');
  // the reload returns once the daemon has its SIGHUP, not once it has built the link
  t.ok(
    await waitFor(async () => (await c.exec(['ip', 'link', 'show', 'vxpkg'])).code === 0, 10_000),
    'reloaded: vxpkg again',
  );
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
