/** The config API itself: formatting, file errors, ordering, and the checks that fixtures cannot show well. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { editDistance, formatKeyPath, suggest } from '../../src/config/diagnostic.js';
import { type Diagnostic, formatDiagnostic, type LoadResult, loadConfig, parseConfig } from '../../src/config/load.js';

const TUNNEL = `[[tunnel]]
name = "island0"
kind = "ipip"
local = "192.168.3.100"
remote = "138.96.245.50"
addresses = ["10.3.1.3/24"]
`;

/** `LINE:COL: key: message` lines of a result, errors then warnings. */
function lines(r: LoadResult): string[] {
  const all = r.ok ? r.warnings : [...r.errors, ...r.warnings];
  return all.map((d) => formatDiagnostic(d).slice('f.toml:'.length));
}

const parse = (text: string): string[] => lines(parseConfig(text, 'f.toml'));

t.test('formatDiagnostic', async (t) => {
  const d: Diagnostic = {
    path: '/etc/island.toml',
    line: 7,
    col: 7,
    key: 'tunnel[1].vni',
    message: 'm',
    severity: 'error',
  };
  t.equal(formatDiagnostic(d), '/etc/island.toml:7:7: tunnel[1].vni: m');
  t.equal(formatDiagnostic({ ...d, key: '' }), '/etc/island.toml:7:7: m');
  t.equal(formatDiagnostic({ ...d, severity: 'warning' }), '/etc/island.toml:7:7: warning: tunnel[1].vni: m');
  t.equal(formatDiagnostic({ ...d, key: '', severity: 'warning' }), '/etc/island.toml:7:7: warning: m');
});

t.test('key paths quote what TOML would quote', async (t) => {
  t.equal(formatKeyPath(['tunnel', 1, 'vni']), 'tunnel[1].vni');
  t.equal(formatKeyPath(['tunnel', 0, 'addresses', 1]), 'tunnel[0].addresses[1]');
  t.equal(formatKeyPath(['sysctl', 'net.ipv4.ip_forward']), 'sysctl."net.ipv4.ip_forward"');
  t.equal(formatKeyPath([]), '');
});

t.test('loadConfig reports an unreadable file as one diagnostic at 1:1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'island-config-'));
  const missing = join(dir, 'nope.toml');
  t.strictSame(await loadConfig(missing), {
    ok: false,
    errors: [{ path: missing, line: 1, col: 1, key: '', message: 'cannot read: no such file', severity: 'error' }],
    warnings: [],
  });
  const r = await loadConfig(dir);
  t.equal(r.ok, false);
  if (!r.ok)
    t.equal(formatDiagnostic(r.errors[0] as Diagnostic), `${dir}:1:1: cannot read: is a directory, not a file`);

  const locked = join(dir, 'locked.toml');
  writeFileSync(locked, TUNNEL);
  chmodSync(locked, 0);
  const root = process.getuid?.() === 0;
  const l = await loadConfig(locked);
  if (root) t.equal(l.ok, true, 'root reads it anyway');
  else t.match(l, { ok: false, errors: [{ line: 1, col: 1, key: '', message: 'cannot read: permission denied' }] });
});

t.test('a byte-order mark does not shift columns', async (t) => {
  t.strictSame(parse(`\uFEFF${TUNNEL}ttl = 0\n`), ['7:7: tunnel[0].ttl: must be between 1 and 255']);
});

t.test('all errors arrive at once, schema and semantic, in line order', async (t) => {
  const text = `[[route]]
to = "10.4.0.1/16"
via = "10.3.1.3"

${TUNNEL}ttl = 256
mtu = "1480"

[[bridge]]
name = "island0"
ports = ["island0"]
`;
  t.strictSame(parse(text), [
    '2:6: route[0].to: "10.4.0.1/16" has host bits set; did you mean "10.4.0.0/16"?',
    "3:7: route[0].via: gateway 10.3.1.3 is island's own address on island0; use the peer's address",
    '11:7: tunnel[0].ttl: must be between 1 and 255',
    '12:7: tunnel[0].mtu: expected an integer or "auto", got string',
    '15:8: bridge[0].name: duplicate link name "island0" (first at line 6, tunnel[0])',
    '16:10: bridge[0].ports[0]: "island0" is an ipip tunnel, which is layer 3 and cannot be a bridge port; use kind = "vxlan" or "gretap"',
  ]);
});

