/**
 * lintian on the built .deb: no error, no warning, and of the pedantic and informational tags
 * only those packaging/README.md lists with the reason they are kept.
 */
import t from 'tap';
import { buildDeb } from '../helpers/deb.js';
import { mustRun } from '../helpers/netns.js';

t.setTimeout(600_000);

/** tag → why it stays (the same list is in packaging/README.md) */
const KEPT: Record<string, string> = {
  'repeated-path-segment': 'node_modules keeps its packages own lib/ directories under /usr/lib/island',
  'package-supports-alternative-init-but-no-init.d-script':
    'island.service is Type=notify with a watchdog: island supports systemd only',
  'hardening-no-fortify-functions':
    "the addon's one fortifiable call (fgets into a buffer of its own size) is provably in bounds: _FORTIFY_SOURCE leaves it plain",
};

t.test('lintian: 0 errors, 0 warnings', async (t) => {
  const deb = await buildDeb();
  const out = await mustRun(['lintian', '--fail-on', 'none', '--pedantic', '-I', '-E', '--no-tag-display-limit', deb], {
    timeoutMs: 300_000,
  });
  const tags = out
    .split('\n')
    .filter((l) => /^[EWIPX]: /.test(l))
    .map((l) => l.trim());
  t.same(
    tags.filter((l) => /^[EW]: /.test(l)),
    [],
    'no error, no warning',
  );
  const other = tags.filter((l) => !/^[EW]: /.test(l));
  t.same(
    other.filter((l) => !((l.split(' ')[2] ?? '') in KEPT)),
    [],
    'pedantic/info/experimental tags: only the kept ones',
  );
  t.comment(`lintian ${deb.split('/').pop()}:\n${tags.join('\n') || '(silent)'}`);
});
