/** What a command that runs once and exits asks of V8. */
import { setFlagsFromString } from 'node:v8';

/**
 * `fn` without V8's optimizing compiler. A one-shot command is over in a few tenths of a second:
 * TurboFan, which compiles the functions that run hot on threads of its own, is never paid back
 * in that time (CPU without it: a 500-tunnel check ~20 ms less, 5,000 ~60 ms; an apply of 500
 * tunnels from empty ~70 ms less, a no-op of them ~35 ms). Restored before the end: V8 writes its flags into the code
 * cache, which the build makes from a check.
 */
export async function withoutOptimizer<T>(fn: () => Promise<T>): Promise<T> {
  setFlagsFromString('--no-opt');
  try {
    return await fn();
  } finally {
    setFlagsFromString('--opt');
  }
}
