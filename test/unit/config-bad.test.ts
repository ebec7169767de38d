/**
 * Every file in test/fixtures/bad carries its expected diagnostics as header comments:
 *   # expect: LINE:COL: key.path: message
 *   # expect: LINE:COL: warning: key.path: message
 * The test demands exactly those lines, in that order (errors by position, then warnings).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { escapeControls } from '../../src/config/diagnostic.js';
import { formatDiagnostic, loadConfig, parseConfig } from '../../src/config/load.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bad');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.toml'))
  .sort();

t.test('there are enough bad fixtures', async (t) => {
  t.ok(files.length >= 35, `${files.length} bad fixtures`);
});

for (const file of files) {
  t.test(file, async (t) => {
    const path = join(dir, file);
    // bytes: some fixtures are not UTF-8 on purpose, and the header lines above them are ASCII
    const bytes = readFileSync(path);
    const text = bytes.toString('utf8');
    const expected = text
      .split('\n')
      .filter((l) => l.startsWith('# expect: '))
      .map((l) => l.slice('# expect: '.length));
    t.ok(expected.length > 0, 'the fixture says what it expects');

    const r = await loadConfig(path);
    t.equal(r.ok, false, 'the file is rejected');
    if (r.ok) return;
    const got = [...r.errors, ...r.warnings].map((d) => {
      const line = formatDiagnostic(d);
      t.ok(line.startsWith(`${path}:`), 'every line starts with the file path');
      // one line each, and nothing a terminal would act on
      t.equal(escapeControls(line), line, 'no control character is printed raw');
      return line.slice(path.length + 1);
    });
    t.strictSame(got, expected);

    // loading is pure: the same bytes give the same answer without the file system
    t.strictSame(parseConfig(bytes, path), r);
  });
}
