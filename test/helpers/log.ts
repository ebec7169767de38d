/** A pino logger for unit tests of code that logs: its records land in `records`, parsed. */
import pino from 'pino';

export function logger() {
  const records: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void records.push(JSON.parse(s)) });
  return { log, records };
}
