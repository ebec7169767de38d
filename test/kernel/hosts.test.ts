/**
 * [hosts] names as a user sees them: `getent hosts NAME` through the C library, inside a mount
 * namespace where /etc/hosts is the test's own file (bind-mounted for the query only), so the
 * machine's /etc/hosts is never read for the answer nor written. Then crash safety: the writer
 * is killed with SIGKILL at random moments, over and over, while a reader checks that every
 * version of the file it sees is whole.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { configDir, REPO, runIsland, startDaemon } from '../helpers/island.js';
import { type Netns, netns } from '../helpers/netns.js';
import { privateMounts } from '../helpers/spawn.mjs';

const FOREIGN = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
# the admin's own lines, which island must never change
192.0.2.50\tnas nas.lab   # trailing comment
`;

const CONFIG = (hosts: string) => `
[[bridge]]
name = "br-lab"
addresses = ["10.3.1.3/24"]

[hosts]
${hosts}
`;

/** getent as a user runs it, with `file` as /etc/hosts in a private mount namespace. */
async function getent(ns: Netns, file: string, name: string): Promise<{ code: number; out: string }> {
  const r = await ns.exec(privateMounts('mount --bind "$1" /etc/hosts && exec getent hosts "$2"', 'sh', file, name));
  return { code: r.code, out: r.stdout.trim().replace(/\s+/g, ' ') };
}

t.test(
  'names resolve with getent; removed from the file, removed from hosts; down leaves the admin’s file',
  async (t) => {
    const ns = await netns(t, 'hosts');
    const dir = await configDir(t);
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, FOREIGN, { mode: 0o644 });
    const config = join(dir, 'island.toml');
    await writeFile(
      config,
      CONFIG('"sopnode-tunnel" = "10.3.1.2"\n"faraday-tunnel" = "10.3.1.3"\n"v6-end" = "fd00:3030::1"'),
    );
    const env = { ISLAND_HOSTS_FILE: hosts };
    const d = startDaemon(t, ns, config, { env });
    await d.waitForLog((r) => r.msg === 'island daemon running', 30_000);
    const added = await d.waitForLog((r) => r.msg?.startsWith(`hosts ${hosts}: add`), 5000);
    t.equal(
      added.msg,
      `hosts ${hosts}: add sopnode-tunnel 10.3.1.2, add faraday-tunnel 10.3.1.3, add v6-end fd00:3030::1`,
    );

    t.strictSame(await getent(ns, hosts, 'sopnode-tunnel'), { code: 0, out: '10.3.1.2 sopnode-tunnel' });
    t.strictSame(await getent(ns, hosts, 'faraday-tunnel'), { code: 0, out: '10.3.1.3 faraday-tunnel' });
    t.strictSame(await getent(ns, hosts, 'v6-end'), { code: 0, out: 'fd00:3030::1 v6-end' });
    t.strictSame(await getent(ns, hosts, 'nas.lab'), { code: 0, out: '192.0.2.50 nas nas.lab' }, 'the admin’s line');
    const text = await readFile(hosts, 'utf8');
    t.ok(text.startsWith(FOREIGN), 'every line island did not write is there, unchanged, first');
    t.match(
      text,
      /\n# BEGIN island: .*\n10\.3\.1\.2\tsopnode-tunnel\n10\.3\.1\.3\tfaraday-tunnel\nfd00:3030::1\tv6-end\n# END island\n$/,
    );

    const st = await runIsland(ns, ['status', '-c', config], { env });
    t.match(st.stdout, new RegExp(`^hosts ${hosts} +ok +3 names$`, 'm'));

    // deleted by hand: put back by the next pass (the resync, here forced by SIGHUP)
    await writeFile(hosts, `${FOREIGN}192.0.2.51 added-by-hand\n`);
    d.signal('SIGHUP');
    await d.waitForLog(
      (r) =>
        r.msg === `hosts ${hosts}: add sopnode-tunnel 10.3.1.2, add faraday-tunnel 10.3.1.3, add v6-end fd00:3030::1` &&
        r !== added,
      10_000,
    );
    t.match(
      await readFile(hosts, 'utf8'),
      /^192\.0\.2\.51 added-by-hand\n# BEGIN island/m,
      'the admin’s new line stays',
    );

    // a name removed from the file is removed from hosts
    await writeFile(config, CONFIG('"sopnode-tunnel" = "10.3.1.2"'));
    await d.waitForLog(
      (r) => r.msg === `hosts ${hosts}: remove faraday-tunnel 10.3.1.3, remove v6-end fd00:3030::1`,
      10_000,
    );
    t.equal((await getent(ns, hosts, 'faraday-tunnel')).code, 2, 'getent: not found');
    t.strictSame(await getent(ns, hosts, 'sopnode-tunnel'), { code: 0, out: '10.3.1.2 sopnode-tunnel' });

    await d.stop();
    const down = await runIsland(ns, ['down'], { env });
    t.equal(down.code, 0, down.stderr);
    t.match(down.stdout, `hosts ${hosts}: remove sopnode-tunnel 10.3.1.2`);
    t.equal(
      await readFile(hosts, 'utf8'),
      `${FOREIGN}192.0.2.51 added-by-hand\n`,
      'down leaves exactly the admin’s file',
    );
    t.equal((await getent(ns, hosts, 'sopnode-tunnel')).code, 2);
    t.strictSame(await readdir(dir), ['hosts', 'island.toml'], 'no temporary file left behind');
  },
);

