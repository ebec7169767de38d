#!/usr/bin/env node
/**
 * island daemon | check | plan | apply | down | status | ...
 * Each command lives in its own module, imported only when it runs: `check` never loads
 * netlink, `--help` loads nothing but the command table.
 * A user error ends in one line and a non-zero exit, never a stack trace.
 */
import { parseArgs } from 'node:util';
import type { Args } from './cli/args.js';
import { HELP, OPTIONS } from './commands.js';
import { CommandError } from './control/errors.js';
import { NetlinkError } from './netlink/errors.js';

const COMMANDS: Record<string, () => Promise<{ run(args: Args): Promise<number> }>> = {
  check: () => import('./cli/check.js'),
  plan: () => import('./cli/plan.js'),
  apply: () => import('./cli/apply.js'),
  down: () => import('./cli/down.js'),
  daemon: () => import('./cli/daemon.js'),
  status: async () => {
    const { statusCommand } = await import('./control/status.js');
    return { run: ({ path, values }) => statusCommand(path, { json: values.json, check: values.check }) };
  },
  try: async () => {
    const { tryCommand } = await import('./try/command.js');
    return { run: ({ positionals, values }) => tryCommand(positionals[0], values) };
  },
  test: async () => {
    const { testCommand } = await import('./reach/command.js');
    return { run: ({ path, values }) => testCommand(path, values) };
  },
  graph: async () => {
    const { graphCommand } = await import('./graph/command.js');
    return {
      run: ({ path, values }) => graphCommand(path, { svg: values.svg, format: values.format, host: values.host }),
    };
  },
  doctor: async () => {
    const { doctorCommand } = await import('./doctor/command.js');
    return { run: ({ path }) => doctorCommand(path) };
  },
  'hosts-sync': async () => {
    const { hostsSyncCommand } = await import('./hosts/command.js');
    return { run: () => hostsSyncCommand() };
  },
};

async function main(argv: string[]): Promise<number> {
  const [cmd = '', ...rest] = argv;
  if (cmd === '-h' || cmd === '--help' || cmd === 'help' || cmd === '') {
    process.stdout.write(`${HELP['']}\n`);
    return cmd === '' ? 2 : 0;
  }
  const load = COMMANDS[cmd];
  if (!(cmd in HELP) || !load) throw new CommandError(`unknown command "${cmd}" (try island --help)`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: OPTIONS,
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > (cmd === 'try' ? 1 : 0))
    throw new CommandError(`unexpected argument "${positionals.at(-1)}" (try island ${cmd} --help)`);
  if (values.help) {
    process.stdout.write(`${HELP[cmd]}\n`);
    return 0;
  }
  // a one-file island: which host's part to take; the daemon and its children see it too
  if (values.host !== undefined) process.env.ISLAND_HOST = values.host;
  return (await load()).run({ path: values.config, values, positionals });
}

function explain(e: unknown): string {
  if (e instanceof NetlinkError && (e.code === 'EPERM' || e.code === 'EACCES'))
    return `${e.op}: permission denied (island needs root or CAP_NET_ADMIN)`;
  if (e instanceof Error && /EPERM|EACCES/.test(e.message))
    return 'permission denied (island needs root or CAP_NET_ADMIN)';
  return e instanceof Error ? e.message : String(e);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`island: ${explain(e)}\n`);
    if (process.env.ISLAND_DEBUG && e instanceof Error && !(e instanceof CommandError))
      process.stderr.write(`${e.stack}\n`);
    process.exitCode = e instanceof CommandError || e instanceof NetlinkError || isArgError(e) ? 1 : 70;
  },
);

function isArgError(e: unknown): boolean {
  return e instanceof Error && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');
}
