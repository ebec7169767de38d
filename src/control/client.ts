/** The CLI's side of the control channel. */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { controlSocketPath } from './paths.js';

/** No daemon answers: the reason in a few words ("not running", "permission denied"). */
export class DaemonUnreachable extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`no island daemon at ${path}: ${reason}`);
  }
}

/** The daemon refused the request; message is its one-line reason. */
export class DaemonRefused extends Error {}

export type Response = Record<string, unknown>;

export function request(
  req: Record<string, unknown>,
  path = controlSocketPath(),
  timeoutMs = 30_000,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new DaemonUnreachable(path, `no answer within ${Math.round(timeoutMs / 1000)} s`))),
      timeoutMs,
    );
    sock.once('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      finish(() => {
        try {
          const r = JSON.parse(buf.slice(0, nl)) as Response;
          if (r.ok === false) reject(new DaemonRefused(String(r.error)));
          else resolve(r);
        } catch (e) {
          reject(new DaemonUnreachable(path, `unreadable answer: ${(e as Error).message}`));
        }
      });
    });
    sock.on('error', (e: NodeJS.ErrnoException) =>
      finish(() => reject(new DaemonUnreachable(path, unreachableReason(e)))),
    );
    sock.on('close', () => finish(() => reject(new DaemonUnreachable(path, 'closed without an answer'))));
  });
}

function unreachableReason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return 'not running';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (the control socket is root’s)';
    default:
      return e.code ?? e.message;
  }
}

/**
 * The auto tunnels the daemon running `config` lowered to their measured path, by name; empty
 * when no daemon runs it. `island plan` and `apply` plan with them, so that a one-shot run
 * neither shows nor undoes what the daemon measured.
 */
export async function daemonPathMtus(config: string): Promise<Map<string, number>> {
  // no socket, no daemon: not even node's net module to load (~4 ms of a one-shot apply)
  if (!existsSync(controlSocketPath())) return new Map();
  try {
    const v = (await request({ cmd: 'status' }, undefined, 2000)) as {
      config?: string;
      pathMtus?: Record<string, number>;
    };
    if (typeof v.config !== 'string' || resolvePath(v.config) !== resolvePath(config)) return new Map();
    return new Map(Object.entries(v.pathMtus ?? {}));
  } catch {
    return new Map();
  }
}
