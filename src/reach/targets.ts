/**
 * `island test`: what is checked (every [[host]] of the island but this one) and what came
 * back, as plain data. Pure: the probes are in probe.ts, the words in table.ts.
 */
import type { IslandModel } from '../config/types.js';

export interface Target {
  name: string;
  address: string;
  site: string;
  /** the gateway of its site */
  gateway: boolean;
  /** TCP ports the file names for it */
  tcp: number[];
}

/** Every [[host]] except this one, in file order (a gateway is a [[host]] too). */
export function targets(model: IslandModel): Target[] {
  const gateways = new Set(model.sites.map((s) => s.gateway));
  return model.hosts
    .filter((h) => h.name !== model.self?.host)
    .map((h) => ({ name: h.name, address: h.address, site: h.site, gateway: gateways.has(h.name), tcp: [...h.tcp] }));
}

/** A check not started before the command's total time ran out. */
export interface NotRun {
  state: 'not run';
  detail: string;
}

export type IcmpResult =
  | { state: 'ok'; rttMs: number }
  | { state: 'timeout' }
  /** an ICMP error came back ("Destination Host Unreachable from 10.3.1.1"), or no route here */
  | { state: 'unreachable'; detail: string }
  /** ping could not run or said something else */
  | { state: 'error'; detail: string }
  | NotRun;

export type TcpResult = { port: number } & (
  | { state: 'open'; connectMs: number }
  | { state: 'refused' }
  | { state: 'timeout' }
  | { state: 'unreachable'; detail: string }
  | { state: 'error'; detail: string }
  | NotRun
);

/** How this host routes to the target, in `ip route get`'s words. */
export type PathResult =
  | { kind: 'route'; text: string; dev?: string; via?: string; src?: string }
  /** an address of this host: nothing to check */
  | { kind: 'local'; text: 'local' }
  /** no route, or an unreachable / prohibit / blackhole one */
  | { kind: 'none'; text: string };

export interface TargetResult extends Omit<Target, 'tcp'> {
  /** ok: every check passed; skipped: the address is this host's own, nothing checked */
  status: 'ok' | 'failed' | 'skipped';
  path: PathResult;
  /** absent when skipped */
  icmp?: IcmpResult;
  /** one per port of the target's tcp, in its order; empty when skipped */
  tcp: TcpResult[];
}

export interface Summary {
  targets: number;
  passed: number;
  failed: number;
  skipped: number;
  /** every check of every target passed */
  ok: boolean;
  elapsedMs: number;
}

/** A target's row from its checks: failed as soon as one check did not pass. */
export function result(t: Target, path: PathResult, icmp: IcmpResult | undefined, tcp: TcpResult[]): TargetResult {
  const skipped = path.kind === 'local';
  const passed = icmp?.state === 'ok' && tcp.every((c) => c.state === 'open');
  return {
    ...t,
    status: skipped ? 'skipped' : passed ? 'ok' : 'failed',
    path,
    ...(skipped ? {} : { icmp }),
    tcp: skipped ? [] : tcp,
  };
}

export function summarize(rows: TargetResult[], elapsedMs: number): Summary {
  const count = (s: TargetResult['status']) => rows.filter((r) => r.status === s).length;
  const failed = count('failed');
  return { targets: rows.length, passed: count('ok'), failed, skipped: count('skipped'), ok: failed === 0, elapsedMs };
}

/** 0 when every check passed (nothing to check passes too), 1 when any failed. */
export function exitCode(s: Summary): 0 | 1 {
  return s.ok ? 0 : 1;
}
