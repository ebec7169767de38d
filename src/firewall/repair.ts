/**
 * Running the repair batches. A batch deletes island's jumps by the exact text
 * it read; when another process changes FORWARD between that read and the
 * write (a flush racing the repair), iptables-restore refuses the whole batch
 * and nothing changes. Then read the table again, build the batch from what is
 * there now, and try again: twice at most, so that a persistent refusal still
 * ends in an error.
 */
import { islandsPart } from './diff.js';
import { backendFor } from './iptables.js';
import { tablesOf } from './model.js';
import type { RestoreBatch } from './types.js';

const ATTEMPTS = 3;

export async function repair(b: RestoreBatch): Promise<void> {
  const backend = backendFor(b.backend);
  let batch = b;
  for (let attempt = 1; ; attempt++) {
    try {
      return await backend.apply(batch);
    } catch (e) {
      if (attempt >= ATTEMPTS) throw e;
      const fresh = await backend.read(b.family, tablesOf(b.table), true);
      if (!fresh.ok) throw e;
      batch = backend.batch(b.family, b.table, islandsPart(b.table, fresh));
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