/** A writer that alternates two sets of names as fast as it can, through island's own code. */
const WRITER = `
import { syncHosts } from ${JSON.stringify(join(REPO, 'dist', 'hosts', 'keeper.js'))};
const [path] = process.argv.slice(2);
const set = (tag) => Array.from({ length: 150 }, (_, i) => ({ name: tag + '-' + i + '.island.lab', address: '10.3.' + (i >> 8) + '.' + (i & 255) }));
const a = set('alpha');
const b = set('beta');
process.stdout.write('ready\\n');
for (let i = 0; ; i++) await syncHosts(i % 2 ? a : b, path);
`;

t.test('SIGKILL at any moment of a write never leaves a truncated or half-written file', async (t) => {
  const dir = await configDir(t);
  const path = join(dir, 'hosts');
  await writeFile(path, FOREIGN);
  const script = join(dir, 'writer.mjs');
  await writeFile(script, WRITER);
  const whole = (text: string) => {
    if (!text.startsWith(FOREIGN)) return 'the admin’s lines are damaged';
    const rest = text.slice(FOREIGN.length);
    if (rest === '') return undefined;
    const m = /^# BEGIN island: [^\n]*\n((?:[^\n]*\n)*)# END island\n$/.exec(rest);
    if (!m) return 'no whole block';
    const lines = (m[1] as string).split('\n').filter(Boolean);
    if (lines.length !== 150) return `${lines.length} names in the block`;
    const tag = lines[0]?.split('\t')[1]?.split('-')[0];
    if (!lines.every((l, i) => l.endsWith(`\t${tag}-${i}.island.lab`))) return 'mixed or broken lines';
    return undefined;
  };
  // a reader running all along: every version it reads must be whole
  let reads = 0;
  let broken: string | undefined;
  let reading = true;
  const reader = (async () => {
    while (reading) {
      const text = await readFile(path, 'utf8');
      reads++;
      broken ??= whole(text) && `read ${reads}: ${whole(text)} (${text.length} bytes)`;
      // paced: a reader spinning flat out would starve the writers on a small machine
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const KILLS = 20;
  let writes = 0;
  const t0 = performance.now();
  for (let i = 0; i < KILLS; i++) {
    const child = spawn(process.execPath, [script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<boolean>((res) => {
      child.stdout.once('data', () => res(true));
      child.once('exit', () => res(false));
    });
    if (!ready) {
      t.fail('the writer exited before it started writing');
      break;
    }
    // somewhere inside the write loop: temp file, write, fsync, rename, directory fsync
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 40));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    const text = await readFile(path, 'utf8');
    const problem = whole(text);
    if (problem) {
      t.fail(`after kill ${i + 1}: ${problem}`);
      break;
    }
    if (text !== FOREIGN) writes++;
  }
  reading = false;
  await reader;
  t.equal(broken, undefined, `${reads} reads during the kills, every one whole`);
  t.ok(writes > KILLS / 2, `the writer had written before most kills (${writes} of ${KILLS})`);
  // killed writers leave their temporary files; the next writer removes them once stale
  const temps = (await readdir(dir)).filter((n) => n.startsWith('.hosts.island-'));
  t.ok(temps.length <= KILLS, `${temps.length} temporaries of killed writers (never the file itself)`);
  t.comment(
    `${KILLS} writers killed with SIGKILL in ${Math.round(performance.now() - t0)} ms, ${reads} concurrent reads, no broken version`,
  );

  // the same reader catches an in-place rewrite: the check above can fail
  let seenBroken = false;
  const deadline = Date.now() + 3000;
  const inPlace = (async () => {
    for (let i = 0; Date.now() < deadline && !seenBroken; i++)
      await writeFile(path, `${FOREIGN}${i % 2 ? '' : `${'x'.repeat(4000)}\n`}`);
  })();
  while (Date.now() < deadline && !seenBroken) {
    const text = await readFile(path, 'utf8');
    if (!text.startsWith(FOREIGN)) seenBroken = true;
    await new Promise((r) => setImmediate(r));
  }
  await inPlace;
  t.ok(seenBroken, 'control: a plain in-place rewrite is seen truncated by the same reader');
});

t.test('the admin’s file with broken markers is left alone, and said so', async (t) => {
  const ns = await netns(t, 'hostsbad');
  const dir = await configDir(t);
  const hosts = join(dir, 'hosts');
  const text = `${FOREIGN}# BEGIN island\n10.3.1.9 old\n`;
  await writeFile(hosts, text);
  const config = join(dir, 'island.toml');
  await writeFile(config, CONFIG('"sopnode-tunnel" = "10.3.1.2"'));
  const r = await runIsland(ns, ['apply', '-c', config], { env: { ISLAND_HOSTS_FILE: hosts } });
  t.equal(r.code, 1);
  t.match(r.stderr, `island: ${hosts}:5: "# BEGIN island" without "# END island" after it; not touching the file`);
  t.equal(await readFile(hosts, 'utf8'), text, 'unchanged');
});
