/**
 * `[daemon] metrics = "PATH"`: the daemon's counters and gauges in node_exporter's textfile
 * format, so Prometheus scrapes island without island listening on any socket. The file is
 * replaced whole (a temporary in the same directory, fsync, rename) after every pass and every
 * change of a peer's state; node_exporter's collector reads `*.prom` files only, so the
 * temporary (`.island.prom.island-PID-…`) is never read half-written.
 */
import type { Logger } from 'pino';
import type { PeerStatus } from '../health/health.js';
import type { PeerState } from '../health/tracker.js';
import { replaceFile } from '../hosts/file.js';
import type { Action, ObjectState, ObjectStatus } from '../reconcile/plan.js';
import { actionId } from '../reconcile/plan.js';
import { exposition, type Family, Histogram, type Sample } from './exposition.js';

/** What the daemon shows at the moment of a write (Daemon.snapshot()). */
export interface MetricsView {
  objects: ObjectStatus[];
  peers: PeerStatus[];
  contested: string[];
  converged: boolean;
  lastPassAt: number;
}

const OBJECT_STATES: ObjectState[] = ['ok', 'missing', 'drifted', 'foreign', 'blocked', 'stale'];
const PEER_STATES: PeerState[] = ['up', 'one-way', 'down', 'pending'];
/** A pass takes ~1 ms idle, tens of ms with changes, up to ~1 s for 500 tunnels. */
const PASS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const inc = (m: Map<string, number>, key: string, by = 1) => m.set(key, (m.get(key) ?? 0) + by);
const seconds = (ms: number) => ms / 1000;

/** The counters of one daemon's life (a reload keeps them) and the gauges of its last view. */
export class DaemonMetrics {
  private readonly repairs = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly limited = new Map<string, number>();
  private readonly firewall = new Map<string, number>();
  private readonly passDurations = new Histogram(PASS_BUCKETS);
  private passErrors = 0;
  private readonly loads = new Map<string, number>([
    ['success', 0],
    ['failure', 0],
  ]);
  private lastLoad?: { ok: boolean; at: number };
  private lastGoodLoadAt?: number;
  private readonly startedAt = Date.now();

  constructor(private readonly now: () => number = Date.now) {}

  /** A configuration was read: the file at start or reload (refused or taken), a try's candidate. */
  configLoaded(ok: boolean): void {
    const at = this.now();
    inc(this.loads, ok ? 'success' : 'failure');
    this.lastLoad = { ok, at };
    if (ok) this.lastGoodLoadAt = at;
  }

  /** A pass ran: its duration, the repairs made or failed, and those the rate limit held back. */
  passed(ms: number, results: { action: Action; error?: string }[], skipped: Action[]): void {
    this.passDurations.observe(seconds(ms));
    for (const r of results) {
      const kind = actionId(r.action).type;
      inc(r.error ? this.failures : this.repairs, kind);
      if (!r.error && r.action.op === 'firewall') inc(this.firewall, `ipv${r.action.family}`);
    }
    for (const a of skipped) inc(this.limited, actionId(a).type);
  }

  /** A pass that threw before it could finish. */
  passFailed(): void {
    this.passErrors++;
  }

