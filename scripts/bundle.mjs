#!/usr/bin/env node
/**
 * The CLI and the daemon as one file (esbuild): node reads and compiles one file instead of
 * resolving and linking ~150 modules one by one, which was most of a one-shot run's start.
 * Subcommands stay behind `import()`: their code is in the file but runs only when used.
 * Only the native addon (netlink, island-patched) stays outside, loaded from node_modules.
 *
 *   node scripts/bundle.mjs [DIR (default dist/)] [--no-cache]
 *     writes the bundles (BUNDLES: DIR/island.cjs, every command; island-check.cjs, `island
 *     check`; island-apply.cjs, apply, plan and down), their entries DIR/cli.cjs and DIR/cli.js,
 *     and each bundle's NAME.cache, V8's code cache of it for this node (scripts/code-cache.mjs; not
 *     with --no-cache: the package's node is another, and the package makes them on the host)
 *
 * CommonJS, not ESM: Node 18 and 20 compile an ES module's whole text before running it, a
 * script's functions only when first called (measured, 470 KB bundle, `island --help`: 150 ms
 * CPU as ESM, 80 ms as CommonJS, `node -e 0` 50 ms). The entries are the same few lines twice:
 * cli.cjs, which the bin and /usr/sbin/island (so the units) run, is CommonJS too, so that node
 * never loads its ES module loader (~30 more builtin modules: the lab daemon's idle RSS 51.6 ->
 * 51.1 MiB, ~4 ms less CPU per command); cli.js, an ES module (the package is "type": "module"),
 * is what `node dist/cli.js` in a clone, the tests and the docs name. Each entry also holds the
 * command table's help texts and prints them itself (`island`, `island --help`, `island CMD
 * --help`): the usage needs none of the bundle (--help 80 -> 67 ms CPU, `node -e 0` 63).
 * `npm run build` runs this after tsc, whose dist/ modules the tests and
 * scripts/package-schema.mjs read one by one; the bundle replaces only tsc's dist/cli.js.
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { makeCodeCaches } from './code-cache.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? join(root, 'dist');

/**
 * An entry: compiles the command's bundle with V8's code cache when its .cache fits this node (V8
 * checks the source and its own version and flags, and ignores a cache that does not fit),
 * else as node would; ISLAND_CODE_CACHE="write NAME" (the build) runs NAME.cjs and saves its cache
 * at exit.
 */
