/**
 * Child process for nftables-read.test.ts, run inside a test namespace: reads the namespace's
 * nftables over netlink with the built dist/firewall/nftables.js and prints, as one JSON line,
 * what every input/forward base chain does to each flow of argv[2] (a JSON array of flows):
 *   [{ "chain": "inet filter forward", "flow": label, "sure": [causes], "accept": bool }, ...]
 */
import { readNftables, sees } from '../../dist/firewall/nftables.js';
import { evaluate, sureDrops } from '../../dist/firewall/verdict.js';

const flows = JSON.parse(process.argv[2] ?? '[]');
const out = [];
for (const t of (await readNftables()).tables)
  for (const b of t.base)
    for (const f of flows) {
      if (f.hook !== b.hook || !sees(t.family, f)) continue;
      const o = evaluate(t.chains, b.chain, f);
      out.push({
        chain: `${t.family} ${t.name} ${b.chain}`,
        flow: f.label,
        sure: sureDrops(o).map((d) => d.cause),
        accept: o.accept,
      });
    }
process.stdout.write(`${JSON.stringify(out)}\n`);
