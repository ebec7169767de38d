/**
 * `island check` on large files (part of `npm run bench`, or `--only check`): 500, 5,000 and
 * 20,000 addresses, ten to a bridge (each a /30 of its own: every address is compared with
 * every other, and none overlaps, so nothing stops the check early). The time must grow
 * linearly; the overlap check was quadratic (18.7 s at 20,000, longer than the unit's 10 s
 * watchdog on a reload).
 *
 * Reference: the same file through the TOML parser island uses (toml-eslint-parser) and
 * nothing else, in a node process of its own: the floor under any check of that file.
 * Each is the median of a whole process, node's start included: CPU time (user + system, which
 * a busy machine does not inflate) and wall time.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError, exec, median } from './lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CHECK_SIZES = [500, 5000, 20_000];
export const CHECK_TARGET = { maxMs: 1000, growth: 6 };

const ipv4 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** n addresses, .1 of consecutive /30s from 10.0.0.0, ten to a bridge. */
export function checkConfig(n) {
  const out = [];
  for (let b = 0; b * 10 < n; b++) {
    const addrs = [];
    for (let i = b * 10; i < Math.min(n, b * 10 + 10); i++) addrs.push(`"${ipv4(10 * 2 ** 24 + 4 * i + 1)}/30"`);
    out.push('[[bridge]]', `name = "br${b}"`, `addresses = [${addrs.join(', ')}]`, '');
  }
  return out.join('\n');
}

/** parse only: what reading the file costs before island checks anything */
const PARSE_ONLY = `
import { readFileSync } from 'node:fs';
const { parseTOML } = await import(process.argv[1]);
parseTOML(readFileSync(process.argv[2], 'utf8'), { tomlVersion: '1.0' });
`;

/**
 * bash runs the command and then says, on stderr's last lines, the wall time around it
 * ($EPOCHREALTIME, µs) and what getrusage(RUSAGE_CHILDREN) counts for it (`times`, to the
 * millisecond): /proc's cutime and cstime count whole 10 ms clock ticks, as much as a 500-tunnel
 * check's margin to its target. A shell's own start is in neither figure.
 */
const TIMED = 't0=$EPOCHREALTIME; "$@"; s=$?; t1=$EPOCHREALTIME; { echo "@timed $t0 $t1"; times; } >&2; exit $s';
const TIMES = /@timed (\S+) (\S+)\n\S+ \S+\n(\d+)m([\d.,]+)s (\d+)m([\d.,]+)s\n$/;
const num = (s) => Number(s.replace(',', '.'));

/** One run: wall and CPU (user + system) milliseconds of the whole process, to the millisecond. */
export async function timed(argv, opts = { timeoutMs: 120_000 }) {
  const r = await exec(['bash', '-c', TIMED, 'bash', ...argv], opts);
  const m = TIMES.exec(r.stderr);
  if (!m) throw new BenchError(`\`${argv.join(' ')}\`: no times from bash (exit ${r.code}):\n${r.stderr.slice(-500)}`);
  const cpuMs = Math.round((Number(m[3]) * 60 + num(m[4]) + Number(m[5]) * 60 + num(m[6])) * 1000);
  return { ...r, stderr: r.stderr.slice(0, m.index), ms: (num(m[2]) - num(m[1])) * 1000, cpuMs };
}

