/**
 * TOML text → plain values plus a map from key path to source position, so that every
 * later check (schema or semantic) can point at the exact key or value it is unhappy with.
 */
import { type AST, getStaticTOMLValue, ParseError, parseTOML } from 'toml-eslint-parser';
import type { KeyPath } from './diagnostic.js';
import { MAX_NESTING, tooDeep } from './text.js';

/** 1-based, like editors and compilers print them. */
export interface Pos {
  line: number;
  col: number;
}

interface Where {
  /** the key naming this path (for "unknown key") */
  key: Pos;
  /** the value, or for a table its header / opening brace (for "bad value" and "missing key") */
  value: Pos;
  node: AST.TOMLNode;
}

/**
 * getStaticTOMLValue turns 64.0 into 64, which would let `ttl = 64.0` pass as an integer;
 * floats are swapped for this marker so the schema can say "got float".
 */
export class TomlFloat {
  constructor(readonly value: number) {}
}

export type Parsed =
  | { ok: true; value: Record<string, unknown>; locator: AstLocator }
  | { ok: false; pos: Pos; message: string };

function pos(p: AST.Position): Pos {
  return { line: p.line, col: p.column + 1 };
}

const id = (path: KeyPath): string => JSON.stringify(path);

/** TOML 1.0 integers are 64-bit signed; the parser keeps the exact digits of any length. */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Where a key path is written in the file, for messages that point at it. */
export interface Locator {
  /** Where to point for `path`; falls back to the nearest located ancestor, then to 1:1. */
  at(path: KeyPath, part: 'key' | 'value'): Pos;
  node(path: KeyPath): AST.TOMLNode | undefined;
}

export class AstLocator implements Locator {
  private readonly map = new Map<string, Where>();
  readonly floats: KeyPath[] = [];
  /** integers TOML 1.0 does not allow: beyond 64 bits */
  readonly tooBig: { pos: Pos; digits: string }[] = [];

  constructor(program: AST.TOMLProgram) {
    const top = program.body[0];
    for (const item of top.body) {
      if (item.type === 'TOMLKeyValue') this.keyValue([], item);
      else this.table(item);
    }
  }

  /** Where to point for `path`; falls back to the nearest located ancestor, then to 1:1. */
  at(path: KeyPath, part: 'key' | 'value'): Pos {
    for (let n = path.length; n >= 0; n--) {
      const w = this.map.get(id(path.slice(0, n)));
      if (w) return n === path.length ? w[part] : w.value;
    }
    return { line: 1, col: 1 };
  }

  node(path: KeyPath): AST.TOMLNode | undefined {
    return this.map.get(id(path))?.node;
  }

  private set(path: KeyPath, w: Where, overwrite: boolean): void {
    const k = id(path);
    if (overwrite || !this.map.has(k)) this.map.set(k, w);
  }

  private table(t: AST.TOMLTable): void {
    const header = pos(t.loc.start);
    // resolvedKey interleaves array indices with the written key parts: [[tunnel]] → ['tunnel', 2]
    let part = -1;
    const path: (string | number)[] = [];
    t.resolvedKey.forEach((seg, i) => {
      if (typeof seg === 'string') part++;
      path.push(seg);
      const keyNode = t.key.keys[Math.max(part, 0)] ?? t.key;
      const last = i === t.resolvedKey.length - 1;
      this.set(path, { key: pos(keyNode.loc.start), value: header, node: last ? t : keyNode }, last);
    });
    for (const kv of t.body) this.keyValue(t.resolvedKey, kv);
  }

  private keyValue(prefix: KeyPath, kv: AST.TOMLKeyValue): void {
    const path = [...prefix];
    kv.key.keys.forEach((k, i) => {
      path.push(k.type === 'TOMLBare' ? k.name : k.value);
      if (i < kv.key.keys.length - 1) {
        // dotted key `a.b = 1`: `a` is an implicit table that lives where `a` is written
        this.set(path, { key: pos(k.loc.start), value: pos(k.loc.start), node: k }, false);
      } else {
        this.set(path, { key: pos(k.loc.start), value: pos(kv.value.loc.start), node: kv.value }, true);
      }
    });
    this.content(path, kv.value);
  }

