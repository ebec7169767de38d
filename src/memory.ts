import { createRequire } from 'node:module';
import { dropFilePages, mallocTrim } from './netlink/addon.js';

/**
 * Gives the daemon's start-up garbage back to the system now rather than in 8-30 s: reading and
 * validating the file, the first pass and the bundle's own text leave the heap at ~16 MiB of pages
 * for ~7 MiB live (new space grown to 4 MiB for 0.4 in use). V8's memory reducer would shrink it
 * only after 8 s of quiet, and then with a compacting GC in the middle of the idle time (~50 ms of
 * CPU, 6 MiB of RSS, measured on the lab file). Armed by the start, it still ran two ~8 s after
 * this GC (~10-30 ms of the idle CPU): island's entry turns it off (scripts/bundle.mjs). The
 * inspector's HeapProfiler.collectGarbage is V8's LowMemoryNotification, the one way node offers
 * to ask for that GC (a plain `gc()` neither compacts nor shrinks new space: -0.7 MiB; the gc
 * extension's `flavor: 'last-resort'` +4.6).
 *
 * Then glibc's malloc_trim: V8 frees its start-up buffers into malloc's heap, where free() gives
 * back only what lies above the last chunk in use; the trim returns the free pages in between
 * (-0.5 MiB on the lab file, 5 s after READY).
 *
 * Last, the pages of files the start-up touched (patches/: dropFilePages, MADV_DONTNEED on the
 * private read-only file mappings that hold no page of their own). Most of VmRSS is node's binary
 * and its libraries as mapped here (lab file, 5 s after READY: RssFile 38.7 of 49.8 MiB, RssAnon
 * 11.1), shared with the page cache and every node process, and most of that only the start ran
 * (node's bootstrap, module loading, the code cache's deserializer). Unmapped, what a pass needs
 * comes back as minor faults from the page cache, which keeps the pages. Lab file, interleaved:
 * VmRSS 49.8 -> 23.7 MiB 5 s after READY (n=5), 50.8 -> 29.2 after a resync (35 s, n=2); the bench's
 * 10-tunnel daemon after 60 s 50.9 -> 27.6 MiB, its idle CPU 0.065 -> 0.052 s (n=2); RssAnon, the
 * daemon's own memory, unchanged. The first heal after it: ~25 more minor faults (230 -> 255), its
 * pass as long (~24 ms, medians of 6, debug logging on); the heal bench's p99 unchanged (n=2).
 * This frees the mapping, not memory the system counts as used: page cache is reclaimable either
 * way (sooner once no process maps it), and a cgroup stays charged for the cache it read.
 *
 * Not with --stress-flush-code for that GC (-0.8 MiB: the bytecode only the start ran): whatever a
 * heal or a reload runs next is then compiled again from the source, 20-30 ms on the lab file's
 * reload, on the path the heal latency target is about.
 */
export function releaseMemory(): void {
  const done = () => {
    s?.disconnect();
    mallocTrim();
    dropFilePages();
  };
  // not from inside the reply's callback: disconnecting there left the daemon deaf to netlink
  // events (node 20.20: the session is torn down while the inspector still dispatches the reply)
  const s = inspectorSession(() => setImmediate(done));
  if (s) s.dispatch('HeapProfiler.collectGarbage');
  else done();
}

interface Session {
  dispatch(method: string): void;
  disconnect(): void;
}

/**
 * An in-process inspector session (it opens no port) whose first reply calls `onReply`.
 * node:inspector's Session needs worker_threads, whose modules would stay in the daemon for
 * nothing (-0.2 MiB with scripts/bundle.mjs's lazy pino): the session is taken from the binding
 * that module wraps, process.binding('inspector') (deprecated, documentation-only DEP0111; the
 * same Connection in node 18 and 20), else from node:inspector. Undefined for a node built
 * without the inspector: the start-up garbage stays until V8's next mark-compact.
 */
function inspectorSession(onReply: () => void): Session | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('inspector') as {
      Connection?: new (onMessage: (m: string) => void) => { dispatch(m: string): void; disconnect(): void };
    };
    if (typeof binding.Connection === 'function') {
      const c = new binding.Connection(onReply);
      return { dispatch: (method) => c.dispatch(JSON.stringify({ id: 1, method })), disconnect: () => c.disconnect() };
    }
  } catch {}
  try {
    const { Session } = createRequire(import.meta.url)('node:inspector') as typeof import('node:inspector');
    const s = new Session();
    s.connect();
    return { dispatch: (method) => s.post(method, onReply), disconnect: () => s.disconnect() };
  } catch {
    return undefined;
  }
}
