/**
 * Child process for firewall-netlink.test.ts, run inside a test namespace. argv[2] is a JSON
 * array of steps: a string is a shell command; { "read": name } reads the ipv4 and ipv6 filter
 * and mangle tables with the built nft backend (dist/firewall/iptables.js) and compares each
 * with what iptables-nft-save prints now. Prints one JSON line per read:
 *   { "read": name, "programs": [programs the backend ran], "same": bool, "got": ..., "want": ... }
 * The programs are counted by wrapping child_process.spawn before the backend is loaded.
 */
import cp from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const spawn = cp.spawn;
let programs = [];
/** @type {any} */ (cp).spawn = (/** @type {string} */ file, /** @type {any[]} */ ...rest) => {
  programs.push(file);
  return spawn(file, ...rest);
};
syncBuiltinESMExports();

const { backendFor } = await import('../../dist/firewall/iptables.js');
const { FILTER, MANGLE } = await import('../../dist/firewall/model.js');
const { parseSave } = await import('../../dist/firewall/save.js');

const plain = (t) => Object.fromEntries([...t].map(([name, c]) => [name, c]));

for (const step of JSON.parse(process.argv[2] ?? '[]')) {
  if (typeof step === 'string') {
    const r = cp.spawnSync('sh', ['-c', step], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${step}: ${r.stderr}`);
    continue;
  }
  const got = {};
  const want = {};
  programs = [];
  for (const family of /** @type {const} */ ([4, 6])) {
    const live = await backendFor('nft').read(family, [FILTER, MANGLE], true);
    if (live.ok === false) throw new Error(live.error);
    got[family] = { filter: plain(live.chains), mangle: plain(live.more?.mangle ?? new Map()) };
  }
  const seen = programs;
  for (const family of [4, 6]) {
    const save = family === 6 ? 'ip6tables-nft-save' : 'iptables-nft-save';
    const text = (t) => cp.spawnSync(save, ['-t', t], { encoding: 'utf8' }).stdout;
    want[family] = {
      filter: plain(parseSave(text('filter')).get('filter') ?? new Map()),
      mangle: plain(parseSave(text('mangle')).get('mangle') ?? new Map()),
    };
  }
  const same = JSON.stringify(got) === JSON.stringify(want);
  process.stdout.write(
    `${JSON.stringify({ read: step.read, programs: seen, same, ...(same ? {} : { got, want }) })}\n`,
  );
}
