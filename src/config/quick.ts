/**
 * The fast path for a file with nothing to say: its values from smol-toml (no syntax tree, no
 * token positions) and the lines of its entries from one scan of the text. island reads the
 * common file, valid and plain, in a few milliseconds instead of building toml-eslint-parser's
 * full tree for positions no message will print.
 *
 * It answers only what it is sure to answer exactly as the full reader (locate.ts) would: the
 * line of a [[tunnel]]/[[bridge]]/[[link]]/[[route]] header and of each element of an entry's
 * `addresses`. Any other position throws NeedPositions, and the caller reads the file again the
 * full way; so does any file outside the plain subset (TOML 1.1-only syntax smol-toml accepts,
 * multi-line strings, floats, dates, integers beyond 2^53, deep nesting).
 */
import { parse } from 'smol-toml';
import type { KeyPath } from './diagnostic.js';
import type { Locator, Pos } from './locate.js';
import { tooDeep } from './text.js';

/** A position the fast path cannot give: read the file the full way. */
export class NeedPositions extends Error {}

const SECTIONS = new Set(['tunnel', 'bridge', 'link', 'route']);
const HEADER = /^[ \t]*\[\[[ \t]*([A-Za-z0-9_-]+)[ \t]*\]\][ \t]*(#.*)?$/;

/**
 * What TOML 1.0 (island's dialect: toml-eslint-parser with tomlVersion 1.0) may refuse and
 * TOML 1.1 (smol-toml) accepts, or what the scan below cannot follow: any hint of it sends the
 * file down the full path. `{` running to the end of its line (a multi-line inline table), a
 * comma before `}`, the \e and \x escapes, multi-line strings.
 */
const OUTSIDE_SUBSET = /\{[^}\n]*\n|,\s*\}|\\[ex]|"""|'''/;

/** A table key with anything but ASCII before its `=` (TOML 1.1 widened bare keys). */
const WIDE_KEY = /^[ \t]*[^#\s][^=\n]*[\u0080-\uffff][^=\n]*=/m;

export function quickRead(text: string): { value: Record<string, unknown>; locator: Locator } | undefined {
  if (OUTSIDE_SUBSET.test(text) || WIDE_KEY.test(text) || tooDeep(text)) return undefined;
  let raw: unknown;
  try {
    raw = parse(text, { integersAsBigInt: true });
  } catch {
    return undefined;
  }
  const value = plain(raw);
  if (value === undefined) return undefined;
  const lines = text.split('\n');
  const headers = new Map<string, number[]>();
  lines.forEach((l, i) => {
    const m = l.includes('[[') ? HEADER.exec(l) : null;
    if (!m) return;
    const at = headers.get(m[1] as string);
    if (at) at.push(i);
    else headers.set(m[1] as string, [i]);
  });
  const root = value as Record<string, unknown>;
  // every entry of a section written as a [[section]] header (not inline, not dotted)
  for (const [name, at] of headers) {
    const list = root[name];
    if (SECTIONS.has(name) && (!Array.isArray(list) || list.length !== at.length)) return undefined;
  }
  for (const name of SECTIONS) if (root[name] !== undefined && !headers.has(name)) return undefined;
  return { value: root, locator: new HeaderLines(lines, headers) };
}

/**
 * smol-toml's values as getStaticTOMLValue gives them: plain objects, integers as numbers.
 * undefined for what only the full path handles exactly (floats, dates, huge integers).
 */
function plain(v: unknown): unknown {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint')
    return v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : undefined;
  // smol-toml's arrays are island's now: converted where they are, not copied
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = plain(v[i]);
      if (p === undefined) return undefined;
      v[i] = p;
    }
    return v;
  }
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === null) {
    const out: Record<string, unknown> = {};
    // a null-prototype object: for-in sees its own keys only
    for (const k in v) {
      const p = plain((v as Record<string, unknown>)[k]);
      if (p === undefined) return undefined;
      out[k] = p;
    }
    return out;
  }
  return undefined;
}

class HeaderLines implements Locator {
  /** each table header's line → the next one's (or the end): where an entry ends */
  private readonly ends = new Map<number, number>();
  /** per entry (its header's line), where each element of its `addresses` starts */
  private readonly elements = new Map<number, Pos[] | undefined>();

  constructor(
    private readonly lines: string[],
    private readonly headers: Map<string, number[]>,
  ) {
    let last: number | undefined;
    lines.forEach((l, i) => {
      if (!/^[ \t]*\[/.test(l)) return;
      if (last !== undefined) this.ends.set(last, i);
      last = i;
    });
    if (last !== undefined) this.ends.set(last, lines.length);
  }

  at(path: KeyPath, part: 'key' | 'value'): Pos {
    const [section, index, key, element] = path;
    const header = typeof section === 'string' && typeof index === 'number' && SECTIONS.has(section);
    const start = header ? this.headers.get(section)?.[index] : undefined;
    if (start !== undefined && path.length === 2 && part === 'value')
      return { line: start + 1, col: (this.lines[start] as string).search(/\S/) + 1 };
    if (start !== undefined && path.length === 4 && key === 'addresses' && typeof element === 'number') {
      if (!this.elements.has(start)) this.elements.set(start, this.addresses(start));
      const at = this.elements.get(start)?.[element];
      if (at !== undefined) return at;
    }
    throw new NeedPositions();
  }

  node(): never {
    throw new NeedPositions();
  }

  /**
   * Where each element of `addresses` starts in the entry whose header is on line `start`
   * (0-based): the entry's lines up to the next table, `addresses = [`, then its strings.
   * undefined where the scan cannot be sure (the full path answers).
   */
  private addresses(start: number): Pos[] | undefined {
    const stop = this.ends.get(start) ?? this.lines.length;
    for (let i = start + 1; i < stop; i++) {
      const m = /^[ \t]*addresses[ \t]*=[ \t]*\[/.exec(this.lines[i] as string);
      if (!m) continue;
      const out: Pos[] = [];
      let col = m[0].length;
      for (let line = i; line < stop; line++, col = 0) {
        const text = this.lines[line] as string;
        for (; col < text.length; col++) {
          const c = text[col];
          if (c === '#') break;
          if (c === ']') return out;
          if (c === '"' || c === "'") {
            out.push({ line: line + 1, col: col + 1 });
            // to the closing quote (a basic string may escape one)
            for (col++; col < text.length && text[col] !== c; col++) if (c === '"' && text[col] === '\\') col++;
          }
        }
      }
      return undefined;
    }
    return undefined;
  }
}
