/**
 * Logs: one JSON line per event, in pino's shape ({"level":30,"time":"…",…fields,"msg":"…"};
 * levels 10 trace to 60 fatal). Under systemd (JOURNAL_STREAM set) each line starts with the syslog
 * priority prefix "<N>" that journald's stdout stream turns into the entry's PRIORITY, so
 * `journalctl -p warning` works, and carries no time (the journal has it); on a terminal
 * pino-pretty makes the same records readable. Written here rather than with pino: the daemon's
 * records are a message and a few flat fields, and pino, with sonic-boom and thread-stream and the
 * worker_threads, assert and diagnostics_channel modules they load, cost ~1 MiB of its idle RSS.
 */
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { CommandError } from './control/errors.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };
type Level = 'debug' | 'info' | 'warn' | 'error';

export interface LogFn {
  (msg: string): void;
  (fields: Record<string, unknown>, msg?: string): void;
}
export type Logger = Record<Level, LogFn>;

const priority = (level: number) => (level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7);

/** One record as pino writes it: fields in their order, undefined ones left out. */
export function record(level: number, time: string | undefined, fields: Record<string, unknown>, msg?: string): string {
  let line = `{"level":${level}`;
  if (time !== undefined) line += `,"time":"${time}"`;
  for (const [k, v] of Object.entries(fields)) {
    let json: string | undefined;
    try {
      json = JSON.stringify(v);
    } catch {
      json = '"[unserializable]"';
    }
    if (json !== undefined) line += `,${JSON.stringify(k)}:${json}`;
  }
  if (msg !== undefined) line += `,"msg":${JSON.stringify(msg)}`;
  return `${line}}\n`;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** The whole line, synchronously, as pino's sync destination does: a full non-blocking pipe waits. */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}

export async function createLogger(opts: { level?: string; fd?: number } = {}): Promise<Logger> {
  const fd = opts.fd ?? 1;
  const name = opts.level ?? process.env.ISLAND_LOG_LEVEL ?? 'info';
  const min = LEVELS[name as keyof typeof LEVELS];
  if (min === undefined)
    throw new CommandError(`ISLAND_LOG_LEVEL=${name}: not a level (${Object.keys(LEVELS).join(', ')})`);
  const journal = Boolean(process.env.JOURNAL_STREAM);
  let write = (level: number, line: string) => writeAll(fd, journal ? `<${priority(level)}>${line}` : line);
  if (!journal && fd === 1 && isatty(fd)) {
    const { default: pretty } = await import('pino-pretty');
    const out = pretty({ sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
    write = (_level, line) => void out.write(line);
  }
  const at =
    (level: number): LogFn =>
    (a: string | Record<string, unknown>, msg?: string) => {
      if (level < min) return;
      const time = journal ? undefined : new Date().toISOString();
      write(level, typeof a === 'string' ? record(level, time, {}, a) : record(level, time, a, msg));
    };
  return { debug: at(LEVELS.debug), info: at(LEVELS.info), warn: at(LEVELS.warn), error: at(LEVELS.error) };
}
