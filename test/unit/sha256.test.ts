import { createHash } from 'node:crypto';
import t from 'tap';
import { sha256 } from '../../src/sha256.js';

t.test("sha256 is node:crypto's SHA-256, across the padding boundaries and for UTF-8 text", async (t) => {
  const inputs = [
    '',
    'abc',
    'island macvlan shim0 eth0',
    'é→ü',
    ...[55, 56, 63, 64, 65, 119, 120, 200].map((n) => 'x'.repeat(n)),
  ];
  for (const s of inputs)
    t.equal(sha256(s).toString('hex'), createHash('sha256').update(s).digest('hex'), `${s.length} chars`);
  t.equal(
    sha256('abc').toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'FIPS 180-2 example',
  );
});