  render(view: MetricsView): string {
    const byKind = (m: Map<string, number>, label = 'kind'): Sample[] =>
      [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, value]) => ({ labels: { [label]: k }, value }));
    // every state of every kind present, zeros included: a series that vanishes cannot alert
    const objectCounts = new Map<string, Map<ObjectState, number>>();
    for (const o of view.objects) {
      const kind = o.id.type;
      const states = objectCounts.get(kind) ?? new Map(OBJECT_STATES.map((s) => [s, 0]));
      states.set(o.state, (states.get(o.state) ?? 0) + 1);
      objectCounts.set(kind, states);
    }
    const peerLabels = (p: PeerStatus) => ({ tunnel: p.tunnel, peer: p.peer });
    const families: Family[] = [
      {
        name: 'island_objects',
        help: 'Objects of the running configuration by kind and state, as island status shows them after the last pass.',
        type: 'gauge',
        samples: [...objectCounts]
          .sort(([a], [b]) => a.localeCompare(b))
          .flatMap(([kind, states]) => [...states].map(([state, value]) => ({ labels: { kind, state }, value }))),
      },
      {
        name: 'island_converged',
        help: 'Whether every object was ok after the last pass and none is contested (1) or not (0).',
        type: 'gauge',
        samples: [{ value: view.converged ? 1 : 0 }],
      },
      {
        name: 'island_contested_objects',
        help: 'Objects another process keeps undoing, whose repairs are rate-limited now.',
        type: 'gauge',
        samples: [{ value: view.contested.length }],
      },
      {
        name: 'island_repairs_total',
        help: 'Changes made to the host to match the configuration (creations and repairs), by object kind.',
        type: 'counter',
        samples: byKind(this.repairs),
      },
      {
        name: 'island_repair_failures_total',
        help: 'Changes that failed, by object kind.',
        type: 'counter',
        samples: byKind(this.failures),
      },
      {
        name: 'island_repairs_rate_limited_total',
        help: 'Repairs held back by the repair rate limit (an object another process keeps undoing), by object kind.',
        type: 'counter',
        samples: byKind(this.limited),
      },
      {
        name: 'island_firewall_repairs_total',
        help: "Changes made to island's iptables chains and jumps, by IP family.",
        type: 'counter',
        samples: byKind(this.firewall, 'family'),
      },
      {
        name: 'island_passes_total',
        help: 'Reconcile passes run (each compares the whole configuration with the kernel).',
        type: 'counter',
        samples: [{ value: this.passDurations.observed }],
      },
      {
        name: 'island_pass_errors_total',
        help: 'Reconcile passes that failed as a whole.',
        type: 'counter',
        samples: [{ value: this.passErrors }],
      },
      {
        name: 'island_pass_duration_seconds',
        help: 'Duration of reconcile passes.',
        type: 'histogram',
        samples: this.passDurations.samples(),
      },
      {
        name: 'island_last_pass_timestamp_seconds',
        help: 'When the last reconcile pass ended, in seconds since the epoch.',
        type: 'gauge',
        samples: view.lastPassAt ? [{ value: seconds(view.lastPassAt) }] : [],
      },
      {
        name: 'island_peer_up',
        help: "Whether a tunnel's peer answers island's probes (1) or not (0: one-way, down or not yet probed).",
        type: 'gauge',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.state === 'up' ? 1 : 0 })),
      },
      {
        name: 'island_peer_state',
        help: "A tunnel's peer's state: 1 for the current one of up, one-way, down, pending.",
        type: 'gauge',
        samples: view.peers.flatMap((p) =>
          PEER_STATES.map((state) => ({ labels: { ...peerLabels(p), state }, value: p.state === state ? 1 : 0 })),
        ),
      },
      {
        name: 'island_peer_rtt_seconds',
        help: 'Round-trip time of the last answered probe.',
        type: 'gauge',
        samples: view.peers.flatMap((p) =>
          p.rttMs === undefined ? [] : [{ labels: peerLabels(p), value: seconds(p.rttMs) }],
        ),
      },
      {
        name: 'island_peer_loss_ratio',
        help: 'Probes lost over the last minute, 0 to 1.',
        type: 'gauge',
        samples: view.peers.flatMap((p) => (p.loss === undefined ? [] : [{ labels: peerLabels(p), value: p.loss }])),
      },
      {
        name: 'island_peer_probes_sent_total',
        help: 'Probes sent to the peer (since the probe started: a reload that changes the tunnel starts a new one).',
        type: 'counter',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.sent })),
      },
      {
        name: 'island_peer_probes_answered_total',
        help: "Probes answered, by the peer's island or its kernel (a port unreachable proves the path too).",
        type: 'counter',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.answered })),
      },
      {
        name: 'island_peer_probes_lost_total',
        help: 'Probes to the peer that went unanswered.',
        type: 'counter',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.lost })),
      },
      {
        name: 'island_path_mtu_bytes',
        help: "The largest packet the tunnel's path carried at the last path MTU search, by direction: out (our probes), in (the peer island's).",
        type: 'gauge',
        samples: view.peers.flatMap((p) => [
          ...(p.pmtu?.pathMtu === undefined
            ? []
            : [{ labels: { ...peerLabels(p), direction: 'out' }, value: p.pmtu.pathMtu }]),
          ...(p.pmtu?.peerPathMtu === undefined
            ? []
            : [{ labels: { ...peerLabels(p), direction: 'in' }, value: p.pmtu.peerPathMtu }]),
        ]),
      },
      {
        name: 'island_tunnel_mtu_bytes',
        help: "The tunnel's MTU the last path MTU search ran under (a path MTU below it: packets that large are lost).",
        type: 'gauge',
        samples: view.peers.flatMap((p) =>
          p.pmtu?.ceiling === undefined ? [] : [{ labels: peerLabels(p), value: p.pmtu.ceiling }],
        ),
      },
      {
        name: 'island_path_mtu_probes_total',
        help: 'Path MTU probes sent to the peer (since the probe started).',
        type: 'counter',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.pmtu?.probes ?? 0 })),
      },
      {
        name: 'island_path_mtu_probe_bytes_total',
        help: 'Bytes of those probes, IP headers included.',
        type: 'counter',
        samples: view.peers.map((p) => ({ labels: peerLabels(p), value: p.pmtu?.bytes ?? 0 })),
      },
      {
        name: 'island_config_loads_total',
        help: 'Configurations read (start, reload, island try), by result: success, or failure (the last good one keeps running).',
        type: 'counter',
        samples: byKind(this.loads, 'result'),
      },
      {
        name: 'island_config_last_load_success',
        help: 'Whether the last configuration read was taken (1) or refused (0).',
        type: 'gauge',
        samples: this.lastLoad ? [{ value: this.lastLoad.ok ? 1 : 0 }] : [],
      },
      {
        name: 'island_config_last_load_timestamp_seconds',
        help: 'When a configuration was last read, taken or refused, in seconds since the epoch.',
        type: 'gauge',
        samples: this.lastLoad ? [{ value: seconds(this.lastLoad.at) }] : [],
      },
      {
        name: 'island_config_last_success_timestamp_seconds',
        help: 'When a configuration was last taken, in seconds since the epoch.',
        type: 'gauge',
        samples: this.lastGoodLoadAt ? [{ value: seconds(this.lastGoodLoadAt) }] : [],
      },
      {
        name: 'island_start_time_seconds',
        help: 'When the daemon started, in seconds since the epoch.',
        type: 'gauge',
        samples: [{ value: seconds(this.startedAt) }],
      },
    ];
    return exposition(families);
  }
}

