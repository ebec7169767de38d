/** What a command that runs once and exits asks of V8. */
import { setFlagsFromString } from 'node:v8';

/**
 * `fn` with V8's optimizing compiler kept to the one function that pays it back. A one-shot
 * command is over in a few tenths of a second: TurboFan, which compiles the functions that run
 * hot on threads of its own, is otherwise never paid back in that time (CPU without it: a
 * 500-tunnel check ~20 ms less, 5,000 ~60 ms; an apply of 500 tunnels from empty ~70 ms less,
 * a no-op of them ~35 ms). sha256() is the exception: the stable MACs of a 500-tunnel apply
 * are 8 ms of interpreted arithmetic, 1.6 ms once optimized (sha256.ts; the main thread of
 * that apply ~6 ms shorter). Nor incremental marking: the old generation's first soft limit,
 * which an apply of 500 tunnels from empty reaches near its end, starts a mark-compact of the
 * heap (marking on helper threads, then a pause) that the exit makes moot; without it V8 collects
 * the old generation only at its hard limit, atomically (that apply: CPU ~20 ms less; a no-op
 * none, it never got there). And scavenges on the main thread alone: sharing one among helper
 * threads costs more CPU than it saves time in these short runs (that apply ~6-12 ms CPU less,
 * a no-op ~3, their wall time unchanged). Restored before the end: V8 writes its flags into the code
 * cache, which the build makes from a check.
 */
export async function oneShot<T>(fn: () => Promise<T>): Promise<T> {
  setFlagsFromString('--turbo-filter=sha256 --no-incremental-marking --no-parallel-scavenge');
  try {
    return await fn();
  } finally {
    setFlagsFromString('--turbo-filter=* --incremental-marking --parallel-scavenge');
  }
}