  private content(path: KeyPath, node: AST.TOMLContentNode): void {
    if (node.type === 'TOMLArray') {
      node.elements.forEach((el, i) => {
        const p = [...path, i];
        this.set(p, { key: pos(el.loc.start), value: pos(el.loc.start), node: el }, true);
        this.content(p, el);
      });
    } else if (node.type === 'TOMLInlineTable') {
      for (const kv of node.body) this.keyValue(path, kv);
    } else if (node.kind === 'float') {
      this.floats.push(path);
    } else if (node.kind === 'integer' && (node.bigint < INT64_MIN || node.bigint > INT64_MAX)) {
      this.tooBig.push({ pos: pos(node.loc.start), digits: node.bigint.toString() });
    }
  }
}

export function parseToml(text: string): Parsed {
  // the parser and everything after it recurse: refuse a depth no island file needs before they do
  const deep = tooDeep(text);
  if (deep) {
    const message = `arrays and inline tables are nested more than ${MAX_NESTING} deep here; island's keys need at most 3`;
    return { ok: false, pos: deep, message };
  }
  let program: AST.TOMLProgram;
  try {
    program = parseTOML(text, { tomlVersion: '1.0' });
  } catch (e) {
    if (e instanceof ParseError) {
      const hint = missingValueHint(text, e.index) || mixedTableHint(text, e.lineNumber);
      const message = `invalid TOML: ${lowerFirst(e.message)}${hint}`;
      return { ok: false, pos: { line: e.lineNumber, col: e.column + 1 }, message };
    }
    throw e;
  }
  const locator = new AstLocator(program);
  const big = locator.tooBig[0];
  if (big) {
    const message = `invalid TOML: ${big.digits} does not fit in 64 bits (TOML integers are ${INT64_MIN} to ${INT64_MAX})`;
    return { ok: false, pos: big.pos, message };
  }
  const value = getStaticTOMLValue(program) as Record<string, unknown>;
  for (const p of locator.floats) markFloat(value, p);
  return { ok: true, value, locator };
}

function markFloat(root: unknown, path: KeyPath): void {
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i] as string | number] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  cur[last] = new TomlFloat(cur[last] as number);
}

/** `mtu =` with nothing after it: the parser only notices on the next line, so name the culprit. */
function missingValueHint(text: string, index: number): string {
  const before = text.slice(0, index).trimEnd();
  // only when the parser stopped on a later line; `port = 0123` fails at its value, which is there
  if (!before.endsWith('=') || !text.slice(before.length, index).includes('\n')) return '';
  const lines = before.split('\n');
  const key = (lines[lines.length - 1] as string).slice(0, -1).trim();
  return `; the value of ${key} on line ${lines.length} is missing`;
}

const ARRAY_SECTIONS = ['tunnel', 'bridge', 'link', 'route'];

/** `[tunnel]` next to `[[tunnel]]` is a TOML redefinition; say which spelling is the right one. */
function mixedTableHint(text: string, line: number): string {
  const header = /^\s*\[\[?\s*([A-Za-z0-9_-]+)\s*\]/.exec(text.split('\n')[line - 1] ?? '');
  const name = header?.[1];
  if (name === undefined) return '';
  const single = new RegExp(`^\\s*\\[\\s*${name}\\s*\\]`, 'm').test(text);
  const array = new RegExp(`^\\s*\\[\\[\\s*${name}\\s*\\]\\]`, 'm').test(text);
  if (!single || !array) return '';
  const fix = ARRAY_SECTIONS.includes(name) ? `write [[${name}]] for each entry` : `write [${name}] once`;
  return `; [${name}] and [[${name}]] cannot be mixed: ${fix}`;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
