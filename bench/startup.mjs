/**
 * What a one-shot run and a daemon start cost (part of `npm run bench`, or `--only startup`):
 *
 * - `island --help`: node starting and the CLI's entry, against `node -e 0`. The entry prints the
 *   help itself (scripts/bundle.mjs), without loading the bundle;
 * - `island check` of 500 and 5,000 vxlan tunnels (each with an address and a route), against
 *   `island --help` of the same run: what loading the bundle and its check, and reading and
 *   validating the file add (loading the bundle and its top level is ~12 ms of it);
 * - start to READY=1: `island daemon` of the lab file (etc/examples/lab.toml, as the r2lab
 *   gateway faraday) in a namespace of its own, with NOTIFY_SOCKET pointed at a datagram socket
 *   this process listens on, as systemd's would be; from spawn to the READY=1 datagram. The
 *   reference is `node -e 0` spawned the same way (ip netns exec);
 * - the same daemon's VmRSS once it has idled 5 s.
 *
 * Each is measured on several whole processes: the one-shot rows by their median CPU time, start
 * to READY=1 by its median wall time.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DgramSocket } from 'node-unix-socket';
import { timed } from './check.mjs';
import { BenchError, eachMs, exec, median, memory, run, sleep, startProcess, unitEnv, withNetns } from './lib.mjs';

export const STARTUP_TARGET = { helpMs: 90, check500AboveHelpMs: 40, check5000Factor: 10, readyMs: 300, rssMiB: 50 };

const fmt = (v) => (Number.isFinite(v) ? (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`) : 'n/a');
const verdict = (ok) => (ok ? 'OK' : 'MISSED');

async function wall(argv, what) {
  const r = await exec(argv, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new BenchError(`${what} exited ${r.code}:\n${r.stderr.slice(0, 2000)}`);
  return r.ms;
}

/** `config(n)`: the text of a valid file of n tunnels (run.mjs's converge file). */
export async function benchStartup({ quick, node, cli, work, log, config, lab }) {
  const runs = quick ? 3 : 7;
  const files = {};
  for (const n of [500, 5000]) {
    files[n] = join(work, `startup-${n}.toml`);
    writeFileSync(files[n], config(n));
  }
  log(`startup: node -e 0, island --help, check of 500 and 5,000 tunnels, ${runs} runs each`);
  const cpu = { bare: [], help: [], check500: [], check5000: [] };
  const bare = [];
  const help = [];
  const check500 = [];
  const check5000 = [];
  for (let r = 0; r < runs; r++) {
    /** @type {[string, number[], string[], string][]} */
    const rows = [
      ['bare', bare, [node, '-e', '0'], 'node -e 0'],
      ['help', help, [node, cli, '--help'], 'island --help'],
      ['check500', check500, [node, cli, 'check', '-c', files[500]], 'island check (500 tunnels)'],
      ['check5000', check5000, [node, cli, 'check', '-c', files[5000]], 'island check (5,000 tunnels)'],
    ];
    for (const [k, list, argv, what] of rows) {
      const t = await timed(argv);
      if (t.code !== 0) throw new BenchError(`${what} exited ${t.code}:\n${t.stderr.slice(0, 2000)}`);
      list.push(t.ms);
      cpu[k].push(t.cpuMs);
    }
  }
  log(`startup: daemon of the lab file to READY=1, ${runs} runs`);
  const labFile = join(work, 'lab.toml');
  writeFileSync(labFile, readFileSync(lab, 'utf8'));
  const ready = [];
  const nsBare = [];
  let rss;
  await withNetns('ready', async (ns) => {
    // faraday's LAN address on the underlay: the daemon finds its part of the file as it would there
    await ns.ip('addr', 'add', '192.168.3.100/24', 'dev', 'ul0');
    // a runtime directory of its own: under /run/island the daemon would answer (and measure the CPU
    // of) every island command another process on the machine runs, and take over the control
    // socket of a daemon running there
    const env = {
      ISLAND_HOST: 'faraday',
      ISLAND_HOSTS_FILE: join(work, 'hosts'),
      ISLAND_RUNTIME_DIR: join(work, 'run'),
    };
    writeFileSync(env.ISLAND_HOSTS_FILE, '127.0.0.1 localhost\n');
    for (let r = 0; r < runs; r++) {
      nsBare.push(await wall(ns.argv([node, '-e', '0']), 'node -e 0 in a namespace'));
      const sockPath = join(work, `notify-${r}.sock`);
      const sock = new DgramSocket();
      sock.bind(sockPath);
      /** @type {number | undefined} */
      let readyAt;
      sock.on('data', (buf) => {
        if (/^READY=1$/m.test(buf.toString()) && readyAt === undefined) readyAt = performance.now();
      });
      const lines = [];
      let stopped;
      const t0 = performance.now();
      const d = startProcess(
        [
          'env',
          ...Object.entries({ ...env, NOTIFY_SOCKET: sockPath }).map(([k, v]) => `${k}=${v}`),
          // the unit's own (NODE_OPTIONS): READY=1 and the idle RSS as systemd would start it
          ...unitEnv(),
          ...ns.argv([node, cli, 'daemon', '-c', labFile]),
        ],
        (l) => lines.push(l),
      );
      try {
        const deadline = t0 + 20_000;
        while (readyAt === undefined) {
          if (d.child.exitCode !== null)
            throw new BenchError(
              `island daemon (lab file) exited ${d.child.exitCode} before READY=1:\n${lines.slice(-10).join('\n')}\n${d.stderr()}`,
            );
          if (performance.now() > deadline)
            throw new BenchError('island daemon (lab file) sent no READY=1 within 20 s');
          await sleep(1);
        }
        ready.push(readyAt - t0);
        // SIGTERM's handler is in place once it says it runs
        while (!lines.some((l) => l.includes('island daemon running'))) {
          if (performance.now() > deadline) throw new BenchError('island daemon (lab file) never said it runs');
          await sleep(5);
        }
        const errors = lines.filter((l) => /"level":(50|60)/.test(l));
        if (errors.length) throw new BenchError(`island daemon (lab file) logged errors:\n${errors.join('\n')}`);
        if (r === runs - 1) {
          await sleep(5000);
          rss = memory(d.child.pid);
        }
      } finally {
        stopped = await d.stop(5000);
        sock.close();
        rmSync(sockPath, { force: true });
      }
      if (stopped.code !== 0)
        throw new BenchError(`island daemon (lab file) did not exit 0 on SIGTERM (${stopped.code ?? stopped.signal})`);
      // the next start finds the links in place, as a restart would: take them away to time a boot
      await run(['ip', '-n', ns.name, 'link', 'del', 'vx0']).catch(() => {});
    }
  });
  return { runs, bare, help, check500, check5000, cpu, ready, nsBare, rss };
}

