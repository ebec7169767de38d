/** etc/island.toml ships inert, documents everything, and its commented example is valid. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig, parseConfig } from '../../src/config/load.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const etc = join(root, 'etc', 'island.toml');
const full = join(root, 'test', 'fixtures', 'good', 'full.toml');

/** sshd_config style: "#key = value" is a setting switched off, "# text" is prose. */
const uncomment = (text: string): string => text.replace(/^#(?=[[a-z"])/gm, '');

t.test('as shipped it declares nothing that would change a host', async (t) => {
  const r = await loadConfig(etc);
  if (!r.ok) return t.fail(r.errors.map((e) => e.message).join('\n'));
  t.strictSame(r.warnings, []);
  t.strictSame(r.config.tunnels, []);
  t.strictSame(r.config.bridges, []);
  t.strictSame(r.config.links, []);
  t.strictSame(r.config.routes, []);
  t.strictSame(r.config.sysctl, {});
  t.strictSame(r.config.daemon, { resyncMs: 30_000, debounceMs: 10, healthPort: 5534, healthIntervalMs: 10_000 });
  t.equal(r.config.hosts, undefined);
});

t.test('uncommented, it is valid and equal to the full fixture', async (t) => {
  const text = uncomment(readFileSync(etc, 'utf8'));
  const example = parseConfig(text, 'example');
  if (!example.ok) return t.fail(example.errors.map((e) => `${e.line}:${e.col}: ${e.key}: ${e.message}`).join('\n'));
  t.strictSame(example.warnings, []);
  const fixture = await loadConfig(full);
  if (!fixture.ok) return t.fail('full.toml is invalid');
  t.strictSame(fixture.warnings, []);
  t.strictSame({ ...example.config, path: full }, fixture.config);
  t.ok(example.config.tunnels.length >= 3 && example.config.routes.length >= 2, 'the example is not empty');
});

t.test('every key of the format is shown in the example', async (t) => {
  const text = readFileSync(etc, 'utf8');
  const keys = [
    '[[tunnel]]',
    'name',
    'kind',
    'local',
    'remote',
    'dev',
    'ttl',
    'mtu',
    'addresses',
    'vni',
    'port',
    'source_port',
    'tx_checksum_offload',
    'key',
    '[[bridge]]',
    'ports',
    '[[link]]',
    'parent',
    'mode',
    '[[route]]',
    'to',
    'via',
    'metric',
    '[sysctl]',
    '[daemon]',
    'resync',
    'debounce',
    'health_port',
    'health_interval',
    'rcu_expedited',
    'metrics',
    'keepalive',
    'peer',
    '[hosts]',
    '[forward]',
    'accept',
    'backend',
    'poll',
    '[[forward.rule]]',
    'in',
    'out',
    'source',
    'destination',
  ];
  for (const k of keys) {
    const setting = k.startsWith('[') ? k : `${k} =`;
    t.ok(text.includes(`\n#${setting}`) || text.includes(`\n${setting}`), `${k} has an example setting`);
    if (!k.startsWith('[')) t.match(text, new RegExp(`^# ${k}\\s`, 'm'), `${k} is explained`);
  }
});
