/**
 * Docs from one source: the hand-written docs are checked against the registries they
 * describe, so that a key or a command added to the code cannot be forgotten in them.
 *
 * - the config registry (the zod shapes of src/config/schema.ts and src/config/island.ts):
 *   every section and every key is in island.toml(5), in the README and in the JSON
 *   schema that scripts/package-schema.mjs generates (run here, as the package build runs it);
 * - the CLI's command table (src/commands.ts: HELP and parseArgs' OPTIONS): every command
 *   and every long option is in island(8) and in the bash completion, and each command
 *   completes the long options its own help names.
 *
 * What a doc may leave out on purpose is listed in EXCEPTIONS below, each with its reason.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HELP, OPTIONS } from '../../src/commands.js';
import { hostShape, islandShape, siteShape } from '../../src/config/island.js';
import * as s from '../../src/config/schema.js';
import { anyShape, kindsOf } from '../../src/kinds/index.js';
import { REPO } from '../helpers/island.js';

const read = (...p: string[]) => readFileSync(join(REPO, ...p), 'utf8');

/** roff as the reader sees it, near enough: escaped dashes and quotes, no font changes. */
const plain = (roff: string) =>
  roff
    .replace(/\\-/g, '-')
    .replace(/\\\(dq/g, '"')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\&/g, '');

const man8 = plain(read('packaging', 'man', 'island.8'));
/** island.toml(5) as written: its keys are found by their roff markup */
const man5 = read('packaging', 'man', 'island.toml.5');
const completion = read('packaging', 'completion', 'island');
const readme = read('README.md');

/** What a doc leaves out on purpose, and why. */
const EXCEPTIONS = {
  /** commands not in the README's command list */
  readmeCommands: {} as Record<string, string>,
  /** commands the completion does not offer */
  completionCommands: {
    'hosts-sync': 'run by island-hosts.service, never typed: offering it would only clutter the list',
  } as Record<string, string>,
};

// ---- the config registry --------------------------------------------------------------

const keys = (o: object) => Object.keys(o).sort();
/** Each section as it is written in the file, with the keys it takes (free-form maps: none). */
const SECTIONS: Record<string, string[]> = {
  '[[tunnel]]': keys(anyShape('tunnel')),
  '[[bridge]]': keys(s.bridgeShape),
  '[[link]]': keys(anyShape('link')),
  '[[route]]': keys(s.routeShape),
  '[sysctl]': [],
  '[daemon]': keys(s.daemonShape),
  // rule is the [[forward.rule]] array, a section of its own
  '[forward]': keys(s.forwardShape).filter((k) => k !== 'rule'),
  '[[forward.rule]]': keys(s.forwardRuleShape),
  '[hosts]': [],
  '[island]': keys(islandShape),
  '[[site]]': keys(siteShape),
  '[[host]]': keys(hostShape),
};

t.test('the sections listed here are those of the registry', async (t) => {
  const top = new Set(Object.keys(SECTIONS).map((h) => h.replace(/^\[+|\]+$/g, '').split('.')[0]));
  t.same([...top].sort(), keys(s.topShape), 'a table added to topShape needs a line in SECTIONS');
  t.ok(keys(s.forwardShape).includes('rule'), '[forward] still has its rule array');
});

/** Where island.toml(5) documents each section: its .SH or .SS heading. */
const MAN5_HEADING: Record<string, string> = {
  '[[tunnel]]': '.SH TUNNELS',
  '[[bridge]]': '.SH BRIDGES',
  '[[link]]': '.SH LINKS',
  '[[route]]': '.SH ROUTES',
  '[sysctl]': '.SH SYSCTLS',
  '[daemon]': '.SH DAEMON',
  '[forward]': '.SH FORWARDING',
  '[[forward.rule]]': '.SH FORWARDING',
  '[hosts]': '.SH HOSTS',
  '[island]': '.SS [island]',
  '[[site]]': '.SS [[site]]',
  '[[host]]': '.SS [[host]]',
};

/** A man page's text under a heading, up to the next heading. */
function under(roff: string, heading: string): string {
  const lines = roff.split('\n');
  const at = lines.indexOf(heading);
  if (at < 0) return '';
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => /^\.S[HS] /.test(l));
  return rest.slice(0, end < 0 ? undefined : end).join('\n');
}

/** A key as island.toml(5) names it: in bold, the way every key there is introduced. */
const boldKey = (roff: string, key: string) =>
  new RegExp(`^\\.(B|BR|BI|RB) "?\\(?${key}\\b|\\\\fB${key}\\\\f`, 'm').test(roff);

t.test('island.toml(5) has every section and key, under its heading', async (t) => {
  for (const [section, ks] of Object.entries(SECTIONS)) {
    const text = under(man5, MAN5_HEADING[section] ?? '?');
    t.ok(text, `island.toml.5: ${MAN5_HEADING[section]}`);
    t.ok(plain(text).includes(section) || MAN5_HEADING[section]?.endsWith(section), `island.toml.5: ${section}`);
    for (const k of ks) t.ok(boldKey(text, k), `island.toml.5: ${section} ${k}`);
  }
});

t.test('island.toml(5) and the example file list every tunnel kind of the registry, with its own line', async (t) => {
  const kinds = under(man5, '.SH TUNNELS');
  const example = read('etc', 'island.toml');
  for (const k of kindsOf('tunnel')) {
    t.ok(plain(kinds).includes(`"${k.kind}"\n${k.about}`), `island.toml.5: kind "${k.kind}": ${k.about}`);
    t.match(
      example,
      new RegExp(`^#\\s+"${k.kind}"\\s+${k.about.replace(/[()]/g, '\\$&')}$`, 'm'),
      `etc/island.toml: "${k.kind}"`,
    );
    t.ok(readme.includes(`"${k.kind}"`), `README: "${k.kind}"`);
  }
});

