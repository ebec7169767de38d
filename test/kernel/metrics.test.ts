/**
 * [daemon] metrics across the three-namespace NAT: both ends run island with a metrics file; the
 * file, read with a Prometheus-format parser, says what `island status --json` says (objects by
 * kind and state, peers), counts what the daemon's log counts (repairs), follows a peer state
 * change without waiting for a pass, and records a refused reload. `island graph` draws the
 * daemon's live view.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import t from 'tap';
import { configDir, type Daemon, type LogRecord, runIsland, startDaemon, writeConfig } from '../helpers/island.js';
import { type NatTopology, natTopology, natTunnel } from '../helpers/netns.js';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; count?: string; sum?: string }[];
}

const side = (o: { local: string; remote: string; me: string; extra: string; metrics: string }) => `${natTunnel(o)}
[[route]]
to = "10.99.0.0/16"
via = "${o.me === '10.30.30.2' ? '10.30.30.1' : '10.30.30.2'}"

[sysctl]
"net.ipv4.ip_forward" = 1

[daemon]
health_interval = "1s"
metrics = "${o.metrics}"
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(path: string): Promise<Family[]> {
  return parsePrometheusTextFormat(await readFile(path, 'utf8')) as Family[];
}

function value(all: Family[], name: string, labels: Record<string, string> = {}): number | undefined {
  const m = all
    .find((f) => f.name === name)
    ?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

/** Wait until the file says what `ok` wants (it is replaced after passes and peer changes). */
async function until(path: string, what: string, ok: (f: Family[]) => boolean, ms = 15_000): Promise<Family[]> {
  const deadline = Date.now() + ms;
  let last: Family[] = [];
  while (Date.now() < deadline) {
    last = await scrape(path).catch(() => []);
    if (ok(last)) return last;
    await sleep(100);
  }
  throw new Error(`metrics file never showed ${what}; last: ${JSON.stringify(last.map((f) => [f.name, f.metrics]))}`);
}

interface End {
  daemon: Daemon;
  env: NodeJS.ProcessEnv;
  config: string;
  metrics: string;
}

async function start(t: Parameters<typeof natTopology>[0], n: NatTopology): Promise<{ priv: End; pub: End }> {
  const end = async (ns: 'priv' | 'pub'): Promise<End> => {
    const dir = await configDir(t);
    const metrics = join(dir, 'island.prom');
    const config = await writeConfig(
      t,
      ns === 'priv'
        ? // a slow keepalive: file and status are compared between two of its probes
          side({ local: n.privAddr, remote: n.pubAddr, me: '10.30.30.2', extra: 'keepalive = "5s"', metrics })
        : side({ local: n.pubAddr, remote: n.natPublicAddr, me: '10.30.30.1', extra: 'peer = "10.30.30.2"', metrics }),
    );
    const env = { ISLAND_RUNTIME_DIR: await configDir(t) };
    return { daemon: startDaemon(t, n[ns], config, { env }), env, config, metrics };
  };
  return { priv: await end('priv'), pub: await end('pub') };
}

const peerUp = (r: LogRecord) => r.state === 'up' && typeof r.msg === 'string' && r.msg.startsWith('peer ');

