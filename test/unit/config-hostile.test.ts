/**
 * Hostile and damaged files: bytes that are not UTF-8, integers beyond 64 bits, nesting deep
 * enough to overflow a recursive parser, and values made to rewrite a terminal. Each ends in
 * positioned one-line diagnostics, never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { escapeControls } from '../../src/config/diagnostic.js';
import { formatDiagnostic, type LoadResult, loadConfigText, parseConfig } from '../../src/config/load.js';
import { decodeUtf8, MAX_NESTING, tooDeep } from '../../src/config/text.js';
import { CLI } from '../helpers/island.js';

const lines = (r: LoadResult): string[] =>
  (r.ok ? r.warnings : [...r.errors, ...r.warnings]).map((d) => formatDiagnostic(d).slice('f.toml:'.length));
const parse = (input: string | Uint8Array): string[] => lines(parseConfig(input, 'f.toml'));
const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

const NOT_UTF8 = 'is not UTF-8 here; TOML files are UTF-8 (re-save the file as UTF-8)';

t.test('invalid UTF-8 is refused at the line and column of the first bad byte', async (t) => {
  const cases: [string, Buffer, string][] = [
    [
      'a lone continuation byte in a comment',
      bytes('# ok\n# caf', [0xa9], '\n'),
      `2:6: invalid TOML: byte 0xa9 ${NOT_UTF8}`,
    ],
    ['Latin-1 in a string', bytes('[hosts]\n"a" = "', [0xe9], '"\n'), `2:8: invalid TOML: byte 0xe9 ${NOT_UTF8}`],
    ['an overlong "/"', bytes('# ', [0xc0, 0xaf], '\n'), `1:3: invalid TOML: byte 0xc0 ${NOT_UTF8}`],
    ['a UTF-16 surrogate', bytes('#', [0xed, 0xa0, 0x80], '\n'), `1:2: invalid TOML: byte 0xed ${NOT_UTF8}`],
    ['beyond U+10FFFF', bytes('#', [0xf4, 0x90, 0x80, 0x80], '\n'), `1:2: invalid TOML: byte 0xf4 ${NOT_UTF8}`],
    [
      'a sequence cut by the end of the file',
      bytes('# \u00e9 ', [0xe2, 0x82]),
      `1:5: invalid TOML: byte 0xe2 ${NOT_UTF8}`,
    ],
    // columns count as the parser's do: UTF-16 code units, after a byte-order mark
    [
      'after an emoji and a BOM',
      bytes([0xef, 0xbb, 0xbf], '# \u{1F3DD} ', [0xff]),
      `1:6: invalid TOML: byte 0xff ${NOT_UTF8}`,
    ],
  ];
  for (const [what, input, want] of cases) t.strictSame(parse(input), [want], what);
  // the same characters well-formed are fine
  t.strictSame(parse(bytes('# caf\u00e9 \u{1F3DD} \u5cf6\n[hosts]\n"a" = "10.3.1.3"\n')), []);
});

t.test('loadConfigText gives no text for a file that is not UTF-8', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-hostile-'));
  const path = join(dir, 'latin1.toml');
  writeFileSync(path, bytes('# fa', [0xe7], 'ade\n'));
  const { result, text } = await loadConfigText(path);
  t.equal(text, undefined);
  t.match(result, { ok: false, errors: [{ line: 1, col: 5, message: /byte 0xe7 is not UTF-8/ }] });
  t.ok(decodeUtf8(bytes('\u00e7')).ok);
});

t.test('integers must fit in 64 bits, as TOML 1.0 says', async (t) => {
  const big = (v: string) => parse(`[sysctl]\n"net.core.x" = ${v}\n`);
  t.strictSame(big('9223372036854775807'), []);
  t.strictSame(big('-9223372036854775808'), []);
  t.strictSame(big('0x7fffffffffffffff'), []);
  const range = '(TOML integers are -9223372036854775808 to 9223372036854775807)';
  t.strictSame(big('9223372036854775808'), [
    `2:16: invalid TOML: 9223372036854775808 does not fit in 64 bits ${range}`,
  ]);
  t.strictSame(big('-9223372036854775809'), [
    `2:16: invalid TOML: -9223372036854775809 does not fit in 64 bits ${range}`,
  ]);
  t.strictSame(big('0x8000000000000000'), [`2:16: invalid TOML: 9223372036854775808 does not fit in 64 bits ${range}`]);
  // inside arrays and inline tables too, at the integer itself
  t.strictSame(parse('[[bridge]]\nname = "b"\nports = [1, { x = 99999999999999999999 }]\n'), [
    `3:19: invalid TOML: 99999999999999999999 does not fit in 64 bits ${range}`,
  ]);
});

t.test('nesting: 100 levels are read, 101 are refused at the bracket, 10,000 never overflow the stack', async (t) => {
  const nest = (n: number) => `[sysctl]\n"net.x" = ${'['.repeat(n)}${']'.repeat(n)}\n`;
  t.strictSame(parse(nest(MAX_NESTING)), ['2:11: sysctl."net.x": expected an integer or a string, got array']);
  const deep = "arrays and inline tables are nested more than 100 deep here; island's keys need at most 3";
  t.strictSame(parse(nest(MAX_NESTING + 1)), [`2:${11 + MAX_NESTING}: ${deep}`]);
  const started = performance.now();
  t.strictSame(parse(nest(10_000)), [`2:${11 + MAX_NESTING}: ${deep}`]);
  t.strictSame(parse(`x = ${'{a='.repeat(10_000)}1${'}'.repeat(10_000)}\n`), [`1:${5 + 3 * MAX_NESTING}: ${deep}`]);
  t.strictSame(parse(`x = ${'['.repeat(100_000)}`), [`1:${5 + MAX_NESTING}: ${deep}`], 'unterminated too');
  t.ok(performance.now() - started < 3000, 'quickly (the parser alone overflowed the stack)');
});

t.test('the nesting scan skips comments and every kind of string', async (t) => {
  const b = '['.repeat(150);
  for (const text of [
    `# ${b}\n`,
    `a = "${b}"\n`,
    `a = "\\"${b}"\n`,
    `a = '${b}'\n`,
    `a = """\n${b}\n"""\n`,
    `a = """ \\"""${b} """\n`,
    `a = """x""""\nb = "${b}"\n`,
    `a = '''\n${b}'''\n`,
    `a = """line \\\n${b}"""\n`,
  ])
    t.equal(tooDeep(text), undefined, JSON.stringify(text.slice(0, 20)));
  // and keeps counting lines through multi-line strings
  t.strictSame(tooDeep(`a = """\n\n"""\nb = ${'['.repeat(101)}`), { line: 4, col: 105 });
});

t.test('a diagnostic never prints a raw control character', async (t) => {
  const d = {
    path: 'f.toml',
    line: 1,
    col: 1,
    key: '',
    message: 'a\nf.toml:1:1: ok\r\u001b[2J\u0007\u007f\u009b31m\u2028\u202e\u2066\tz',
    severity: 'error' as const,
  };
  const out = formatDiagnostic(d);
  t.equal(out, 'f.toml:1:1: a\\nf.toml:1:1: ok\\r\\u001b[2J\\u0007\\u007f\\u009b31m\\u2028\\u202e\\u2066\\tz');
  t.equal(escapeControls(out), out, 'nothing left to escape');
  t.equal(escapeControls('caf\u00e9 \u5cf6 \u{1F3DD}'), 'caf\u00e9 \u5cf6 \u{1F3DD}', 'printable text is untouched');
  // the file path too: it is part of the line
  t.equal(formatDiagnostic({ ...d, path: 'a\nb.toml', message: 'm' }), 'a\\nb.toml:1:1: m');
});

t.test('island check on a hostile file: exit 1, one line each, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-hostile-'));
  const files: [string, Buffer | string][] = [
    ['deep.toml', `[[bridge]]\nname = "b"\nports = ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`],
    ['inline.toml', `x = ${'{ a = '.repeat(10_000)}1${' }'.repeat(10_000)}\n`],
    ['latin1.toml', bytes('[[bridge]] # caf', [0xe9], '\nname = "b"\n')],
    ['forge.toml', '[[tunnel]]\nname = "x\\nforge.toml:1:1: ok\\u001b[2K"\n'],
  ];
  for (const [name, content] of files) {
    const path = join(dir, name);
    writeFileSync(path, content);
    const r = spawnSync(process.execPath, [CLI, 'check', '-c', path], { encoding: 'utf8' });
    t.equal(r.status, 1, `${name}: exit 1`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
    t.notMatch(r.stderr, /Maximum call stack|at .*\.js:\d+|island: /, `${name}: no stack trace`);
    for (const line of r.stderr.trimEnd().split('\n')) {
      t.match(line, new RegExp(`^${path}:\\d+:\\d+: `), line);
      t.equal(escapeControls(line), line, `${name}: no raw control character`);
    }
    t.notMatch(r.stderr, /^[^\n]*: ok$/m, `${name}: no line can pass for "ok"`);
  }
});