t.test('a broken entry still takes part in cross-entry checks with its good fields', async (t) => {
  // tunnel 0 fails the schema (ttl), yet its name and address are still known to the duplicate and overlap checks
  const text = `${TUNNEL}ttl = 999

[[tunnel]]
name = "island0"
kind = "ipip"
local = "192.168.3.100"
remote = "138.96.245.51"
addresses = ["10.3.1.4/24"]
`;
  t.strictSame(parse(text), [
    '7:7: tunnel[0].ttl: must be between 1 and 255',
    '10:8: tunnel[1].name: duplicate tunnel name "island0" (first at line 2)',
    '14:14: tunnel[1].addresses[0]: 10.3.1.0/24 on island0 overlaps 10.3.1.0/24 on island0 (line 6)',
  ]);
});

t.test('a broken address does not make a gateway look unreachable', async (t) => {
  const text =
    TUNNEL.replace('["10.3.1.3/24"]', '["10.3.1.3/24", "10.4.0.1/99"]') +
    '\n[[route]]\nto = "10.8.0.0/16"\nvia = "10.4.0.2"\n';
  t.strictSame(parse(text), ['6:29: tunnel[0].addresses[1]: prefix length /99 is too long for IPv4 (at most /32)']);
});

t.test('a reference to a tunnel whose entry is broken is not "undeclared"', async (t) => {
  const text = `${TUNNEL.replace('kind = "ipip"', 'kind = "vxlan"')}
[[route]]
to = "10.8.0.0/16"
dev = "island0"
`;
  t.strictSame(parse(text), ['1:1: tunnel[0].vni: required key is missing']);
});

t.test('positions inside inline tables', async (t) => {
  const text = 'route = [\n  { to = "10.4.0.0/16", via = "fd00::1" },\n  { via = "10.3.1.1", metrik = 5 },\n]\n';
  t.strictSame(parse(text), [
    '2:31: route[0].via: gateway fd00::1 is IPv6 but the destination 10.4.0.0/16 is IPv4',
    '3:3: route[1].to: required key is missing',
    '3:23: route[1].metrik: unknown key; did you mean "metric"?',
  ]);
});

t.test('type errors name both types', async (t) => {
  t.strictSame(parse(`${TUNNEL}mtu = true\nttl = 1979-05-27\ndev = ["eth0"]\n`), [
    '7:7: tunnel[0].mtu: expected an integer or "auto", got boolean',
    '8:7: tunnel[0].ttl: expected an integer, got date-time',
    '9:7: tunnel[0].dev: expected a string, got array',
  ]);
  t.strictSame(parse('tunnel = [1]\nsysctl = 5\n[daemon]\nresync = 1.5\n'), [
    '1:11: tunnel[0]: expected a table, got integer',
    '2:10: sysctl: expected a table, got integer',
    '4:10: daemon.resync: expected a duration like "30s" or an integer number of seconds, got float',
  ]);
});

t.test('sysctl values are kept exactly as written', async (t) => {
  const r = parseConfig('[sysctl]\n"net.core.big" = 9223372036854775807\n"net.core.hex" = 0xff\n"net.x" = -1\n', 'f');
  t.ok(r.ok);
  if (r.ok)
    t.strictSame(r.config.sysctl, { 'net.core.big': '9223372036854775807', 'net.core.hex': '255', 'net.x': '-1' });
});

