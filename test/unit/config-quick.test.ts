/**
 * config/quick.ts reads a plain subset of TOML 1.0 in one pass: wherever it answers, the full
 * reader (toml-eslint-parser, locate.ts) must accept the text and give the same values and the
 * same positions; anything else it must leave to the full reader.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parseToml } from '../../src/config/locate.js';
import { NeedPositions, quickRead } from '../../src/config/quick.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** quickRead's answer, held against the full reader's; whether it answered */
function same(t: Test, text: string, what: string): boolean {
  const q = quickRead(text);
  if (!q) return false;
  const p = parseToml(text);
  if (!p.ok) {
    t.fail(`${what}: the fast reader accepts what the full one refuses (${p.message})`);
    return true;
  }
  t.strictSame(q.value, p.value, `${what}: the same values`);
  for (const s of ['tunnel', 'bridge', 'link', 'route']) {
    const list = q.value[s];
    if (!Array.isArray(list)) continue;
    list.forEach((e: Record<string, unknown>, i) => {
      t.strictSame(q.locator.at([s, i], 'value'), p.locator.at([s, i], 'value'), `${what}: ${s} ${i}'s header`);
      const addresses = Array.isArray(e.addresses) ? e.addresses : [];
      addresses.forEach((_, j) => {
        const path = [s, i, 'addresses', j];
        t.strictSame(q.locator.at(path, 'value'), p.locator.at(path, 'value'), `${what}: ${path.join('.')}`);
      });
    });
  }
  return true;
}

t.test('every fixture and example: the fast reader answers as the full one, or leaves it', async (t) => {
  let answered = 0;
  const dirs = ['test/fixtures/good', 'test/fixtures/bad', 'test/fixtures/firewall', 'etc', 'etc/examples'];
  for (const d of dirs)
    for (const f of readdirSync(join(root, d)).filter((f) => f.endsWith('.toml')))
      if (same(t, readFileSync(join(root, d, f), 'utf8'), `${d}/${f}`)) answered++;
  t.ok(answered > 90, `answered ${answered}`);
});

t.test('the subset it reads, and what it leaves to the full reader', async (t) => {
  const reads = [
    'a = 1\nb = -2\nc = +3\nd = 1_000\ne = true\nf = false\ng = "x y"\nh = \'lit\\eral\'\n',
    '"quoted key" = 1\n\'literal key\' = 2\n"" = 3\n',
    'x = 1\r\ny = [\r\n  1, # one\r\n  2,\r\n]\r\n',
    'x = [ [1, 2], ["a"], [] ]\ny = { a = 1, "b" = "c", d = { e = [1] } }\nz = {}\n',
    '# comment\n\n  [[tunnel]] # first\n  name = "a"\n  addresses = [ "10.0.0.1/24",\n    \'10.0.1.1/24\' ]\n[[tunnel]]\nname = "b"\n',
    '[forward]\naccept = ["a"]\n[[forward.rule]]\nin = "a"\n[[forward.rule]]\nout = "b"\n[ sysctl ]\n"net.ipv4.ip_forward" = 1\n',
    '[[ tunnel ]]\nname = "a"\n[tunnel.sub]\nx = 1\n',
    'x = "tab\there"\ny = "ünïcødé ✓"\n',
    'x = 1',
    '',
  ];
  for (const text of reads) t.ok(same(t, text, JSON.stringify(text)), `reads ${JSON.stringify(text)}`);
  const leaves = [
    'a = 1.5\n',
    'a = 1e3\n',
    'a = 1979-05-27\n',
    'a = 07:32:00\n',
    'a = inf\n',
    'a = 0x10\n',
    'a = 99999999999999999999\n',
    'a = """x"""\n',
    "a = '''x'''\n",
    'a = "x\\ny"\n',
    'a.b = 1\n',
    '"a".b = 1\n',
    '__proto__ = 1\n',
    '[a]\nx = {}\n[a.x.y]\n',
    '[a.b]\n[a]\n',
    '[[a]]\n[a]\n',
    't = []\n[[t]]\n',
    // TOML's own errors: the full reader says them with their position
    'a = 01\n',
    'a = 1__0\n',
    'a = 1_\n',
    'a = {b = 1,}\n',
    'a = {b = 1,\nc = 2}\n',
    'a = 1 b = 2\n',
    'a = 1\ra = 2\n',
    'a = 1\na = 2\n',
    '[a]\n[a]\n',
    'x = [1 2]\n',
    'x = [1,,2]\n',
    'x = # nothing\n',
    'x =\n1\n',
    '# \u0001 control\n',
    'x = "\u007f"\n',
    'x = "unterminated\n',
    'x = truex\n',
    '[a]]\n',
    '[[a]\n',
    '[ [a] ]\n',
    '[]\n',
    `${'x = '}${'['.repeat(40)}${']'.repeat(40)}\n`,
  ];
  for (const text of leaves) {
    t.equal(quickRead(text), undefined, `leaves ${JSON.stringify(text)}`);
  }
});

t.test('a position it cannot give throws NeedPositions', async (t) => {
  const q = quickRead('[[tunnel]]\nname = "a"\naddresses = ["10.0.0.1/24"]\n');
  if (!q) throw new Error('the fast reader gave up');
  t.strictSame(q.locator.at(['tunnel', 0], 'value'), { line: 1, col: 1 });
  t.strictSame(q.locator.at(['tunnel', 0, 'addresses', 0], 'value'), { line: 3, col: 14 });
  const needs = (f: () => unknown, what: string): void => {
    try {
      f();
      t.fail(`${what}: answered`);
    } catch (e) {
      t.ok(e instanceof NeedPositions, what);
    }
  };
  needs(() => q.locator.at(['tunnel', 0, 'name'], 'value'), 'a key');
  needs(() => q.locator.at(['tunnel', 0, 'addresses', 1], 'value'), 'an element not written');
  needs(() => q.locator.node(['tunnel', 0]), 'a node');
});
