/**
 * Logs: pino JSON lines, one per event. Under systemd (JOURNAL_STREAM set) each
 * line starts with the syslog priority prefix "<N>" that journald's stdout
 * stream turns into the entry's PRIORITY, so `journalctl -p warning` works;
 * on a terminal pino-pretty makes the same records readable.
 */
import { writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

/**
 * pino's isoTime, the same text, without Date.prototype.toISOString: V8 (node 18 and 20) looks up
 * the local time zone's display name for it, which loads ICU's zone, locale and metazone data on
 * the first line logged (lab daemon, idle: ~1 MiB of RSS); the UTC getters need none of it.
 */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

const priority = (level: number) => (level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7);

export async function createLogger(opts: { level?: string; fd?: number } = {}): Promise<Logger> {
  const fd = opts.fd ?? 1;
  const level = opts.level ?? process.env.ISLAND_LOG_LEVEL ?? 'info';
  const base = { base: undefined, level, timestamp: () => `,"time":"${isoTime()}"` };
  if (process.env.JOURNAL_STREAM) {
    return pino(
      { ...base, timestamp: false },
      {
        write(line: string) {
          const m = /"level":(\d+)/.exec(line);
          writeSync(fd, `<${priority(Number(m?.[1] ?? 30))}>${line}`);
        },
      },
    );
  }
  if (process.stdout.isTTY && fd === 1) {
    const { default: pretty } = await import('pino-pretty');
    return pino(base, pretty({ sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(base, pino.destination({ fd, sync: true }));
}
