/** [daemon] metrics: the text format, read back with a Prometheus-format parser; the counters; the config key. */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import t from 'tap';
import { parseConfig } from '../../src/config/load.js';
import type { PeerStatus } from '../../src/health/health.js';
import { exposition, formatValue, Histogram } from '../../src/metrics/exposition.js';
import { DaemonMetrics } from '../../src/metrics/metrics.js';
import { named } from '../../src/reconcile/object.js';
import type { Action } from '../../src/reconcile/plan.js';
import { peerStatus, pmtuStatus } from '../helpers/peer.js';

interface Parsed {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}
const parse = (text: string): Parsed[] => parsePrometheusTextFormat(text) as Parsed[];
const family = (all: Parsed[], name: string) => {
  const f = all.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in ${all.map((x) => x.name).join(', ')}`);
  return f;
};
const value = (all: Parsed[], name: string, labels: Record<string, string> = {}) => {
  const m = family(all, name).metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
};

t.test('exposition: HELP and TYPE once, escapes, values, empty families left out', async (t) => {
  const text = exposition([
    {
      name: 'a_total',
      help: 'with \\ and\nnewline',
      type: 'counter',
      samples: [{ labels: { x: 'q"\\\n' }, value: 3 }],
    },
    { name: 'b', help: 'nothing', type: 'gauge', samples: [] },
    { name: 'c', help: 'inf', type: 'gauge', samples: [{ value: Number.POSITIVE_INFINITY }] },
  ]);
  t.equal(
    text,
    '# HELP a_total with \\\\ and\\nnewline\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 3\n# HELP c inf\n# TYPE c gauge\nc +Inf\n',
  );
  const p = parse(text);
  t.same(
    p.map((f) => f.name),
    ['a_total', 'c'],
  );
  t.equal(p[0]?.metrics[0]?.labels?.x, 'q"\\\n', 'the label value reads back as written');
  t.equal(formatValue(Number.NaN), 'NaN');
  t.equal(formatValue(0.25), '0.25');
  t.equal(exposition([]), '');
});

t.test('histogram: cumulative buckets, +Inf, sum and count', async (t) => {
  const h = new Histogram([0.01, 0.1, 1]);
  for (const v of [0.005, 0.05, 0.05, 2]) h.observe(v);
  const p = parse(exposition([{ name: 'd_seconds', help: 'd', type: 'histogram', samples: h.samples() }]));
  const m = family(p, 'd_seconds').metrics[0];
  t.same(m?.buckets, { '0.01': '1', '0.1': '3', '1': '3', '+Inf': '4' });
  t.equal(Number(m?.count), 4);
  t.equal(Number(m?.sum), 2.105);
  t.equal(h.observed, 4);
});

const peer = (o: Partial<PeerStatus>): PeerStatus => peerStatus({ sent: 10, answered: 9, lost: 1, ...o });

t.test(
  'DaemonMetrics: objects by kind and state, repairs, rate-limited, firewall, passes, peers, config',
  async (t) => {
    let now = 1_700_000_000_000;
    const m = new DaemonMetrics(() => now);
    m.configLoaded(true);
    const link = { op: 'create-link', link: { name: 'vx0' } } as unknown as Action;
    const route = { op: 'replace-route', route: { dst: '192.168.3.0', dstLen: 24 } } as unknown as Action;
    const jump = named({ type: 'firewall', part: 'jump', family: 4, from: 'FORWARD' });
    const fw = { op: 'firewall', family: 4, ...jump } as unknown as Action;
    m.passed(3, [{ action: link }, { action: route, error: 'ENETUNREACH' }, { action: fw }], []);
    m.passed(0.5, [], [link, link]);
    now += 5000;
    m.configLoaded(false);
    m.passFailed();
    const text = m.render({
      objects: [
        { ...named({ type: 'link', name: 'vx0' }), state: 'ok' },
        { ...named({ type: 'address', link: 'vx0', address: '10.3.1.3', prefixlen: 24 }), state: 'ok' },
        {
          ...named({ type: 'route', dst: '198.51.100.0', dstLen: 24 }),
          state: 'blocked',
          detail: 'device vx0 does not exist',
        },
        { ...jump, state: 'ok' },
      ],
      peers: [
        peer({
          rttMs: 12.5,
          loss: 0.1,
          pmtu: pmtuStatus({ peerPathMtu: 1340 }),
        }),
        peer({ tunnel: 'vx1', peer: '10.4.1.2', state: 'one-way', sent: 4, lost: 4 }),
      ],
      contested: ['link vx0'],
      converged: false,
      lastPassAt: now,
    });
    const p = parse(text);
    for (const f of p) t.match(f.help, /\S/, `${f.name} has a HELP line`);
    // Prometheus naming: counters end in _total, base units in the name
    // the parser spells types as prom2json does: COUNTER, GAUGE, HISTOGRAM
    t.ok(p.some((x) => x.type === 'COUNTER'));
    for (const f of p.filter((x) => x.type === 'COUNTER')) t.match(f.name, /^island_\w+_total$/, f.name);
    t.equal(value(p, 'island_objects', { kind: 'link', state: 'ok' }), 1);
    t.equal(value(p, 'island_objects', { kind: 'link', state: 'blocked' }), 0, 'every state, zeros included');
    t.equal(value(p, 'island_objects', { kind: 'route', state: 'blocked' }), 1);
    t.equal(value(p, 'island_objects', { kind: 'firewall', state: 'ok' }), 1);
    t.equal(value(p, 'island_converged'), 0);
    t.equal(value(p, 'island_contested_objects'), 1);
    t.equal(value(p, 'island_repairs_total', { kind: 'link' }), 1);
    t.equal(value(p, 'island_repairs_total', { kind: 'firewall' }), 1);
    t.equal(value(p, 'island_repairs_total', { kind: 'route' }), undefined, 'a failed change is no repair');
    t.equal(value(p, 'island_repair_failures_total', { kind: 'route' }), 1);
    t.equal(value(p, 'island_repairs_rate_limited_total', { kind: 'link' }), 2);
    t.equal(value(p, 'island_firewall_repairs_total', { family: 'ipv4' }), 1);
    t.equal(value(p, 'island_passes_total'), 2);
    t.equal(value(p, 'island_pass_errors_total'), 1);
    const d = family(p, 'island_pass_duration_seconds');
    t.equal(d.type, 'HISTOGRAM');
    t.equal(Number(d.metrics[0]?.count), 2);
    t.equal(Number(d.metrics[0]?.sum), 0.0035, 'seconds');
    t.equal(d.metrics[0]?.buckets?.['0.001'], '1');
    t.equal(value(p, 'island_last_pass_timestamp_seconds'), now / 1000);
    t.equal(value(p, 'island_peer_up', { tunnel: 'vx0' }), 1);
    t.equal(value(p, 'island_peer_up', { tunnel: 'vx1' }), 0);
    t.equal(value(p, 'island_peer_state', { tunnel: 'vx1', state: 'one-way' }), 1);
    t.equal(value(p, 'island_peer_state', { tunnel: 'vx1', state: 'up' }), 0);
    t.equal(value(p, 'island_peer_rtt_seconds', { tunnel: 'vx0', peer: '10.3.1.2' }), 0.0125);
    t.equal(value(p, 'island_peer_rtt_seconds', { tunnel: 'vx1' }), undefined, 'no answer yet: no rtt sample');
    t.equal(value(p, 'island_peer_loss_ratio', { tunnel: 'vx0' }), 0.1);
    t.equal(value(p, 'island_peer_probes_lost_total', { tunnel: 'vx1' }), 4);
    t.equal(value(p, 'island_path_mtu_bytes', { tunnel: 'vx0', direction: 'out' }), 1350);
    t.equal(value(p, 'island_path_mtu_bytes', { tunnel: 'vx0', direction: 'in' }), 1340);
    t.equal(value(p, 'island_path_mtu_bytes', { tunnel: 'vx1' }), undefined, 'not measured: no sample');
    t.equal(value(p, 'island_tunnel_mtu_bytes', { tunnel: 'vx0' }), 1450);
    t.equal(value(p, 'island_path_mtu_probes_total', { tunnel: 'vx0' }), 15);
    t.equal(value(p, 'island_path_mtu_probe_bytes_total', { tunnel: 'vx0' }), 20355);
    t.equal(value(p, 'island_config_loads_total', { result: 'success' }), 1);
    t.equal(value(p, 'island_config_loads_total', { result: 'failure' }), 1);
    t.equal(value(p, 'island_config_last_load_success'), 0);
    t.equal(value(p, 'island_config_last_load_timestamp_seconds'), now / 1000);
    t.equal(value(p, 'island_config_last_success_timestamp_seconds'), (now - 5000) / 1000);
    t.notMatch(text, /^[^#].* \d+ \d+$/m, 'no timestamps: the textfile collector refuses them');
  },
);

t.test('[daemon] metrics: an absolute *.prom path', async (t) => {
  const load = (v: string) => parseConfig(`[daemon]\nmetrics = ${JSON.stringify(v)}\n`, 'island.toml');
  const ok = load('/var/lib/prometheus/node-exporter/island.prom');
  t.ok(ok.ok);
  if (ok.ok) t.equal(ok.config.daemon.metrics, '/var/lib/prometheus/node-exporter/island.prom');
  const none = parseConfig('[daemon]\nresync = "30s"\n', 'island.toml');
  t.ok(none.ok && none.config.daemon.metrics === undefined, 'absent: no file');
  for (const bad of ['island.prom', '/var/lib/x/island.txt', '/var/lib/x/', '/var/lib/../island.prom', '/.prom']) {
    const r = load(bad);
    t.notOk(r.ok, bad);
    if (!r.ok)
      t.match(r.errors[0], { line: 2, key: 'daemon.metrics', message: /absolute file path ending in "\.prom"/ });
  }
});
