/**
 * config/fast.ts walks zod's schemas without zod: wherever it answers, zod must give the same
 * answer. Every entry of every fixture (good and bad) against every shape it could be read with:
 * its kind's, its table's, and each other table's (so that wrong types meet each schema too).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { z } from 'zod';
import { fastStrict } from '../../src/config/fast.js';
import { hostShape, islandShape, siteShape } from '../../src/config/island.js';
import { parseToml } from '../../src/config/locate.js';
import {
  bridgeShape,
  daemonShape,
  forwardRuleShape,
  forwardShape,
  routeShape,
  type Shape,
  topShape,
} from '../../src/config/schema.js';
import { anyShape, kindsOf, shapeOf } from '../../src/kinds/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

const shapes: [string, Shape][] = [
  ['top', topShape],
  ['any tunnel', anyShape('tunnel')],
  ['any link', anyShape('link')],
  ['bridge', bridgeShape],
  ['route', routeShape],
  ['daemon', daemonShape],
  ['forward', forwardShape],
  ['forward rule', forwardRuleShape],
  ['island', islandShape],
  ['site', siteShape],
  ['host', hostShape],
  ...[...kindsOf('tunnel'), ...kindsOf('link')].map((k): [string, Shape] => [k.kind, shapeOf(k)]),
];

/** the file's tables, and each entry of its arrays of tables */
function entries(root: Record<string, unknown>): unknown[] {
  const out: unknown[] = [root];
  for (const v of Object.values(root)) {
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      for (const w of Object.values(v)) if (Array.isArray(w)) out.push(...w);
  }
  return out;
}

t.test(
  'wherever the fast walk answers, zod says the same; on good files it answers for every valid entry',
  async (t) => {
    let answered = 0;
    let compared = 0;
    for (const sub of ['good', 'bad']) {
      for (const f of readdirSync(join(fixtures, sub)).filter((f) => f.endsWith('.toml'))) {
        const parsed = parseToml(readFileSync(join(fixtures, sub, f), 'utf8'));
        if (!parsed.ok) continue;
        for (const raw of entries(parsed.value)) {
          for (const [name, shape] of shapes) {
            const fast = fastStrict(shape, raw);
            const slow = z.object(shape).strict().safeParse(raw);
            compared++;
            if (fast !== undefined) {
              answered++;
              if (!slow.success) t.fail(`${sub}/${f}: ${name}: fast accepts what zod refuses: ${JSON.stringify(raw)}`);
              else t.strictSame(fast, slow.data, `${sub}/${f}: ${name}`);
            } else if (slow.success && sub === 'good') {
              t.fail(`${sub}/${f}: ${name}: zod accepts what the fast walk gave up on: ${JSON.stringify(raw)}`);
            }
          }
        }
      }
    }
    t.ok(answered > 100, `the fast walk answered ${answered} of ${compared}`);
  },
);
