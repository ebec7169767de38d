/**
 * Debian 12 with its own nodejs (18) and npm, a fresh clone: `scripts/setup demo` installs the
 * Debian packages and node modules it lacks, and `npm run demo` passes in a container with its
 * own network namespace, its setup step finding everything in place. `npm test` needs Node 20
 * (tap 21): setup's test profile says so in one line. See fresh-clone.ts.
 */
import t from 'tap';
import { checkSetup, freshMachine, inClone, output } from './fresh-clone.js';

// cold: debootstrap (~2 min), nodejs and npm (~2 min), then setup's apt-get and npm ci (~1.5 min)
t.setTimeout(1_800_000);

t.test('Debian 12, a fresh clone: scripts/setup demo, then npm run demo', async (t) => {
  const { c, setup } = await freshMachine(t, 'bookworm', 'demo');
  // Debian's npm brings python3 and libnode-dev (node-gyp's own dependencies); the lab's tools and g++ it lacks
  await checkSetup(t, c, setup, {
    profile: 'demo',
    release: 'Debian 12',
    packages: ['g++', 'iptables', 'iputils-ping'],
  });

  const demo = await inClone(c, 'npm run demo', 420_000);
  t.equal(demo.result.code, 0, `npm run demo passes (${(demo.ms / 1000).toFixed(1)} s)`, {
    diagnostic: demo.result.code !== 0,
    output: output(demo.result).slice(-6000),
  });
  t.match(
    demo.result.stdout,
    /> bash scripts\/setup demo\n+setup: demo: .*node modules up to date/,
    'npm ran setup first (predemo)',
  );
  t.match(demo.result.stdout, /✓ demo passed: \d+ steps/, 'the demo ran to its end');
  t.match(demo.result.stdout, /TCP sopnode-w2 to fit01 .*no NAT on the island/, 'TCP across the island');

  const test = await inClone(c, 'scripts/setup test');
  t.equal(test.result.code, 1, "setup's test profile refuses Debian 12's Node 18");
  t.match(
    test.result.stderr,
    /^setup: npm test needs Node\.js 20 or later \(its runner, tap 21, does not run on v18\.[\d.]+\);/m,
    'in one line, with the way out',
  );
});
