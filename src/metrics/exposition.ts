/**
 * Prometheus' text exposition format (version 0.0.4), as node_exporter's textfile collector
 * reads it: `# HELP`, `# TYPE`, then one `name{labels} value` line per sample, no timestamps
 * (the collector refuses them). Pure: unit-tested without a file.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type Labels = Record<string, string>;

export interface Sample {
  /** appended to the family's name: "_bucket", "_sum", "_count" of a histogram */
  suffix?: string;
  labels?: Labels;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** HELP text: a backslash and a newline are the only escapes. */
const escapeHelp = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');

/** A label value: backslash, double quote and newline escaped. */
const escapeLabel = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** A sample value: integers as integers, +Inf/-Inf/NaN as Prometheus spells them. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

/** Families in order, each HELP and TYPE once; a family without samples is left out. */
export function exposition(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (!f.samples.length) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** A cumulative histogram: per-bucket counts, sum and count, as `exposition` writes them. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    this.bounds.forEach((b, i) => {
      if (v <= b) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }

  /** How many values were observed. */
  get observed(): number {
    return this.count;
  }

  samples(labels: Labels = {}): Sample[] {
    return [
      ...this.bounds.map((b, i) => ({
        suffix: '_bucket',
        labels: { ...labels, le: formatValue(b) },
        value: this.counts[i] ?? 0,
      })),
      { suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: this.count },
      { suffix: '_sum', labels, value: this.sum },
      { suffix: '_count', labels, value: this.count },
    ];
  }
}
