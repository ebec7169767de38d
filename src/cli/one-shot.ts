/** What a command that runs once and exits asks of V8. */

type SetFlags = (flags: string) => void;

/**
 * V8's setFlagsFromString, without node:v8: that module brings node's heap snapshot API and with
 * it node's stream modules, ~3 ms of CPU a command otherwise never loads (an apply writes with
 * writeSync, a check too: say.ts). process.binding('v8') is the same function of node's own
 * binding; reading it warns once (DEP0111), which process.noDeprecation, documented for that,
 * silences while it is read. Where node has no such binding any more, node:v8.
 */
async function v8Flags(): Promise<SetFlags> {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('v8') as {
      setFlagsFromString?: SetFlags;
    };
    if (typeof binding.setFlagsFromString === 'function') return binding.setFlagsFromString;
  } catch {
    // gone from this node: the public module below
  } finally {
    process.noDeprecation = quiet;
  }
  return (await import('node:v8')).setFlagsFromString;
}

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
  const setFlags = await v8Flags();
  setFlags('--turbo-filter=sha256 --no-incremental-marking --no-parallel-scavenge');
  try {
    return await fn();
  } finally {
    setFlags('--turbo-filter=* --incremental-marking --parallel-scavenge');
  }
}
