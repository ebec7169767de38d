/**
 * Debian 13 with its own nodejs (20) and npm, a fresh clone: `scripts/setup test` installs
 * everything `npm test` uses, then, in a container with its own network namespace, setup finds
 * it all in place and a kernel test file that needs a package only the test profile installs
 * (ethtool) passes under tap. `npm test` in full nests containers and VMs: too heavy here. See
 * fresh-clone.ts.
 */
import t from 'tap';
import { checkSetup, freshMachine, inClone, output } from './fresh-clone.js';

// cold: debootstrap (~2 min), nodejs and npm (~2 min), then setup's apt-get (qemu, lintian,
// debhelper...) and npm ci (~4 min)
t.setTimeout(1_800_000);

t.test('Debian 13, a fresh clone: scripts/setup test, then a kernel test file', async (t) => {
  const { c, setup } = await freshMachine(t, 'trixie', 'test');
  await checkSetup(t, c, setup, {
    profile: 'test',
    release: 'Debian 13',
    packages: ['ethtool', 'nftables', 'systemd-container', 'debootstrap', 'lintian', 'qemu-system-x86'],
  });

  const build = await inClone(c, 'npm run build', 300_000);
  t.equal(build.result.code, 0, `npm run build (${(build.ms / 1000).toFixed(1)} s)`, {
    diagnostic: build.result.code !== 0,
    output: output(build.result),
  });
  const tap = await inClone(c, 'npx tap --disable-coverage test/kernel/offload.test.ts', 600_000);
  const tally = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(tap.result.stdout);
  t.equal(tap.result.code, 0, `npx tap test/kernel/offload.test.ts passes (${(tap.ms / 1000).toFixed(1)} s)`, {
    diagnostic: tap.result.code !== 0,
    output: output(tap.result).slice(-6000),
  });
  t.ok(tally && Number(tally[1]) > 0 && tally[1] === tally[2], `every test of it passed: ${tally?.[0]}`);
});