t.test('the README has every section and key', async (t) => {
  for (const [section, ks] of Object.entries(SECTIONS)) {
    t.ok(readme.includes(section), `README: ${section}`);
    // in an example (`key = ...`) or in the text (`key` in backquotes)
    for (const k of ks)
      t.ok(new RegExp(`^\\s*${k} = |\`${k}( = [^\`]*)?\``, 'm').test(readme), `README: ${section} ${k}`);
  }
});

t.test('the generated JSON schema has every section and key', async (t) => {
  // biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document
  const schema: any = JSON.parse(
    execFileSync(process.execPath, [join(REPO, 'scripts', 'package-schema.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    }),
  );
  // biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document
  const propsOf = (node: any): string[] => {
    if (!node) return [];
    if (node.type === 'array') return propsOf(node.items);
    if (node.oneOf) return [...new Set(node.oneOf.flatMap(propsOf))] as string[];
    return Object.keys(node.properties ?? {});
  };
  for (const [section, ks] of Object.entries(SECTIONS)) {
    const path = section.replace(/^\[+|\]+$/g, '').split('.');
    let node = schema;
    for (const p of path) node = node?.type === 'array' ? node.items.properties?.[p] : node?.properties?.[p];
    t.ok(node, `schema: ${section}`);
    const have = propsOf(node);
    for (const k of ks) t.ok(have.includes(k), `schema: ${section} ${k}`);
  }
});

// ---- the CLI's command table -----------------------------------------------------------

const COMMANDS = Object.keys(HELP).filter((c) => c !== '');
const LONG = Object.keys(OPTIONS).map((o) => `--${o}`);
/** The long options a command's help names (its usage line and option list). */
const optionsOf = (cmd: string) => {
  const named = new Set(LONG.filter((o) => new RegExp(`${o}\\b`).test(HELP[cmd] ?? '')));
  // -T is --format's short name: the help names the short one
  if (/(^|\W)-T\b/.test(HELP[cmd] ?? '')) named.add('--format');
  return [...named];
};

t.test('the command table', async (t) => {
  t.ok(COMMANDS.length >= 10, 'HELP lists the commands');
  for (const c of COMMANDS) t.ok(HELP[c]?.startsWith(`usage: island ${c}`), `island ${c} --help starts with its usage`);
  t.ok(LONG.includes('--config') && LONG.includes('--host'), 'OPTIONS holds the long options');
  // every option is taken by some command, or it is dead
  const used = new Set(['--config', '--help', ...COMMANDS.flatMap(optionsOf)]);
  for (const o of LONG) t.ok(used.has(o), `${o} is named in some command's help`);
});

t.test('island(8) has every command and long option', async (t) => {
  const raw = read('packaging', 'man', 'island.8');
  const commands = raw.slice(raw.indexOf('.SH COMMANDS'), raw.indexOf('.SH', raw.indexOf('.SH COMMANDS') + 1));
  for (const c of COMMANDS)
    t.match(commands, new RegExp(`^\\.TP\\n\\.(B|BR|BI) "?${c.replace(/-/g, '\\\\-')}\\b`, 'm'), `island.8: ${c}`);
  for (const o of LONG) t.ok(new RegExp(`${o}\\b`).test(man8), `island.8: ${o}`);
});

/** The completion's words: the command list, the options every command takes, each command's own. */
function readCompletion(text: string) {
  const commands = /local commands='([^']*)'/.exec(text)?.[1]?.split(/\s+/) ?? [];
  const common = /local opts='([^']*)'/.exec(text)?.[1]?.split(/\s+/) ?? [];
  const own = new Map<string, { words: string[]; replace: boolean }>();
  for (const m of text.matchAll(/^\s*([a-z|-]+)\) opts(\+?)='([^']*)' ;;/gm))
    for (const c of (m[1] ?? '').split('|'))
      own.set(c.trim(), { words: (m[3] ?? '').split(/\s+/).filter(Boolean), replace: !m[2] });
  const opts = (cmd: string) => {
    const o = own.get(cmd);
    return o?.replace ? o.words : [...common, ...(o?.words ?? [])];
  };
  return { commands, opts };
}

t.test('the bash completion has every command and long option', async (t) => {
  const c = readCompletion(completion);
  for (const cmd of COMMANDS) {
    if (cmd in EXCEPTIONS.completionCommands) {
      t.notOk(c.commands.includes(cmd), `completion: ${cmd} left out: ${EXCEPTIONS.completionCommands[cmd]}`);
      continue;
    }
    t.ok(c.commands.includes(cmd), `completion: ${cmd}`);
    const offered = c.opts(cmd);
    for (const o of optionsOf(cmd)) t.ok(offered.includes(o), `completion: island ${cmd} ${o}`);
    if (optionsOf(cmd).includes('--format')) t.ok(offered.includes('-T'), `completion: island ${cmd} -T`);
    t.ok(offered.includes('--help'), `completion: island ${cmd} --help`);
  }
  const all = new Set(COMMANDS.flatMap(c.opts));
  for (const o of LONG) t.ok(all.has(o), `completion: ${o}`);
});

t.test('the README names every command', async (t) => {
  for (const c of COMMANDS) {
    if (c in EXCEPTIONS.readmeCommands) continue;
    t.ok(readme.includes(`island ${c}`), `README: island ${c}`);
  }
});
