/**
 * The entries (dist/cli.cjs, dist/cli.js, written by scripts/bundle.mjs) print the help texts
 * themselves, without the bundle: what they print, and how they exit, must be what the bundle's
 * own main() (src/cli.ts) does for the same command line, and the text the command table's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { HELP } from '../../src/commands.js';
import { cacheUseOf, PROBE_JS } from '../helpers/code-cache-probe.js';

const DIST = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'dist');
const BUNDLE = join(DIST, 'island.cjs');
/** a valid file, for the commands that must read one */
const GOOD = join(DIST, '..', 'test', 'fixtures', 'good', 'empty.toml');
/** the commands with a bundle of their own (scripts/bundle.mjs BUNDLES), which the entries run for them */
const OWN: Record<string, string> = {
  check: 'island-check.cjs',
  apply: 'island-apply.cjs',
  plan: 'island-apply.cjs',
  down: 'island-apply.cjs',
};

function run(file: string, args: string[]) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // tap's loaders are for the test, not for island
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const COMMANDS = Object.keys(HELP).filter((c) => c !== '');
const LINES: string[][] = [
  [],
  [''],
  ['--help'],
  ['-h'],
  ['help'],
  ...COMMANDS.map((c) => [c, '--help']),
  ['check', '-h'],
  // not the entries' to answer: the bundle says what is wrong
  ['nope'],
  ['nope', '--help'],
  ['check', '--help', '-c', '/nonexistent'],
  ['check', '-c', '/nonexistent'],
  ['plan', '-c', '/nonexistent'],
  ['apply', '--bogus'],
  ['check', '--bogus', '--help'],
  ['--help', 'check'],
  ['help', 'me'],
];

t.test('the entries answer as the bundle does', (t) => {
  for (const f of [
    BUNDLE,
    ...Object.values(OWN).map((b) => join(DIST, b)),
    join(DIST, 'cli.cjs'),
    join(DIST, 'cli.js'),
  ])
    t.ok(existsSync(f), `${f} exists (npm run build first); not skipping`);
  for (const args of LINES) {
    const want = run(BUNDLE, args);
    for (const entry of ['cli.cjs', 'cli.js'])
      t.same(run(join(DIST, entry), args), want, `${entry} ${JSON.stringify(args)}`);
    // the command's own bundle, which the entries run for it
    const own = OWN[args[0] ?? ''];
    if (own) t.same(run(join(DIST, own), args), want, `${own} ${JSON.stringify(args)}`);
  }
  t.end();
});

t.test("the help the entries print is the command table's", (t) => {
  const usage = run(join(DIST, 'cli.cjs'), ['--help']);
  t.equal(usage.stdout, `${HELP['']}\n`);
  t.equal(usage.status, 0);
  t.equal(run(join(DIST, 'cli.cjs'), []).status, 2, 'island alone: usage, exit 2');
  t.equal(run(join(DIST, 'cli.cjs'), ['check', '--help']).stdout, `${HELP.check}\n`);
  t.end();
});

t.test('ISLAND_CODE_CACHE writes the cache of a bundle, never a path it names', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // what a NAME made into a path would run, and where its cache would go
  writeFileSync(join(dir, 'stray.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'ran'))}, '');\n`);
  for (const name of [join(relative(DIST, dir), 'stray'), join(dir, 'stray'), 'island.cjs', '']) {
    const env: NodeJS.ProcessEnv = { ...process.env, ISLAND_CODE_CACHE: `write ${name}` };
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, [join(DIST, 'cli.cjs'), 'check', '-c', GOOD], { encoding: 'utf8', env });
    t.equal(r.status, 0, `check runs as usual with write ${JSON.stringify(name)}: ${r.stderr}`);
  }
  t.same(readdirSync(dir), ['stray.cjs'], 'nothing run or written outside dist/');
  t.notOk(existsSync(join(DIST, 'island.cjs.cache')), 'nor a cache of a name that is no bundle');
  t.end();
});

t.test("each bundle's code cache, as the build made it, is what the entries compile with", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const probe = join(dir, 'probe.cjs');
  writeFileSync(probe, PROBE_JS);
  // V8 refuses a cache written under other flags: the entry sets its own before it reads one, and
  // the unit's ISLAND_V8_FLAGS (the daemon's bundle) come after
  const uses: [string[], NodeJS.ProcessEnv, string][] = [
    [['check', '-c', GOOD], {}, 'island-check.cjs: accepted'],
    [['plan', '-c', '/nonexistent'], {}, 'island-apply.cjs: accepted'],
    [['graph', '-c', '/nonexistent'], {}, 'island.cjs: accepted'],
    [['graph', '-c', '/nonexistent'], { ISLAND_V8_FLAGS: '--no-opt' }, 'island.cjs: accepted'],
  ];
  for (const entry of ['cli.cjs', 'cli.js'])
    for (const [args, extra, want] of uses) {
      const env: NodeJS.ProcessEnv = { ...process.env, ...extra, NODE_OPTIONS: `--require=${probe}` };
      const r = spawnSync(process.execPath, [join(DIST, entry), ...args], { encoding: 'utf8', env });
      t.equal(cacheUseOf(r.stderr), want, `${entry} ${args.join(' ')} ${JSON.stringify(extra)}`);
    }
  t.end();
});