t.test('durations', async (t) => {
  const d = (resync: string, debounce: string) => {
    const r = parseConfig(`[daemon]\nresync = ${resync}\ndebounce = ${debounce}\n`, 'f.toml');
    return r.ok ? r.config.daemon : lines(r);
  };
  t.strictSame(d('"1s"', '"0ms"'), { resyncMs: 1000, debounceMs: 0 });
  t.strictSame(d('"5m"', '"5s"'), { resyncMs: 300_000, debounceMs: 5000 });
  t.strictSame(d('"1h"', '"250ms"'), { resyncMs: 3_600_000, debounceMs: 250 });
  t.strictSame(d('60', '0'), { resyncMs: 60_000, debounceMs: 0 });
  t.strictSame(d('"25h"', '"0s"'), ['2:10: daemon.resync: must be at most 24h']);
  t.strictSame(d('0', '-1'), [
    '2:10: daemon.resync: must be at least 1s',
    '3:12: daemon.debounce: must be at least 0s',
  ]);
});

t.test('source_port edge cases', async (t) => {
  const vx = (sp: string) =>
    parse(
      `[[tunnel]]\nname = "vx0"\nkind = "vxlan"\nvni = 1\nlocal = "10.0.0.1"\nremote = "10.0.0.2"\nport = 4789\nsource_port = ${sp}\n`,
    );
  t.strictSame(vx('65534'), []);
  t.strictSame(vx('[7, 7]'), []);
  t.strictSame(vx('0'), ['8:15: tunnel[0].source_port: must be between 1 and 65535']);
  t.strictSame(vx('[1, 65535]'), [
    '8:19: tunnel[0].source_port[1]: the range cannot end at 65535: the kernel takes it as [low, high) and high is 16 bits; end it at 65534',
  ]);
  t.strictSame(vx('[1, "2"]'), ['8:19: tunnel[0].source_port[1]: expected a port number, got string']);
  t.strictSame(vx('"5533"'), ['8:15: tunnel[0].source_port: expected a port number or [low, high], got string']);
});

t.test('link-local IPv6 may repeat across links; anything else overlapping may not', async (t) => {
  const text = `[[bridge]]
name = "br0"
addresses = ["fe80::1/64", "10.0.0.1/8"]

[[bridge]]
name = "br1"
addresses = ["fe80::1/64", "10.200.0.1/16"]
`;
  t.strictSame(parse(text), ['7:28: bridge[1].addresses[1]: 10.200.0.0/16 on br1 overlaps 10.0.0.0/8 on br0 (line 3)']);
});

t.test('suggestions', async (t) => {
  t.equal(editDistance('vnid', 'vni'), 1);
  t.equal(editDistance('tll', 'ttl'), 1);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(suggest('vnid', ['name', 'vni', 'port']), 'vni');
  t.equal(suggest('adresses', ['name', 'addresses']), 'addresses');
  t.equal(suggest('sourcePort', ['port', 'source_port']), 'source_port');
  t.equal(suggest('source-port', ['port', 'source_port']), 'source_port');
  t.equal(suggest('addr', ['name', 'addresses']), 'addresses');
  t.equal(suggest('xy', ['to', 'via']), undefined);
  t.equal(suggest('colour', ['name', 'kind', 'local']), undefined);
});

t.test('the config contains no undefined optional keys', async (t) => {
  const r = parseConfig(TUNNEL, 'f');
  t.ok(r.ok);
  if (r.ok)
    t.strictSame(Object.keys(r.config.tunnels[0] ?? {}).sort(), ['addresses', 'kind', 'local', 'name', 'remote']);
});

t.test('address messages say which part is wrong', async (t) => {
  const a = (addr: string) => parse(`[[bridge]]\nname = "br0"\naddresses = ["${addr}"]\n`);
  t.strictSame(a('10.0.0..1'), [
    '3:14: bridge[0].addresses[0]: "10.0.0..1" is not an address with a prefix length, like "10.3.1.3/24"',
  ]);
  t.strictSame(a('10.0.0.1/x'), ['3:14: bridge[0].addresses[0]: prefix length "x" is not a number']);
  t.strictSame(a('fd00::1/129'), [
    '3:14: bridge[0].addresses[0]: prefix length /129 is too long for IPv6 (at most /128)',
  ]);
  t.strictSame(a('fe80::1%eth0/64'), ['3:14: bridge[0].addresses[0]: "fe80::1%eth0" is not a valid IP address']);
  t.strictSame(a('FD00:0:0::1/64'), []);
});