export async function benchCheck({ quick, node, cli, work, log }) {
  const runs = quick ? 1 : 3;
  const parser = join(ROOT, 'node_modules', 'toml-eslint-parser', 'lib', 'index.js');
  const sizes = [];
  for (const n of CHECK_SIZES) {
    const file = join(work, `check-${n}.toml`);
    writeFileSync(file, checkConfig(n));
    log(`check: ${n} addresses, ${runs} run(s)`);
    const island = [];
    const islandCpu = [];
    const parse = [];
    const parseCpu = [];
    for (let r = 0; r < runs; r++) {
      const c = await timed([node, cli, 'check', '-c', file]);
      // the file is valid: anything else would time the wrong thing
      if (c.code !== 0 || !/: ok$/m.test(c.stdout))
        throw new BenchError(
          `island check of ${n} addresses did not say ok (exit ${c.code}):\n${c.stderr.slice(0, 2000)}`,
        );
      island.push(c.ms);
      islandCpu.push(c.cpuMs);
      const p = await timed([node, '--input-type=module', '-e', PARSE_ONLY, parser, file]);
      if (p.code !== 0) throw new BenchError(`the parse-only reference failed:\n${p.stderr.slice(0, 2000)}`);
      parse.push(p.ms);
      parseCpu.push(p.cpuMs);
    }
    sizes.push({ n, island, islandCpu, parse, parseCpu });
  }
  const bare = [];
  const bareCpu = [];
  for (let r = 0; r < runs; r++) {
    const b = await timed([node, '-e', '0']);
    bare.push(b.ms);
    bareCpu.push(b.cpuMs);
  }
  return { runs, sizes, bare, bareCpu };
}

const fmt = (v) => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`);
const verdict = (ok) => (ok ? 'OK' : 'MISSED');

/**
 * Rows in run.mjs's columns: benchmark, metric, island, baseline, target, result. The target is
 * judged on CPU time, which a busy machine does not inflate; wall time is shown beside it.
 */
export function checkRows(r) {
  const rows = [];
  r.sizes.forEach(({ n, island, islandCpu, parse, parseCpu }, i) => {
    const last = i === r.sizes.length - 1;
    const cpu = median(islandCpu);
    rows.push([
      `island check, ${n.toLocaleString('en')} addresses (${r.runs} run${r.runs > 1 ? 's' : ''}; baseline: TOML parse only)`,
      'CPU',
      fmt(cpu),
      fmt(median(parseCpu)),
      last ? `< ${CHECK_TARGET.maxMs / 1000} s` : '',
      last ? verdict(cpu < CHECK_TARGET.maxMs) : '',
    ]);
    rows.push(['', 'wall', fmt(median(island)), fmt(median(parse)), '', '']);
  });
  const g = growth(r);
  rows.push([
    `island check growth, ${g.from.toLocaleString('en')} → ${g.to.toLocaleString('en')} addresses (${g.to / g.from}× the file)`,
    'CPU ×',
    `${g.ratio.toFixed(2)}×`,
    `${g.parseRatio.toFixed(2)}×`,
    `≤ ${CHECK_TARGET.growth}× (linear: ${g.to / g.from}×)`,
    verdict(g.ratio <= CHECK_TARGET.growth),
  ]);
  return rows;
}

/** CPU between the two largest files, node's own start (node -e 0) taken off both. */
function growth(r) {
  const [a, b] = r.sizes.slice(-2);
  const bare = median(r.bareCpu);
  const net = (v) => Math.max(median(v) - bare, 1);
  return {
    from: a.n,
    to: b.n,
    ratio: net(b.islandCpu) / net(a.islandCpu),
    parseRatio: net(b.parseCpu) / net(a.parseCpu),
  };
}

export function checkDetails(r) {
  const bare = median(r.bareCpu);
  const per = r.sizes
    .map(({ n, islandCpu }) => `${n.toLocaleString('en')}: ${(((median(islandCpu) - bare) / n) * 1000).toFixed(1)} µs`)
    .join(', ');
  const runs = (v) => v.map(fmt).join(', ');
  return [
    `- island check, each file ten /30 addresses to a [[bridge]], none overlapping; the whole process, CPU (user + system) and wall, each run: ${r.sizes
      .map(({ n, islandCpu, island }) => `${n.toLocaleString('en')}: CPU ${runs(islandCpu)}, wall ${runs(island)}`)
      .join(
        '; ',
      )}. \`node -e 0\` alone: CPU ${fmt(bare)}, wall ${fmt(median(r.bare))}. CPU per address, node's start taken off: ${per}.`,
    `- the baseline is toml-eslint-parser reading the same file and nothing else, in a node process of its own (island's own checks and its CLI's modules are the difference): CPU ${r.sizes
      .map(({ n, parseCpu }) => `${n.toLocaleString('en')}: ${fmt(median(parseCpu))}`)
      .join(', ')}.`,
  ];
}
