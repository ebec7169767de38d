/**
 * Like sshd's StrictModes: a file that someone other than root could rewrite decides nothing.
 * `island check` (what ExecReload= runs first) and the daemon refuse it with one line saying
 * what to fix.
 */
import { chmod, chown, writeFile } from 'node:fs/promises';
import t from 'tap';
import { runIsland, writeConfig } from '../helpers/island.js';
import { netns } from '../helpers/netns.js';
import { islandToml, vxlan } from '../helpers/toml.mjs';

const CONFIG = islandToml({ tunnel: [vxlan({ local: '10.99.0.1', remote: '10.99.0.2' })] });

t.test('check and daemon refuse a group-writable or foreign-owned file', async (t) => {
  const ns = await netns(t, 'perms');
  const path = await writeConfig(t, CONFIG);
  await chmod(path, 0o644);
  const ok = await runIsland(ns, ['check', '-c', path]);
  t.equal(ok.code, 0, `0644 root: ok ${ok.stderr}`);

  await chmod(path, 0o664);
  const grp = await runIsland(ns, ['check', '-c', path]);
  t.equal(grp.code, 1);
  t.equal(
    grp.stderr.trim(),
    `${path}: writable by its group (mode 0664): refusing it (chmod go-w ${path})`,
    'check names the file, the mode and the fix',
  );
  await chmod(path, 0o646);
  const oth = await runIsland(ns, ['check', '-c', path]);
  t.match(oth.stderr, `${path}: writable by others (mode 0646)`);

  await chmod(path, 0o644);
  await chown(path, 4242, 0);
  const foreign = await runIsland(ns, ['check', '-c', path]);
  t.equal(foreign.code, 1);
  t.equal(foreign.stderr.trim(), `${path}: owned by uid 4242, not by root: refusing it (chown root ${path})`);

  const d = await runIsland(ns, ['daemon', '-c', path], { timeoutMs: 15_000 });
  t.equal(d.code, 1, 'the daemon does not start');
  t.match(d.stdout, `owned by uid 4242, not by root`, 'and logs why');
  t.match(d.stderr, `island: ${path}: invalid, not starting (1 error(s))`);
  t.same(await ns.ipJson(['link', 'show', 'type', 'vxlan']), [], 'nothing was created');

  // an invalid file that is also unsafe: both are reported, the exit is 1
  await chown(path, 0, 0);
  await writeFile(path, CONFIG.replace('vni = 7', 'vni = "x"'));
  await chmod(path, 0o666);
  const both = await runIsland(ns, ['check', '-c', path]);
  t.equal(both.code, 1);
  t.match(both.stderr, 'writable by others');
  t.match(both.stderr, `${path}:4:7: tunnel[0].vni`);
});