const entry = (cjs, help, bundleOf) => `#!/usr/bin/env node
// island's entry point: the command's bundle, island.cjs for those BUNDLE does not name (scripts/bundle.mjs)
${
  cjs
    ? `const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const dir = __dirname;`
    : `import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const dir = dirname(fileURLToPath(import.meta.url));`
}
// \`island\`, \`island --help\`, \`island CMD --help\`: the command table's text (src/commands.ts), which
// the build wrote here, printed as cli.ts's main() prints it, without reading or running the bundle
const HELP = ${JSON.stringify(help)};
// the bundle of a command that has one of its own, less to load than the whole (island.cjs)
const BUNDLE = ${JSON.stringify(bundleOf)};
const argv = process.argv.slice(2);
const [cmd = '', flag] = argv;
const usage =
  argv.length <= 1 && ['', '-h', '--help', 'help'].includes(cmd)
    ? HELP['']
    : argv.length === 2 && cmd !== '' && Object.hasOwn(HELP, cmd) && (flag === '-h' || flag === '--help')
      ? HELP[cmd]
      : undefined;
/**
 * V8's setFlagsFromString from node's own binding: node:v8 would load ~2.5 ms of builtin modules
 * (src/cli/one-shot.ts, which the bundle uses, says more). DEP0111 warns on that read;
 * process.noDeprecation silences it for the read alone.
 */
function v8Flags() {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const f = process.binding('v8').setFlagsFromString;
    if (typeof f === 'function') return f;
  } catch {
    // gone from this node: node:v8 below
  } finally {
    process.noDeprecation = quiet;
  }
  return createRequire(join(dir, 'cli.cjs'))('node:v8').setFlagsFromString;
}

if (usage !== undefined) {
  process.stdout.write(\`\${usage}\\n\`);
  process.exitCode = cmd === '' ? 2 : 0;
} else {
  // ISLAND_CODE_CACHE: the build's and the package's (scripts/code-cache.mjs), for one of the
  // bundles only: a name from the environment never makes a path of its own
  const cache = process.env.ISLAND_CODE_CACHE;
  const write = cache ? [...Object.values(BUNDLE), 'island'].find((b) => cache === \`write \${b}\`) : undefined;
  const name = write ?? (Object.hasOwn(BUNDLE, cmd) ? BUNDLE[cmd] : 'island');
  const file = join(dir, \`\${name}.cjs\`);
  const cacheFile = join(dir, \`\${name}.cache\`);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {}
  const wrapped = \`(function (exports, require, module, __filename, __dirname) {\${readFileSync(file, 'utf8')}\n})\`;
  const setFlags = v8Flags();
  // Before the cache is read, whatever the command: V8 checks a cache against the flags it was
  // written with, and this same entry writes it (scripts/code-cache.mjs). Reading the cache grows
  // the old generation by more than 1 MiB before any mark-compact, which arms V8's memory reducer
  // for small heaps: ~8 s later it runs two incremental mark-compacts (~10-30 ms of CPU) in the
  // idle daemon's quiet time. The daemon gives its start-up garbage back itself, at once
  // (src/memory.ts); a one-shot command exits long before.
  setFlags('--no-memory-reducer-for-small-heaps');
  const script = new Script(wrapped, { filename: file, cachedData });
  const require = createRequire(file);
  // V8 flags for this process, set once the cache is read: on node's command line V8 would refuse a
  // cache built without them (and NODE_OPTIONS refuses most); the unit sets them for the daemon
  if (process.env.ISLAND_V8_FLAGS) setFlags(process.env.ISLAND_V8_FLAGS);
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, file, dir);
  if (write) {
    delete process.env.ISLAND_CODE_CACHE;
    process.on('exit', () => writeFileSync(cacheFile, script.createCachedData()));
  }
}
`;

/**
 * Modules required only when first used, not where their importer starts (esbuild requires an
 * import there): each is stood in for by the same exports, each getter requiring the real
 * module when first read.
 *
 * - node-netlink's socket modules (netlink.js, and raw.js, which rtnl.ts reads through) load the
 *   native addon: `island check` would load netlink because the firewall's pure verdict code
 *   sits in modules beside its sockets;
 * - toml-eslint-parser, ~5 ms to start, reads only a file the fast reader gives up on
 *   (config/quick.ts): bundled, its start deferred;
 * - node:net (with node's stream modules, ~3 ms of a one-shot command's start): a one-shot apply
 *   needs it only for an IPv6 address's isIP() or a running daemon's socket;
 * - node:fs/promises (~1.5 ms: it brings readline's modules): an apply that changes no sysctl
 *   and no /etc/hosts calls none of it.
 */
