/**
 * A link kind is one file under src/kinds/ plus its line in the registry: no other source file
 * names a kind as a string ("vxlan", 'ipip', `gre`), so that adding a kind touches nothing
 * else. A kind whose name is also its table's ([[bridge]]) is the table there, and is allowed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { kinds } from '../../src/kinds/index.js';
import { REPO } from '../helpers/island.js';

const SRC = join(REPO, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return p === join(SRC, 'kinds') ? [] : files(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const names = Object.values(kinds)
  .filter((k) => k.kind !== k.table)
  .map((k) => k.kind);
const literal = new RegExp(`["'\`](${names.join('|')})["'\`]`);

t.ok(names.length >= 2, `kind names looked for: ${names.join(', ')}`);
t.ok(files(SRC).length > 50, 'the sources are found');

const found: string[] = [];
for (const file of files(SRC)) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const code = line.trim();
      // comments say why, in words: a kind named there is no dispatch on it
      if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return;
      const m = literal.exec(line);
      if (m) found.push(`${relative(REPO, file)}:${i + 1}: ${m[0]}: ${code}`);
    });
}
t.same(found, [], 'no file outside src/kinds/ names a kind as a string: ask the registry (src/kinds/index.ts)');
