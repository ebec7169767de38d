/**
 * Linear time: the overlap check sorts and sweeps (config/overlap.ts) instead of comparing every
 * pair, which took 18.7 s for 20,000 addresses. Its answers are the pairwise ones.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import { minOverlapping, type Span } from '../../src/config/overlap.js';

/** A seeded generator: the same random prefixes on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

t.test('minOverlapping gives what comparing every pair gives', async (t) => {
  const r = rng(10);
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(r() * 60);
    const spans: Span[] = [];
    const weight: number[] = [];
    for (let i = 0; i < n; i++) {
      // prefixes of an 8-bit space: many nest, many repeat
      const len = Math.floor(r() * 9);
      const size = 2 ** (8 - len);
      const lo = Math.floor((r() * 256) / size) * size;
      spans.push({ lo: BigInt(lo), hi: BigInt(lo + size - 1) });
      weight.push(r() < 0.2 ? Number.POSITIVE_INFINITY : Math.floor(r() * 100));
    }
    const brute = spans.map((a, i) =>
      Math.min(
        ...spans.map((b, j) =>
          j !== i && a.lo <= b.hi && b.lo <= a.hi ? (weight[j] as number) : Number.POSITIVE_INFINITY,
        ),
      ),
    );
    t.strictSame(minOverlapping(spans, weight), brute, `round ${round} (${n} prefixes)`);
  }
});

const ipv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** n addresses, ten to a bridge, none overlapping: every one must be compared with all others. */
function bridges(n: number, extra = ''): string {
  const out: string[] = [];
  for (let b = 0; b * 10 < n; b++) {
    const addrs = Array.from(
      { length: Math.min(10, n - b * 10) },
      (_, j) => `"${ipv4(10 * 2 ** 24 + 4 * (b * 10 + j) + 1)}/30"`,
    );
    out.push('[[bridge]]', `name = "br${b}"`, `addresses = [${addrs.join(', ')}]`, '');
  }
  return out.join('\n') + extra;
}

t.test('20,000 addresses are checked in linear time', async (t) => {
  const time = (n: number) => {
    const text = bridges(n);
    const t0 = performance.now();
    const r = parseConfig(text, 'f.toml');
    const ms = performance.now() - t0;
    t.ok(r.ok, `${n} addresses: valid`);
    return ms;
  };
  time(2000); // warm up the JIT
  const small = time(5000);
  const large = time(20_000);
  t.comment(`5,000: ${small.toFixed(0)} ms, 20,000: ${large.toFixed(0)} ms`);
  // generous bounds for a loaded 2-vCPU machine; the quadratic check took 18.7 s here
  t.ok(large < 5000, `20,000 addresses in ${large.toFixed(0)} ms`);
  t.ok(large / small < 10, `4× the addresses took ${(large / small).toFixed(1)}× the time`);
});

t.test('overlaps in a large file are still each found, once, at the later address', async (t) => {
  // the last bridge repeats an address of the first, and a /16 that holds them all
  const text = bridges(20_000, '\n[[bridge]]\nname = "late"\naddresses = ["10.0.0.5/30", "10.0.0.0/8"]\n');
  const r = parseConfig(text, 'f.toml');
  t.equal(r.ok, false);
  if (r.ok) return;
  t.strictSame(
    r.errors.map((d) => `${d.key}: ${d.message}`),
    [
      'bridge[2000].addresses[0]: 10.0.0.4/30 on late overlaps 10.0.0.4/30 on br0 (line 3)',
      'bridge[2000].addresses[1]: 10.0.0.0/8 on late overlaps 10.0.0.0/30 on br0 (line 3)',
    ],
  );
});
