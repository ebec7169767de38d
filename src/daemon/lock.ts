/**
 * One island daemon per network namespace. Two daemons on one host fight: each one's links
 * are the other's "stale" or "foreign" objects, and every heal of one is an EEXIST for the
 * other. The lock is an abstract unix socket, `@island/daemon`, that the running daemon binds:
 *
 * - abstract socket names belong to the network namespace, which is exactly the scope of what
 *   island owns (links, addresses, routes, firewall, net.* sysctls), whatever the runtime
 *   directory or the file: `ISLAND_RUNTIME_DIR` elsewhere does not make a second daemon safe;
 * - the kernel releases it when the holder dies, kill -9 included: no stale lock to break, no
 *   PID file to trust after a PID is reused;
 * - it needs no writable path (the unit runs with ProtectSystem=strict), and bind() is atomic:
 *   of two daemons started at once, exactly one wins.
 *
 * A lock file was the alternative: Node has no flock(), a network namespace has no filesystem
 * of its own to hold it, and a file keyed by the namespace's inode outlives the namespace,
 * whose inode number the kernel then reuses.
 *
 * The holder answers whoever connects with one JSON line (its pid, file and control socket),
 * which is how the second daemon names it. Any local process can bind an abstract name: a
 * squatter that does not answer as island does is reported as such.
 */
import { createConnection, createServer, type Server } from 'node:net';

const NAME = '\0island/daemon';
const ASK_MS = 2000;

export interface Holder {
  pid: number;
  config?: string;
  control?: string;
}

/** Another daemon holds the lock: the one line the CLI prints. */
export class DaemonRunning extends Error {
  constructor(readonly holder: Holder | undefined) {
    super(
      holder
        ? `an island daemon already runs in this network namespace (pid ${holder.pid}${
            holder.config ? `, ${holder.config}` : ''
          }${holder.control ? `, control socket ${holder.control}` : ''}): not starting a second one`
        : 'another process holds the island daemon lock of this network namespace (abstract socket @island/daemon) and does not say which island it is: not starting',
    );
  }
}

export interface DaemonLock {
  release(): Promise<void>;
}

/** Take the lock, or throw DaemonRunning naming the holder. */
export async function lockDaemon(me: { config: string; control: string }): Promise<DaemonLock> {
  const answer = `${JSON.stringify({ pid: process.pid, ...me })}\n`;
  const server = createServer((c) => {
    c.on('error', () => undefined);
    c.end(answer);
  });
  server.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(NAME, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DaemonRunning(await askHolder());
    throw e;
  }
  // the lock must not keep a stopping daemon alive
  server.unref();
  return { release: () => close(server) };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The holder's own account of itself; undefined when it does not give one in time. */
export function askHolder(): Promise<Holder | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const c = createConnection(NAME);
    const done = (h: Holder | undefined) => {
      clearTimeout(timer);
      c.destroy();
      resolve(h);
    };
    const timer = setTimeout(() => done(undefined), ASK_MS);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      text += d;
    });
    c.on('error', () => done(undefined));
    c.on('end', () => {
      try {
        const h = JSON.parse(text) as Holder;
        done(Number.isInteger(h.pid) ? h : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}
