/**
 * The daemon's control channel: a unix stream socket (0600, root's) speaking JSON lines, one
 * request and one response per line. `island status` reads the daemon's live view through it
 * (peer health, contested objects, a try in progress) and `island try` drives the rollback.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

export type Request = { cmd?: unknown } & Record<string, unknown>;
export type Handler = (req: Request) => Promise<unknown> | unknown;

/** A refusal the client shows as it is: one line, no stack. */
export class ControlError extends Error {}

/** Requests larger than this are not island's CLI talking (a config file is a few KiB). */
const MAX_LINE = 1 << 20;

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export async function serveControl(
  path: string,
  handlers: Record<string, Handler>,
  onError: (err: Error) => void,
): Promise<ControlServer> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  if (await answers(path)) throw new Error(`${path}: another island daemon answers there`);
  await unlink(path).catch(() => {});
  const conns = new Set<Socket>();
  const server: Server = createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        sock.end(`${JSON.stringify({ ok: false, error: 'request too large' })}\n`);
        return;
      }
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line.trim()) void respond(sock, line, handlers, onError);
      }
    });
  });
  server.on('error', onError);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => {
      server.off('error', rej);
      res();
    });
  });
  // root's only: through it one can apply any configuration
  await chmod(path, 0o600);
  return {
    path,
    async close() {
      for (const c of conns) c.destroy();
      await new Promise<void>((res) => server.close(() => res()));
      await unlink(path).catch(() => {});
    },
  };
}

async function respond(sock: Socket, line: string, handlers: Record<string, Handler>, onError: (e: Error) => void) {
  let out: unknown;
  try {
    const req = JSON.parse(line) as Request;
    const h = typeof req.cmd === 'string' ? handlers[req.cmd] : undefined;
    if (!h) throw new ControlError(`unknown request ${JSON.stringify(req.cmd)}`);
    out = { ok: true, ...((await h(req)) as object) };
  } catch (e) {
    if (!(e instanceof ControlError) && !(e instanceof SyntaxError)) onError(e as Error);
    out = { ok: false, error: (e as Error).message };
  }
  if (!sock.destroyed) sock.write(`${JSON.stringify(out)}\n`);
}

/** Whether a live daemon listens at path (a socket file left by a killed one does not answer). */
function answers(path: string): Promise<boolean> {
  return new Promise((res) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
}
