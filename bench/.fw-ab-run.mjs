// temporary A/B driver (not committed): alternating rounds of the firewall bench's nft latency, before vs after
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { nftLatency } from './.fw-ab.mjs';
import { percentile, cleanupSync } from './lib.mjs';
const builds = { before: '/tmp/nftx/before/dist/cli.js', after: '/tmp/nftx/after2/dist/cli.js' };
const work = mkdtempSync(join(tmpdir(), 'fwab-'));
const cfg = join(work, 'fw.toml');
writeFileSync(cfg, '[[bridge]]\nname = "cni0"\naddresses = ["10.128.1.1/24"]\n\n[forward]\naccept = ["cni0"]\nbackend = "nft"\n');
const rounds = Number(process.argv[2] ?? 4), per = Number(process.argv[3] ?? 20);
const all = { before: { outage: [], passMs: [] }, after: { outage: [], passMs: [] } };
const loads = [loadavg()[0]];
for (let r = 0; r < rounds; r++)
  for (const v of r % 2 ? ['after', 'before'] : ['before', 'after']) {
    const res = await nftLatency({ nft: per }, process.execPath, builds[v], cfg, (s) => process.stderr.write(`${v} r${r}: ${s}\n`));
    all[v].outage.push(...res.outage);
    all[v].passMs.push(...res.passMs);
    if (res.complaints.length) console.log(v, 'complaints', res.complaints);
    loads.push(loadavg()[0]);
  }
const f = (x) => x.toFixed(1);
for (const [v, d] of Object.entries(all))
  console.log(`${v}: n=${d.outage.length} outage p50 ${f(percentile(d.outage, 50))} p90 ${f(percentile(d.outage, 90))} p99 ${f(percentile(d.outage, 99))} max ${f(Math.max(...d.outage))} | pass p50 ${f(percentile(d.passMs, 50))} p90 ${f(percentile(d.passMs, 90))} p99 ${f(percentile(d.passMs, 99))}`);
console.log('load', loads.map((l) => l.toFixed(2)).join(' '));
cleanupSync();
process.exit(0);
