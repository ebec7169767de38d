/** What every command module gets: the parsed command line. */
import type { parseArgs } from 'node:util';
import type { OPTIONS } from '../commands.js';

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

export interface Args {
  /** -c, with its default */
  path: string;
  values: Values;
  positionals: string[];
}