t.test('the metrics file agrees with island status, counts the repairs, follows the peer', async (t) => {
  const n = await natTopology(t, { prefix: 'mx' });
  const { priv, pub } = await start(t, n);
  await priv.daemon.waitForLog(peerUp, 45_000);
  await pub.daemon.waitForLog(peerUp, 45_000);
  const statusJson = async () =>
    JSON.parse((await runIsland(n.priv, ['status', '--json', '-c', priv.config], { env: priv.env })).stdout);

  await t.test('a textfile node_exporter reads: *.prom, 0644, replaced whole', async (t) => {
    const f = await until(priv.metrics, 'the peer up', (x) => value(x, 'island_peer_up', { tunnel: 'vx0' }) === 1);
    const st = await stat(priv.metrics);
    t.equal(st.mode & 0o777, 0o644, 'readable by the prometheus user');
    const text = await readFile(priv.metrics, 'utf8');
    t.match(text, /^# HELP island_objects /m);
    t.match(text, /^# TYPE island_repairs_total counter$/m);
    t.notMatch(text, /^island\S* \S+ \S+$/m, 'no timestamps (the textfile collector refuses them)');
    for (const fam of f.filter((x) => x.type === 'COUNTER')) t.match(fam.name, /^island_\w+_total$/);
  });

  await t.test('objects by kind and state, and the peer, as status --json says', async (t) => {
    // a pass writes the file: SIGHUP runs one, then file and status are compared
    for (let attempt = 1; ; attempt++) {
      const since = Date.now();
      priv.daemon.signal('SIGHUP');
      await priv.daemon.waitForLog((r) => r.msg === 'configuration reloaded' && Date.parse(r.time) >= since);
      await sleep(200);
      const f = await scrape(priv.metrics);
      const s = await statusJson();
      const p = s.peers[0];
      // rtt and loss change with every probe: comparable when none was sent or resolved since the write
      const probes = (x: Family[]) =>
        ['sent', 'answered', 'lost'].map((k) => value(x, `island_peer_probes_${k}_total`, { tunnel: 'vx0' }));
      if (JSON.stringify(probes(f)) !== JSON.stringify([p.sent, p.answered, p.lost])) {
        t.ok(attempt < 20, `a write and a status between two probes within 20 tries (${attempt})`);
        if (attempt < 20) continue;
      }
      const counts = new Map<string, number>();
      for (const o of s.objects) {
        const key = `${o.object.split(' ')[0]} ${o.state}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      t.ok(counts.size > 0, `status objects: ${JSON.stringify([...counts])}`);
      for (const [key, count] of counts) {
        const [kind, state] = key.split(' ') as [string, string];
        t.equal(value(f, 'island_objects', { kind, state }), count, `island_objects{kind="${kind}",state="${state}"}`);
      }
      const fileTotal = (f.find((x) => x.name === 'island_objects')?.metrics ?? []).reduce(
        (a, m) => a + Number(m.value),
        0,
      );
      t.equal(fileTotal, s.objects.length, 'no object the file counts that status does not show');
      t.equal(value(f, 'island_converged'), s.daemon.converged ? 1 : 0);
      t.equal(value(f, 'island_peer_up', { tunnel: 'vx0', peer: p.peer }), 1);
      t.equal(value(f, 'island_peer_state', { tunnel: 'vx0', state: p.state }), 1);
      t.equal(value(f, 'island_peer_rtt_seconds', { tunnel: 'vx0' }), p.rttMs / 1000, `rtt ${p.rttMs} ms`);
      t.equal(value(f, 'island_peer_loss_ratio', { tunnel: 'vx0' }), p.loss);
      t.equal(value(f, 'island_last_pass_timestamp_seconds'), s.daemon.lastPassAt / 1000);
      t.equal(value(f, 'island_config_last_load_success'), 1);
      t.comment(`compared on attempt ${attempt}`);
      break;
    }
  });

  await t.test('repairs: the counters add up to the actions the log reports; a deleted link counts', async (t) => {
    const before = await scrape(priv.metrics);
    const links = value(before, 'island_repairs_total', { kind: 'link' }) ?? 0;
    const since = Date.now();
    await n.priv.run(['ip', 'link', 'del', 'vx0']);
    await priv.daemon.waitForLog((r) => r.msg === 'reconciled' && Date.parse(r.time) >= since);
    const f = await until(
      priv.metrics,
      'the link repair',
      (x) => (value(x, 'island_repairs_total', { kind: 'link' }) ?? 0) > links,
    );
    t.equal(value(f, 'island_repairs_total', { kind: 'link' }), links + 1, 'the link re-created once');
    t.ok((value(f, 'island_repairs_total', { kind: 'address' }) ?? 0) >= 2, 'its address too, again');
    const logged = priv.daemon.logs.filter((r) => r.msg === 'reconciled').reduce((a, r) => a + r.actions, 0);
    const counted = (f.find((x) => x.name === 'island_repairs_total')?.metrics ?? []).reduce(
      (a, m) => a + Number(m.value),
      0,
    );
    const failed = (f.find((x) => x.name === 'island_repair_failures_total')?.metrics ?? []).reduce(
      (a, m) => a + Number(m.value),
      0,
    );
    t.equal(counted + failed, logged, `${counted} repairs + ${failed} failures = the log's ${logged} actions`);
    const passes = value(f, 'island_passes_total') ?? 0;
    const h = f.find((x) => x.name === 'island_pass_duration_seconds')?.metrics[0];
    t.equal(Number(h?.count), passes, 'one duration per pass');
    t.ok(Number(h?.sum) > 0 && Number(h?.sum) < passes, `${h?.sum} s over ${passes} passes`);
  });

  await t.test('a peer state change is written at once, without waiting for a pass', async (t) => {
    const since = Date.now();
    const rule = ['FORWARD', '-p', 'udp', '--dport', '5533', '-j', 'DROP'];
    await n.nat.run(['iptables', '-I', ...rule]);
    t.teardown(() => n.nat.exec(['iptables', '-D', ...rule]));
    // two lost keepalives in a row (5 s apart)
    const f = await until(
      priv.metrics,
      'the peer down',
      (x) => value(x, 'island_peer_state', { state: 'down' }) === 1,
      30_000,
    );
    t.equal(value(f, 'island_peer_up', { tunnel: 'vx0' }), 0);
    const down = await priv.daemon.waitForLog(
      (r) => r.state === 'down' && r.msg?.startsWith('peer ') && Date.parse(r.time) >= since,
    );
    const lastPass = (value(f, 'island_last_pass_timestamp_seconds') ?? 0) * 1000;
    t.ok(lastPass < Date.parse(down.time), 'written by the state change itself, not by a pass after it');
    t.ok((value(f, 'island_peer_loss_ratio', { tunnel: 'vx0' }) ?? 0) > 0, 'the lost probes count');
    const s = await statusJson();
    t.equal(s.peers[0].state, 'down', 'status agrees');

    const graph = await runIsland(n.priv, ['graph', '-c', priv.config], { env: priv.env });
    t.equal(graph.code, 0, graph.stderr);
    t.match(graph.stdout, /live from daemon pid \d+/);
    t.match(
      graph.stdout,
      /"link vx0" -> "remote vx0" \[label="[^"]*down: no answer[^"]*".*color="#c62828"/,
      'the tunnel drawn red, down',
    );

    await n.nat.run(['iptables', '-D', ...rule]);
    await until(priv.metrics, 'the peer up again', (x) => value(x, 'island_peer_up', { tunnel: 'vx0' }) === 1);
    const again = await runIsland(n.priv, ['graph', '-c', priv.config], { env: priv.env });
    t.match(
      again.stdout,
      /"link vx0" -> "remote vx0" \[label="[^"]*peer up, rtt[^"]*".*color="#2e7d32"/,
      'green once up',
    );
  });

  await t.test('a refused reload: last load failed, its time, the good one still counted', async (t) => {
    const good = await readFile(priv.config, 'utf8');
    const before = await scrape(priv.metrics);
    const failures = value(before, 'island_config_loads_total', { result: 'failure' }) ?? 0;
    const goodAt = value(before, 'island_config_last_success_timestamp_seconds') ?? 0;
    await writeFile(priv.config, `${good}\n[[tunnel]]\nname = 3\n`);
    const since = Date.now();
    // the daemon watches the file: the save alone reloads it, SIGHUP only makes sure
    priv.daemon.signal('SIGHUP');
    const f = await until(priv.metrics, 'the refused load', (x) => value(x, 'island_config_last_load_success') === 0);
    t.ok((value(f, 'island_config_loads_total', { result: 'failure' }) ?? 0) > failures);
    t.ok((value(f, 'island_config_last_load_timestamp_seconds') ?? 0) >= Math.floor(since / 1000));
    t.equal(value(f, 'island_config_last_success_timestamp_seconds'), goodAt, 'the good load keeps its time');
    await writeFile(priv.config, good);
    priv.daemon.signal('SIGHUP');
    await until(priv.metrics, 'a good load again', (x) => value(x, 'island_config_last_load_success') === 1);
  });
});
