/**
 * The defaults of src/config/defaults.ts are what the schema applies, and what the man pages
 * and the help say: change one there and this names every doc that still says the old value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HELP } from '../../src/commands.js';
import * as d from '../../src/config/defaults.js';
import { daemonShape, forwardShape } from '../../src/config/schema.js';
import { REPO } from '../helpers/island.js';

/** roff as read: no escapes or font changes, one line */
const plain = (roff: string) =>
  roff
    .replace(/\\-/g, '-')
    .replace(/\\\(dq/g, '"')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\&/g, '')
    .replace(/^\.[A-Z]+ ?/gm, '')
    .replace(/\n/g, ' ');

const man = (page: string) => readFileSync(join(REPO, 'packaging', 'man', page), 'utf8');

/** The paragraph of a man page tagged `.TP` `.B key` (up to the next tag or heading). */
function paragraph(roff: string, tag: string): string {
  const at = roff.search(new RegExp(`^\\.TP\\n\\.(B|BR) ${tag}\\b.*\\n`, 'm'));
  if (at < 0) return '';
  const rest = roff.slice(at);
  const end = rest.slice(1).search(/^\.(TP|SH|SS)/m);
  return plain(end < 0 ? rest : rest.slice(0, end + 1));
}

t.test('the schema applies the defaults', async (t) => {
  t.equal(daemonShape.resync.parse(undefined), d.RESYNC_MS);
  t.equal(daemonShape.debounce.parse(undefined), d.DEBOUNCE_MS);
  t.equal(forwardShape.poll.parse(undefined), d.FIREWALL_POLL_MS);
});

t.test('island.toml(5) states each default of the file', async (t) => {
  const man5 = man('island.toml.5');
  const stated: [string, string][] = [
    ['resync', d.msText(d.RESYNC_MS)],
    ['debounce', d.msText(d.DEBOUNCE_MS)],
    ['health_port', String(d.HEALTH_PORT)],
    ['health_interval', d.msText(d.HEALTH_INTERVAL_MS)],
    ['poll', d.msText(d.FIREWALL_POLL_MS)],
    ['public', d.msText(d.NAT_KEEPALIVE_MS)],
  ];
  for (const [key, value] of stated) {
    const text = paragraph(man5, key);
    t.ok(text, `island.toml.5 has a paragraph on ${key}`);
    t.match(text, `default ${value})`, `island.toml.5: ${key} (default ${value})`);
  }
});

t.test('island(8) and the help state each default of the commands', async (t) => {
  const man8 = plain(man('island.8'));
  t.match(man8, `default ${d.msText(d.TRY_TIMEOUT_MS)})`, 'island.8: try --timeout');
  t.match(man8, `default ${d.msText(d.TEST_TIMEOUT_MS)})`, 'island.8: test --timeout');
  t.match(man8, `default ${d.CONFIG_PATH}`, 'island.8: --config');
  t.match(HELP[''], `(default ${d.CONFIG_PATH})`);
  t.match(HELP.try, `--timeout ${d.msText(d.TRY_TIMEOUT_MS)}`);
  t.match(HELP.test, `(default ${d.msText(d.TEST_TIMEOUT_MS)})`);
});
