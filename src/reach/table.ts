/** `island test`'s output: a table for people, one JSON object for scripts. Pure. */
import { describeSelf } from '../config/island.js';
import type { IslandSelf } from '../config/types.js';
import { ms } from '../health/describe.js';
import type { IcmpResult, Summary, TargetResult, TcpResult } from './targets.js';

export interface Report {
  config: string;
  self: IslandSelf;
  timeoutMs: number;
  targets: TargetResult[];
  summary: Summary;
}

/** "0.42 ms", "timeout", "unreachable (no route)", "error (ping not found ...)", "not run" */
export function icmpText(r: IcmpResult | undefined): string {
  if (!r) return 'skipped';
  switch (r.state) {
    case 'ok':
      return ms(r.rttMs);
    case 'timeout':
    case 'not run':
      return r.state;
    case 'unreachable':
    case 'error':
      return `${r.state} (${r.detail})`;
  }
}

/** "6443 open 1.10 ms", "10250 refused", "10250 unreachable (no route)" */
export function tcpText(r: TcpResult): string {
  switch (r.state) {
    case 'open':
      return `${r.port} open ${ms(r.connectMs)}`;
    case 'refused':
    case 'timeout':
    case 'not run':
      return `${r.port} ${r.state}`;
    case 'unreachable':
    case 'error':
      return `${r.port} ${r.state} (${r.detail})`;
  }
}

export function summaryText(rep: Report): string {
  const s = rep.summary;
  if (s.targets === 0) return `from ${describeSelf(rep.self)}: no other [[host]] in ${rep.config} to test`;
  const parts = [`${s.passed} ok`];
  if (s.failed) {
    const names = rep.targets.filter((t) => t.status === 'failed').map((t) => t.name);
    parts.push(`${s.failed} failed (${names.join(', ')})`);
  }
  if (s.skipped) parts.push(`${s.skipped} skipped (an address of this host)`);
  const hosts = s.targets === 1 ? '1 host' : `${s.targets} hosts`;
  return `from ${describeSelf(rep.self)}: ${hosts}, ${parts.join(', ')}`;
}

/** One row per target, columns as wide as their widest cell, then the summary line. */
export function formatTable(rep: Report): string {
  const head = ['HOST', 'ADDRESS', 'ICMP', 'TCP', 'PATH'];
  const rows = rep.targets.map((t) => [
    t.name,
    t.address,
    icmpText(t.icmp),
    t.tcp.length ? t.tcp.map(tcpText).join(', ') : '-',
    t.path.text,
  ]);
  const lines: string[] = [];
  if (rows.length) {
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const r of [head, ...rows])
      lines.push(
        r
          .map((c, i) => c.padEnd(width[i] ?? 0))
          .join('  ')
          .trimEnd(),
      );
  }
  lines.push(summaryText(rep));
  return `${lines.join('\n')}\n`;
}

/** The same as one object: the file, who tests, every target with its checks, the summary. */
export function formatJson(rep: Report): string {
  return `${JSON.stringify(rep, null, 2)}\n`;
}
