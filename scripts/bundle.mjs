#!/usr/bin/env node
/**
 * The CLI and the daemon as one file (esbuild): node reads and compiles one file instead of
 * resolving and linking ~150 modules one by one, which was most of a one-shot run's start.
 * Subcommands stay behind `import()`: their code is in the file but runs only when used.
 * Only the native addons (netlink, node-unix-socket) stay outside, loaded from node_modules.
 *
 *   node scripts/bundle.mjs [DIR (default dist/)]   writes DIR/island.cjs and DIR/cli.js
 *
 * CommonJS, not ESM: Node 18 and 20 compile an ES module's whole text before running it, a
 * script's functions only when first called (measured, 470 KB bundle, `island --help`: 150 ms
 * CPU as ESM, 80 ms as CommonJS, `node -e 0` 50 ms). cli.js, the entry every caller knows (bin,
 * /usr/sbin/island, the units), stays a two-line ES module that loads it.
 * `npm run build` runs this after tsc, whose dist/ modules the tests and
 * scripts/package-schema.mjs read one by one; the bundle replaces only tsc's dist/cli.js.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'dist');

await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  outfile: join(out, 'island.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  // Debian 12's nodejs
  target: 'node18.19',
  external: ['netlink', 'node-unix-socket'],
  // the one use, netlink/addon.ts, resolves the addon from where the bundle is
  define: { 'import.meta.url': '__islandUrl' },
  banner: { js: "const __islandUrl = require('node:url').pathToFileURL(__filename).href;" },
  // smaller text to read and pre-parse; names kept for ISLAND_DEBUG's stack traces
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
});
writeFileSync(
  join(out, 'cli.js'),
  "#!/usr/bin/env node\n// island's entry point: the bundle (scripts/bundle.mjs)\nimport { createRequire } from 'node:module';\n\ncreateRequire(import.meta.url)('./island.cjs');\n",
);
chmodSync(join(out, 'cli.js'), 0o755);
