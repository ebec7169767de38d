/** Collects diagnostics with positions, and turns zod issues into messages people can act on. */
import type { ZodIssue } from 'zod';
import { type Diagnostic, formatKeyPath, type KeyPath, sortDiagnostics, suggest } from './diagnostic.js';
import type { Locator, Pos } from './locate.js';
import { describe } from './schema.js';

export class Reporter {
  private readonly list: Diagnostic[] = [];

  constructor(
    private readonly file: string,
    readonly locator: Locator,
  ) {}

  /** `at`: the key itself (unknown keys), its value (bad values), or an explicit position (e.g. a table header). */
  error(path: KeyPath, message: string, at: 'key' | 'value' | Pos = 'value'): void {
    this.add('error', path, message, at);
  }

  warn(path: KeyPath, message: string, at: 'key' | 'value' | Pos = 'value'): void {
    this.add('warning', path, message, at);
  }

  pos(path: KeyPath, part: 'key' | 'value' = 'value'): Pos {
    return this.locator.at(path, part);
  }

  line(path: KeyPath): number {
    return this.pos(path).line;
  }

  get errors(): Diagnostic[] {
    return sortDiagnostics(this.list.filter((d) => d.severity === 'error'));
  }

  get warnings(): Diagnostic[] {
    return sortDiagnostics(this.list.filter((d) => d.severity === 'warning'));
  }

  private add(severity: Diagnostic['severity'], path: KeyPath, message: string, at: 'key' | 'value' | Pos): void {
    const p = typeof at === 'string' ? this.locator.at(path, at) : at;
    this.list.push({ path: this.file, line: p.line, col: p.col, key: formatKeyPath(path), message, severity });
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'an integer',
  integer: 'an integer',
  boolean: 'a boolean',
  array: 'an array',
  object: 'a table',
};

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

export interface IssueContext {
  rep: Reporter;
  /** where the zod-checked value sits in the document */
  base: KeyPath;
  /** the value zod checked */
  data: unknown;
  /** message for an unknown key under `objectPath` */
  unknownKey: (key: string, objectPath: KeyPath) => string;
}

export function reportIssues(issues: readonly ZodIssue[], cx: IssueContext): void {
  for (const issue of issues) {
    const path = [...cx.base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) cx.rep.error([...path, key], cx.unknownKey(key, path), 'key');
    } else if (issue.code === 'invalid_type' && issue.received === 'undefined') {
      // nothing to point at but the table that lacks it
      cx.rep.error(path, 'required key is missing', cx.rep.pos(path.slice(0, -1)));
    } else if (issue.code === 'invalid_type') {
      cx.rep.error(path, typeMessage(cx, path, issue.expected, valueAt(cx.data, issue.path)));
    } else {
      cx.rep.error(path, issue.message);
    }
  }
}

function typeMessage(cx: IssueContext, path: KeyPath, expected: string, got: unknown): string {
  const node = cx.rep.locator.node(path);
  // a nested table is written with its whole dotted name: [[forward.rule]]
  const table = formatKeyPath(path.filter((seg) => typeof seg === 'string'));
  // `[tunnel]` instead of `[[tunnel]]` and the reverse are the classic TOML slips; name the fix
  if (expected === 'array' && node?.type === 'TOMLTable' && node.kind === 'standard') {
    return `[${table}] is a single table; write [[${table}]] for each entry`;
  }
  const first = cx.rep.locator.node([...path, 0]);
  if (expected === 'object' && first?.type === 'TOMLTable' && first.kind === 'array') {
    return `[[${table}]] is an array of tables; write [${table}]`;
  }
  const base = `expected ${EXPECTED[expected] ?? expected}, got ${describe(got)}`;
  // a list field given one string (`addresses = "10.3.1.3/24"`); not for a whole section
  if (expected === 'array' && typeof got === 'string' && path.length > 2)
    return `${base}; write [${JSON.stringify(got)}]`;
  return base;
}

export function unknownKeyMessage(key: string, allowed: readonly string[], what = 'key'): string {
  const s = suggest(key, allowed);
  if (s !== undefined) return `unknown ${what}; did you mean "${s}"?`;
  return `unknown ${what} (expected one of: ${allowed.join(', ')})`;
}
