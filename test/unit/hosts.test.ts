/** island's block in /etc/hosts: text in, text out; the [hosts] section; the atomic replace on a temp dir. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { formatDiagnostic, parseConfig } from '../../src/config/load.js';
import { BEGIN, END, findBlock, HostsFileError, shadowed, withBlock } from '../../src/hosts/block.js';
import { replaceFile } from '../../src/hosts/file.js';
import { hostsStatus, parseSpool, syncHosts } from '../../src/hosts/keeper.js';

const FOREIGN = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
# a comment of the admin's
10.0.0.5 nas   nas.lab
`;
const A = [
  { name: 'sopnode-tunnel', address: '10.3.1.2' },
  { name: 'faraday-tunnel', address: '10.3.1.3' },
];

t.test('added at the end, every other line kept byte for byte', async (t) => {
  const out = withBlock(FOREIGN, A);
  t.equal(out, `${FOREIGN}${BEGIN}\n10.3.1.2\tsopnode-tunnel\n10.3.1.3\tfaraday-tunnel\n${END}\n`);
  t.strictSame(findBlock(out)?.entries, A);
  t.equal(withBlock(out, A), out, 'idempotent');
  const noNewline = FOREIGN.trimEnd();
  t.equal(
    withBlock(noNewline, A),
    `${noNewline}\n${BEGIN}\n10.3.1.2\tsopnode-tunnel\n10.3.1.3\tfaraday-tunnel\n${END}\n`,
  );
  t.equal(withBlock('', A), `${BEGIN}\n10.3.1.2\tsopnode-tunnel\n10.3.1.3\tfaraday-tunnel\n${END}\n`);
});

t.test('changed in place, lines after the block kept; removed entirely when empty', async (t) => {
  const withTail = `${withBlock(FOREIGN, A)}192.0.2.7 added-later\n`;
  const changed = withBlock(withTail, [{ name: 'sopnode-tunnel', address: '10.3.1.9' }]);
  t.equal(changed, `${FOREIGN}${BEGIN}\n10.3.1.9\tsopnode-tunnel\n${END}\n192.0.2.7 added-later\n`);
  t.equal(withBlock(changed, []), `${FOREIGN}192.0.2.7 added-later\n`);
  t.equal(withBlock(FOREIGN, []), FOREIGN, 'no block, no names: untouched');
});

t.test('broken markers: the file is left alone, with its line', async (t) => {
  const lone = `${FOREIGN}${BEGIN}\n10.3.1.2 x\n`;
  t.throws(
    () => withBlock(lone, A, '/etc/hosts'),
    new HostsFileError('/etc/hosts:5: "# BEGIN island" without "# END island" after it; not touching the file'),
  );
  t.throws(() => withBlock(`${END}\n${FOREIGN}`, A), /hosts:1: "# END island" without "# BEGIN island"/);
  const twice = `${withBlock(FOREIGN, A)}${BEGIN}\n${END}\n`;
  t.throws(() => withBlock(twice, []), /hosts:9: a second "# BEGIN island" line/);
});

t.test('a foreign line naming the same host earlier wins in resolvers: said so', async (t) => {
  const text = `${FOREIGN}10.9.9.9 sopnode-tunnel\n`;
  t.strictSame(shadowed(text, A), [{ name: 'sopnode-tunnel', line: 5 }]);
  const after = `${withBlock(FOREIGN, A)}10.9.9.9 sopnode-tunnel\n`;
  t.strictSame(shadowed(after, A), [], 'after the block it loses');
});

t.test('[hosts]: names and addresses checked at their line', async (t) => {
  const r = parseConfig('[hosts]\n"sopnode-tunnel" = "10.3.1.2"\n"v6-end" = "FD00::1"\n', 'f.toml');
  if (!r.ok) return t.fail();
  t.strictSame(r.config.hosts, [
    { name: 'sopnode-tunnel', address: '10.3.1.2' },
    { name: 'v6-end', address: 'fd00::1' },
  ]);
  const bad = parseConfig(
    '[hosts]\n"bad_name" = "10.3.1.2"\nsopnode.tunnel = "10.3.1.3"\n"x" = "10.3.1.300"\n"y" = 5\n"-y" = "10.0.0.1"\n"X" = "10.0.0.2"\n',
    'f.toml',
  );
  t.notOk(bad.ok);
  t.strictSame(bad.ok ? [] : bad.errors.map(formatDiagnostic), [
    'f.toml:2:1: hosts.bad_name: "bad_name" contains "_"; host names use only letters, digits, "-" and "." between labels',
    'f.toml:3:1: hosts.sopnode: quote a name that contains dots so they are not read as tables: "sopnode.tunnel" = "10.3.1.3"',
    'f.toml:4:7: hosts.x: "10.3.1.300" is not a valid IP address',
    'f.toml:5:7: hosts.y: expected an address like "10.3.1.2", got integer',
    'f.toml:6:1: hosts.-y: "-y": a label cannot start or end with "-"',
    'f.toml:7:1: hosts.X: "X" is named twice (first at line 4; host names ignore case)',
  ]);
  const none = parseConfig('', 'f.toml');
  t.ok(none.ok && none.config.hosts === undefined, 'no [hosts]: no key in the config');
});

t.test('the spool handed to island-hosts.service is checked like the file', async (t) => {
  t.strictSame(parseSpool(JSON.stringify({ entries: A })), A);
  t.throws(() => parseSpool('{"entries":[{"name":"a b","address":"10.0.0.1"}]}'), /bad name/);
  t.throws(() => parseSpool('{"entries":[{"name":"ok","address":"10.0.0.1\\n1.2.3.4 evil"}]}'), /bad address/);
  t.throws(() => parseSpool('{}'), /no "entries"/);
});

t.test('replaceFile keeps the mode, leaves no temporary, refuses when the file changed meanwhile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-hosts-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'hosts');
  writeFileSync(path, FOREIGN, { mode: 0o640 });
  t.ok(await replaceFile(path, 'new\n', FOREIGN));
  t.equal(readFileSync(path, 'utf8'), 'new\n');
  t.equal(statSync(path).mode & 0o777, 0o640, 'mode kept');
  t.strictSame(readdirSync(dir), ['hosts'], 'no temporary left');
  t.notOk(await replaceFile(path, 'other\n', 'what it was before'), 'another writer got there first');
  t.equal(readFileSync(path, 'utf8'), 'new\n');
  t.strictSame(readdirSync(dir), ['hosts']);
});

t.test('syncHosts and hostsStatus on a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-hosts-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'hosts');
  writeFileSync(path, FOREIGN);
  t.match(await hostsStatus(A, path), { object: `hosts ${path}`, state: 'missing', detail: '2 names' });
  t.match(await syncHosts(A, path), { from: [], to: A });
  t.equal(await syncHosts(A, path), undefined, 'nothing to do the second time');
  t.match(await hostsStatus(A, path), { state: 'ok', detail: '2 names' });
  t.match(await hostsStatus([A[0]!], path), { state: 'drifted', detail: 'remove faraday-tunnel 10.3.1.3' });
  t.match(await hostsStatus([], path), { state: 'stale' });
  await syncHosts([], path);
  t.equal(readFileSync(path, 'utf8'), FOREIGN, 'back to the admin’s file exactly');
  t.equal(await hostsStatus([], path), undefined);
  t.equal(await syncHosts([], join(dir, 'absent')), undefined, 'no file and no names: nothing created');
});
