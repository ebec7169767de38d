/**
 * Running the repair batches. A batch deletes island's jumps by the exact text
 * it read; when another process changes FORWARD between that read and the
 * write (a flush racing the repair), iptables-restore refuses the whole batch
 * and nothing changes. Then read the table again, build the batch from what is
 * there now, and try again: twice at most, so that a persistent refusal still
 * ends in an error.
 */
import { islandsPart, restoreBatch } from './diff.js';
import { readTable } from './observe.js';
import { restore } from './tools.js';
import type { RestoreBatch } from './types.js';

const ATTEMPTS = 3;

export async function repair(b: RestoreBatch): Promise<void> {
  let batch = b;
  for (let attempt = 1; ; attempt++) {
    try {
      return await restore(batch);
    } catch (e) {
      if (attempt >= ATTEMPTS) throw e;
      const fresh = await readTable(b.backend, b.family, true);
      if (!fresh.ok) throw e;
      const { jumps, stale } = islandsPart(b.table, fresh.chains);
      batch = restoreBatch(b.family, b.backend, b.table, jumps, stale);
    }
  }
}

/** repair() for a set of actions that share batches: each batch runs once, whoever asks first. */
export function repairer(): (b: RestoreBatch) => Promise<void> {
  const runs = new Map<RestoreBatch, Promise<void>>();
  return (b) => {
    let p = runs.get(b);
    if (!p) {
      p = repair(b);
      runs.set(b, p);
    }
    return p;
  };
}