/**
 * The one-shot rows are judged on CPU time (user + system of the whole process, to the
 * millisecond: bench/check.mjs's timed()), which a busy machine does not inflate, and on the
 * median of the runs, which one run slowed by a burst on the machine does not move (the mean did,
 * when /proc's 10 ms clock ticks made a median jump); "above --help" is the difference of the two
 * medians. Wall time is in the details.
 */
const above = (v, ref) => median(v) - median(ref);

export function startupRows(r) {
  const h = median(r.cpu.help);
  const c5 = above(r.cpu.check500, r.cpu.help);
  const c50 = above(r.cpu.check5000, r.cpu.help);
  const T = STARTUP_TARGET;
  return [
    [
      `island --help (${r.runs} runs)`,
      'CPU, median',
      fmt(h),
      `${fmt(median(r.cpu.bare))} (node -e 0)`,
      `≤ ${T.helpMs} ms`,
      verdict(h <= T.helpMs),
    ],
    [
      'island check, 500 tunnels + routes',
      'CPU above --help, median',
      fmt(c5),
      `${fmt(h)} (--help)`,
      `≤ ${T.check500AboveHelpMs} ms`,
      verdict(c5 <= T.check500AboveHelpMs),
    ],
    [
      'island check, 5,000 tunnels + routes',
      'CPU above --help, median',
      fmt(c50),
      `${fmt(c5)} (500)`,
      `≤ ${T.check5000Factor}× the 500`,
      `${verdict(c50 <= T.check5000Factor * Math.max(c5, 1))} (${(c50 / Math.max(c5, 1)).toFixed(1)}×)`,
    ],
    [
      'daemon start to READY=1, lab file',
      'median',
      fmt(median(r.ready)),
      `${fmt(median(r.nsBare))} (node -e 0)`,
      `≤ ${T.readyMs} ms`,
      verdict(median(r.ready) <= T.readyMs),
    ],
    [
      'idle daemon, lab file, 5 s after READY',
      'VmRSS',
      `${r.rss.rssMiB.toFixed(1)} MiB`,
      '',
      `≤ ${T.rssMiB} MiB`,
      verdict(r.rss.rssMiB <= T.rssMiB),
    ],
  ];
}

export function startupDetails(r) {
  const runs = (v) => v.map(fmt).join(', ');
  return [
    `- startup, CPU (user + system), medians of ${r.runs} runs: node -e 0 ${fmt(median(r.cpu.bare))}, island --help ${fmt(median(r.cpu.help))}, check 500 tunnels ${fmt(median(r.cpu.check500))}, check 5,000 ${fmt(median(r.cpu.check5000))}; each run, ms: node -e 0 ${eachMs(r.cpu.bare)}; --help ${eachMs(r.cpu.help)}; check 500 ${eachMs(r.cpu.check500)}; check 5,000 ${eachMs(r.cpu.check5000)}.`,
    `- startup, wall, each run: node -e 0 ${runs(r.bare)}; island --help ${runs(r.help)}; check 500 tunnels ${runs(r.check500)}; check 5,000 ${runs(r.check5000)}; start to READY=1 (lab file, as faraday, in a namespace) ${runs(r.ready)}, \`node -e 0\` the same way ${runs(r.nsBare)}; the lab daemon idle: VmRSS ${r.rss.rssMiB.toFixed(1)} MiB (RssAnon, its own memory, ${r.rss.anonMiB.toFixed(1)}; RssFile, node's binary and libraries as mapped, ${r.rss.fileMiB.toFixed(1)}), VmHWM ${r.rss.hwmMiB.toFixed(1)} MiB.`,
  ];
}