/**
 * Writes the file: one write at a time, and a request during a write makes one more after it
 * (so the file always ends with the latest view). A failing write is logged once, not at
 * every pass, and its recovery once too.
 */
export class MetricsFile {
  private path?: string;
  private writing = false;
  private again = false;
  private failing?: string;

  constructor(
    private readonly render: () => string,
    private readonly log: Logger,
  ) {}

  /** The configured path (undefined: no file). A path given up is left as it is. */
  set target(path: string | undefined) {
    if (path !== this.path) this.failing = undefined;
    this.path = path;
  }

  get target(): string | undefined {
    return this.path;
  }

  /** Write the current view soon; resolves when the file holds it (or the write failed). */
  async write(): Promise<void> {
    if (!this.path) return;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = true;
    try {
      do {
        this.again = false;
        const path = this.path;
        if (!path) break;
        try {
          await replaceFile(path, this.render());
          if (this.failing) this.log.info({ metrics: path }, `metrics: writing ${path} works again`);
          this.failing = undefined;
        } catch (e) {
          const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
          if (why !== this.failing)
            this.log.warn(
              { metrics: path, err: (e as Error).message },
              `metrics: cannot write ${path}: ${(e as Error).message}${readOnlyHint(e)}`,
            );
          this.failing = why;
        }
      } while (this.again);
    } finally {
      this.writing = false;
    }
  }
}

/** EROFS under island.service: ProtectSystem=strict keeps the directory read-only. */
function readOnlyHint(e: unknown): string {
  return (e as NodeJS.ErrnoException).code === 'EROFS'
    ? ' (read-only here: under island.service, add the directory to ReadWritePaths= with systemctl edit island)'
    : '';
}