const LAZY = {
  'netlink/dist/netlink.js': { scan: true },
  'netlink/dist/raw.js': { scan: true },
  'toml-eslint-parser': { scan: false },
  'node:net': { scan: false },
  'node:fs/promises': { scan: false },
};
const lazy = {
  name: 'lazy',
  setup(b) {
    // LAZY's names, as they are written
    const filter = new RegExp(
      `^(${Object.keys(LAZY)
        .map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
        .join('|')})$`,
    );
    b.onResolve({ filter }, (a) => {
      // the stand-in's own require: the real module, outside or in the bundle
      if (a.namespace === 'lazy') return undefined;
      return { path: a.path, namespace: 'lazy' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (a) => {
      // the names only: an external is not loaded here (netlink's addon), a bundled one is plain JS
      const names = LAZY[a.path].scan
        ? [
            ...new Set(
              [
                ...readFileSync(join(root, 'node_modules', a.path), 'utf8').matchAll(/^exports\.(\w+) = (?!void 0)/gm),
              ].map((m) => m[1]),
            ),
          ]
        : Object.keys(createRequire(join(root, 'package.json'))(a.path));
      if (!names.length) throw new Error(`${a.path}: no exports found to stand in for`);
      const getters = names.map((n) => `get ${n}() { return load().${n}; }`).join(',\n  ');
      return {
        contents: `let real;\nconst load = () => (real ??= require(${JSON.stringify(a.path)}));\nmodule.exports = {\n  ${getters}\n};\n`,
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};

/**
 * node-netlink's JavaScript is bundled, so that it is in the code cache rather than compiled at
 * each run, and resolved once, with the bundle. Its addon stays in node_modules: raw.js loads it
 * through node-gyp-build, whose first choice, unless its two variables say otherwise, is the one
 * file of build/Release (the patched build, scripts/build-native.mjs; the package ships only
 * that). In the bundle that file is required by its path, found from the bundle's directory as
 * node would find netlink (dist/ beside node_modules, in a clone and in /usr/lib/island), and
 * node-gyp-build is loaded only when it is not there: its load (resolving netlink, reading its
 * package.json, listing build/Release) and the compile of node-netlink's modules cost a
 * one-shot apply ~4 ms CPU.
 */
const NETLINK_ADDON = [
  "const binding = require('node-gyp-build')(__dirname + '/..');",
  `const binding = (() => {
  const { existsSync } = require('node:fs');
  const { dirname, join } = require('node:path');
  if (!process.env.PREBUILDS_ONLY && !process.env.NETLINK_PREBUILD) {
    const built = join(__dirname, '..', 'node_modules', 'netlink', 'build', 'Release', 'netlink_binding.node');
    if (existsSync(built)) return require(built);
  }
  return require('node-gyp-build')(dirname(require.resolve('netlink/package.json')));
})();`,
];
const netlinkAddon = {
  name: 'netlink-addon',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]netlink[\\/]dist[\\/]raw\.js$/ }, (a) => {
      const text = readFileSync(a.path, 'utf8');
      const [from, to] = NETLINK_ADDON;
      if (text.split(from).length !== 2) throw new Error(`${a.path}: expected once: ${from}`);
      return { contents: text.replace(from, to), loader: 'js' };
    });
  },
};

/**
 * pino's worker-thread machinery, which island never runs, required when first used instead of
 * where pino starts: its transports (pino.transport(): a worker_threads Worker, via thread-stream)
 * are not used, and island's destinations are synchronous, so tools.js never reads isMainThread.
 * Loaded, they kept node's worker_threads and its modules in the daemon (idle lab daemon, with
 * memory.ts's GC through the inspector's binding: -0.2 MiB). A pino whose text differs fails the
 * build: see what it does there now.
 */
const PINO_LAZY = {
  'tools.js': [
    [
      "const { isMainThread } = require('worker_threads')",
      "const isMainThread = () => require('worker_threads').isMainThread",
    ],
    ['!opts.sync && isMainThread)', '!opts.sync && isMainThread())'],
  ],
  'transport.js': [
    [
      "const ThreadStream = require('thread-stream')",
      "let RealThreadStream\nconst ThreadStream = function (opts) { return new (RealThreadStream ??= require('thread-stream'))(opts) }",
    ],
  ],
};
const pinoLazy = {
  name: 'pino-lazy',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pino[\\/]lib[\\/](tools|transport)\.js$/ }, (a) => {
      let text = readFileSync(a.path, 'utf8');
      for (const [from, to] of PINO_LAZY[basename(a.path)] ?? []) {
        if (text.split(from).length !== 2) throw new Error(`${a.path}: expected once: ${from}`);
        text = text.replace(from, to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

/** What the bundle and the help texts' own build (below) are built with. */
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  // Debian 12's nodejs
  target: 'node18.19',
  // raw.js's fallback, below: netlink's node-gyp-build, as raw.js loads it, on the addon's directory
  external: ['netlink/package.json', 'node-gyp-build'],
  plugins: [lazy, netlinkAddon, pinoLazy],
  // the one use, netlink/addon.ts, resolves the addon from where the bundle is
  define: { 'import.meta.url': '__islandUrl' },
  banner: { js: "const __islandUrl = require('node:url').pathToFileURL(__filename).href;" },
  // import() of an external (node:inspector, memory.ts) as require(): the bundle then runs as a plain
  // vm.Script, which has no module loader for import()
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
};

/**
 * The bundles: island.cjs, every command (the daemon, status, try...); and, for the one-shot
 * commands that matter most, bundles of their own code: cli.ts's main() as in the whole one,
 * its other commands' import()s stood in for by nothing (the entries run each bundle for its
 * `serves` only), so much less text and code cache to load (a 500-tunnel check: 380 of 728 KB,
 * ~4 ms CPU less; apply, plan, down: 416 KB, read and compile ~3 ms less, no pino, no daemon).
 * island-check.cjs: check, which every reload runs; island-apply.cjs: apply, plan and down (fit
 * nodes join at boot), and check, whose run the build makes the code caches from.
 */
const BUNDLES = [
  { name: 'island' },
  { name: 'island-check', commands: ['check'], serves: ['check'] },
  { name: 'island-apply', commands: ['check', 'apply', 'plan', 'down'], serves: ['apply', 'plan', 'down'] },
];

/** cli.ts's import()s of the commands a bundle holds not (cli/NAME.ts each), as nothing. */
const only = (name, commands) => ({
  name: 'only',
  setup(b) {
    const cli = join(root, 'src', 'cli.ts');
    const kept = new Set(commands.map((c) => `./cli/${c}.js`));
    b.onResolve({ filter: /.*/ }, (a) =>
      a.kind === 'dynamic-import' && a.importer === cli && !kept.has(a.path)
        ? { path: a.path, namespace: 'only' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'only' }, (a) => ({
      contents: `throw new Error(${JSON.stringify(`${a.path}: not in ${name}.cjs`)});`,
      loader: 'js',
    }));
  },
});

for (const { name, commands } of BUNDLES)
  await build({
    ...common,
    plugins: [...common.plugins, ...(commands ? [only(name, commands)] : [])],
    entryPoints: [join(root, 'src', 'cli.ts')],
    outfile: join(out, `${name}.cjs`),
    // smaller text to read and pre-parse; names kept for ISLAND_DEBUG's stack traces
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
  });

/**
 * The command table's help texts (src/commands.ts HELP), for the entries: commands.ts bundled
 * alone and run here (it has no side effects), so that the text an entry prints is the table's.
 */
async function helpTexts() {
  const r = await build({ ...common, entryPoints: [join(root, 'src', 'commands.ts')], write: false });
  const m = { exports: {} };
  const file = join(out, 'commands.cjs');
  new Function('module', 'exports', 'require', '__filename', r.outputFiles[0].text)(
    m,
    m.exports,
    createRequire(file),
    file,
  );
  return m.exports.HELP;
}
const help = await helpTexts();
const bundleOf = Object.fromEntries(BUNDLES.flatMap(({ name, serves = [] }) => serves.map((c) => [c, name])));
// src/cli.ts's shebang is cli.js's business: in a function body it is a syntax error
for (const { name } of BUNDLES) {
  const bundle = join(out, `${name}.cjs`);
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replace(/^#!.*\n/, ''));
  // loaded, never run: not executable (lintian: executable-not-elf-or-script)
  chmodSync(bundle, 0o644);
}
for (const [name, cjs] of [
  ['cli.cjs', true],
  ['cli.js', false],
]) {
  writeFileSync(join(out, name), entry(cjs, help, bundleOf));
  chmodSync(join(out, name), 0o755);
}
// the code caches for this node (scripts/code-cache.mjs, which the package runs on the host for
// its node); a package built here would carry caches for the wrong node, so --no-cache leaves
// them out
const names = BUNDLES.map(({ name }) => name);
for (const name of names) rmSync(join(out, `${name}.cache`), { force: true });
if (!process.argv.includes('--no-cache')) makeCodeCaches(out, names, 'bundle');
