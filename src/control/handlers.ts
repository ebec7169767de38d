/** What the daemon answers on its control channel. */
import type { Logger } from 'pino';
import type { Daemon } from '../daemon/daemon.js';
import type { TrySession } from '../try/session.js';
import { controlSocketPath } from './paths.js';
import { ControlError, type ControlServer, type Handler, type Request, serveControl } from './server.js';

const str = (req: Request, key: string): string => {
  const v = req[key];
  if (typeof v !== 'string') throw new ControlError(`${key}: expected a string`);
  return v;
};

export function controlHandlers(d: Daemon, tries: TrySession, configPath: string): Record<string, Handler> {
  return {
    status: () => ({
      pid: process.pid,
      config: configPath,
      source: tries.active ? 'try' : 'file',
      text: d.current().text,
      ...d.snapshot(),
      try: tries.status(),
    }),
    try: (req) => tries.start(str(req, 'candidate'), str(req, 'text'), Number(req.timeoutMs)),
    confirm: async () => ({ ...(await tries.confirm()), config: configPath }),
    rollback: () => tries.rollback('rolled back on request (island try --rollback)'),
  };
}

/** Listen on the control socket; a daemon without it still keeps the network (and says so). */
export async function startControl(
  d: Daemon,
  tries: TrySession,
  configPath: string,
  log: Logger,
): Promise<ControlServer | undefined> {
  const path = controlSocketPath();
  try {
    const s = await serveControl(path, controlHandlers(d, tries, configPath), (err) =>
      log.error({ err: err.message }, `control request failed: ${err.message}`),
    );
    log.debug({ control: path }, 'control socket listening');
    return s;
  } catch (e) {
    log.error(
      { control: path, err: (e as Error).message },
      `control socket ${path}: ${(e as Error).message}: island status has no live view and island try is unavailable`,
    );
    return undefined;
  }
}
