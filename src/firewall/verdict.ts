/**
 * What a chain does to one of island's flows, worked out from its rules the way the kernel walks
 * them: in order, into jumped-to chains and back, down to the policy of a base chain. Pure.
 *
 * A rule's match against a flow is yes, no or maybe: a flow leaves much unknown (a forwarded
 * flow "in vx0" has no port; nothing is known of marks, rates, sockets). The walk therefore
 * gives every ending the flow may meet, and says of each drop whether it is sure: the policy
 * of a base chain the walk reaches, or a drop rule that matches the flow for certain, with
 * nothing before it that surely accepts. A drop behind a rule island cannot read (a mark, a
 * rate limit) is possible, never sure.
 */
import type { Flow } from './types.js';

export type Match = 'yes' | 'no' | 'maybe';

export type Verdict =
  | { kind: 'accept' }
  /** drop or reject */
  | { kind: 'drop' }
  | { kind: 'return' }
  | { kind: 'jump' | 'goto'; chain: string }
  /** no verdict: counters, logs, marks; the next rule follows */
  | { kind: 'continue' }
  /** a verdict only known at run time (a queue to a program, a verdict map): any ending */
  | { kind: 'unknown'; what: string };

export interface Rule {
  match(flow: Flow): Match;
  /** what the rule does when it matches (for a verdict map: unknown, see decide) */
  verdict: Verdict;
  /** match and verdict together, for rules whose verdict depends on the flow */
  decide?(flow: Flow): { match: Match; verdict: Verdict };
  /** how the rule reads, for messages: iptables' spec, or a summary of the nft expressions */
  text: string;
}

export interface Chain {
  name: string;
  rules: Rule[];
  /** base chains only: what happens to a packet no rule decided */
  policy?: 'accept' | 'drop';
}

export interface Drop {
  /** the chain that drops */
  chain: string;
  /** "policy drop", or the rule's text */
  cause: string;
  /** the policy reached, or a rule that matches the flow for certain */
  sure: boolean;
}

export interface Outcome {
  /** the flow may be accepted */
  accept: boolean;
  /** every way it may be dropped */
  drops: Drop[];
  /** the flow may leave the chain without a verdict (return to the caller; for a base chain: never) */
  falls: boolean;
}

const MAX_DEPTH = 16;

/** AND of the matches of a rule's conditions, in order. */
export function all(matches: Iterable<Match>): Match {
  let out: Match = 'yes';
  for (const m of matches) {
    if (m === 'no') return 'no';
    if (m === 'maybe') out = 'maybe';
  }
  return out;
}

export const negate = (m: Match): Match => (m === 'yes' ? 'no' : m === 'no' ? 'yes' : 'maybe');

/** What `chain` of `table` does to `flow`. */
export function evaluate(table: ReadonlyMap<string, Chain>, chain: string, flow: Flow, depth = 0): Outcome {
  const out: Outcome = { accept: false, drops: [], falls: false };
  const c = table.get(chain);
  if (!c || depth > MAX_DEPTH) {
    // a jump to nothing cannot be made; a nest this deep is past reading: anything may happen
    out.accept = true;
    out.falls = true;
    return out;
  }
  for (const r of c.rules) {
    const d = r.decide ? r.decide(flow) : { match: r.match(flow), verdict: r.verdict };
    const m = d.match;
    if (m === 'no') continue;
    const sure = m === 'yes';
    const v = d.verdict;
    switch (v.kind) {
      case 'continue':
        continue;
      case 'accept':
        out.accept = true;
        if (sure) return out;
        continue;
      case 'drop':
        out.drops.push({ chain: c.name, cause: r.text, sure });
        if (sure) return out;
        continue;
      case 'return':
        out.falls = true;
        if (sure) return out;
        continue;
      case 'jump':
      case 'goto': {
        const o = evaluate(table, v.chain, flow, depth + 1);
        out.accept ||= o.accept;
        for (const d of o.drops) out.drops.push({ ...d, sure: d.sure && sure });
        // a goto that falls through returns from this chain; a jump goes on with the next rule
        if (v.kind === 'goto') {
          out.falls ||= o.falls;
          if (sure) return out;
        } else if (sure && !o.falls) return out;
        continue;
      }
      case 'unknown':
        out.accept = true;
        out.falls = true;
        out.drops.push({ chain: c.name, cause: `${r.text} (${v.what})`, sure: false });
        continue;
    }
  }
  if (c.policy === 'drop') out.drops.push({ chain: c.name, cause: 'policy drop', sure: true });
  else if (c.policy === 'accept') out.accept = true;
  else out.falls = true;
  return out;
}

/**
 * The sure drops of `chain` for `flow`; for a flow that answers this host's own packets, only
 * the drops it meets both as a first packet and as an answer (conntrack ESTABLISHED).
 */
export function sureDropsOf(table: ReadonlyMap<string, Chain>, chain: string, flow: Flow): Drop[] {
  const first = sureDrops(evaluate(table, chain, { ...flow, ct: 'new' }));
  if (!flow.answers) return first;
  const later = new Set(
    sureDrops(evaluate(table, chain, { ...flow, ct: 'established' })).map((d) => `${d.chain}\0${d.cause}`),
  );
  return first.filter((d) => later.has(`${d.chain}\0${d.cause}`));
}

/** The drops of an outcome that are sure, first one per chain and cause. */
export function sureDrops(o: Outcome): Drop[] {
  const seen = new Set<string>();
  return o.drops.filter((d) => {
    const k = `${d.chain}\0${d.cause}`;
    if (!d.sure || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
