/**
 * The fast path for a file with nothing to say: one pass over the text gives its values and the
 * lines of its entries, with no syntax tree and no token positions. island reads the common
 * file, valid and plain, in a few milliseconds instead of building toml-eslint-parser's full
 * tree for positions no message will print.
 *
 * It reads only a plain subset of TOML 1.0, and gives up (undefined) at anything else, so that
 * it never accepts what the full reader (locate.ts) refuses nor reads a value differently:
 * escapes, multi-line strings, floats, dates, integers that are not decimal or beyond 2^53, dotted
 * keys, a table defined twice or reopened, an inline table spanning lines, deep nesting. It
 * answers only the positions it is sure to answer exactly as the full reader would: the line of a
 * [[tunnel]]/[[bridge]]/[[link]]/[[route]] header and of each element of an entry's `addresses`.
 * Any other position throws NeedPositions, and the caller reads the file again the full way.
 */
import type { KeyPath } from './diagnostic.js';
import type { Locator, Pos } from './locate.js';

/** A position the fast path cannot give: read the file the full way. */
export class NeedPositions extends Error {}

const SECTIONS = new Set(['tunnel', 'bridge', 'link', 'route']);

/** island's keys nest three deep at most; deeper is the full reader's to judge (text.ts) */
const MAX_DEPTH = 16;

/** Not in the subset: the caller reads the file the full way. */
class Outside extends Error {}
const OUTSIDE = new Outside();

// sticky, so each matches where the reader stands: TOML 1.0's tokens, less what the subset leaves out
/** spaces, then a comment (no control character but tab), up to the end of the line */
// biome-ignore lint/suspicious/noControlCharactersInRegex: TOML forbids control characters here; the pattern names them
const REST = /[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?(?:\r?\n|$)/y;
/** what may stand between an array's values: spaces, comments, newlines */
// biome-ignore lint/suspicious/noControlCharactersInRegex: TOML forbids control characters here; the pattern names them
const GAP = /(?:[ \t]|\r?\n|#[^\x00-\x08\x0a-\x1f\x7f]*(?=\r?\n|$))*/y;
const BARE_KEY = /[A-Za-z0-9_-]+/y;
/** a basic string without escapes, or a literal string */
// biome-ignore lint/suspicious/noControlCharactersInRegex: TOML forbids control characters here; the pattern names them
const STRING = /"([^"\\\x00-\x08\x0a-\x1f\x7f]*)"|'([^'\x00-\x08\x0a-\x1f\x7f]*)'/y;
/** a decimal integer, then what may follow a value (a float or a date goes on with . e E - : or a digit) */
const INTEGER = /[+-]?(?:0|[1-9](?:_?[0-9])*)(?=[ \t,\]}#\r\n]|$)/y;
const BOOLEAN = /(?:true|false)(?=[ \t,\]}#\r\n]|$)/y;

type Table = Record<string, unknown>;

/** the entries of one [[section]], in order: each one's header line and column (0-based), and its `addresses`' positions */
interface Entries {
  lines: number[];
  cols: number[];
  addresses: (Pos[] | undefined)[];
}

class Reader {
  i = 0;
  /** 0-based line of `i`, and where that line starts */
  line = 0;
  lineStart = 0;
  readonly root: Table = {};
  /** tables a header defined (one more header for any of them is TOML's error, or an odd file) */
  private readonly defined = new Set<Table>();
  /** tables a header's path made on the way (a.b of [a.b.c]) */
  private readonly implicit = new Set<Table>();
  /** arrays made by [[...]] headers */
  private readonly arraysOfTables = new Set<unknown[]>();
  /**
   * each [[section]] of the top level: where its entries are. Arrays by entry, not maps by line:
   * a map's table grows by copies, for each of a big file's thousand entries
   */
  readonly entries = new Map<string, Entries>();
  /** the [[section]] entry the lines below fill, if that is what the last header opened */
  private entry: Entries | undefined;
  /** what array() saw of the positions of its elements, when asked */
  private positions: Pos[] | undefined;
  /**
   * keys already read, by their first and last characters and length: a file says the same few
   * keys again and again, and a string sliced for each would be garbage, hashed again as a name
   */
  private readonly keyCache: (string | undefined)[] = new Array(256);

  constructor(private readonly text: string) {}

  read(): Table {
    const { text } = this;
    let table = this.root;
    while (this.i < text.length) {
      this.spaces();
      const c = text.charCodeAt(this.i);
      if (c === 0x5b /* [ */) table = this.header();
      else if (c !== 0x23 /* # */ && c !== 0x0a && c !== 0x0d && !Number.isNaN(c)) {
        const key = this.key();
        this.spaces();
        if (text.charCodeAt(this.i) !== 0x3d /* = */) throw OUTSIDE;
        this.i++;
        this.spaces();
        if (Object.hasOwn(table, key)) throw OUTSIDE;
        const entry = key === 'addresses' ? this.entry : undefined;
        this.positions = undefined;
        table[key] = this.value(0, entry !== undefined);
        if (entry) entry.addresses[entry.addresses.length - 1] = this.positions;
      }
      this.endOfLine();
    }
    return this.root;
  }

  /** spaces and tabs: a loop, not a regular expression, for the zero or one there usually are */
  private spaces(): void {
    let c = this.text.charCodeAt(this.i);
    while (c === 0x20 || c === 0x09) c = this.text.charCodeAt(++this.i);
  }

  private skip(re: RegExp): void {
    re.lastIndex = this.i;
    re.test(this.text);
    this.i = re.lastIndex;
  }

  /** spaces, a comment, the newline (or the end of the text) */
  private endOfLine(): void {
    // most lines end right after their value
    if (this.text.charCodeAt(this.i) === 0x0a) {
      this.i++;
      this.newline();
      return;
    }
    REST.lastIndex = this.i;
    if (!REST.test(this.text)) throw OUTSIDE;
    this.i = REST.lastIndex;
    if (this.text.charCodeAt(this.i - 1) === 0x0a) this.newline();
  }

  private newline(): void {
    this.line++;
    this.lineStart = this.i;
  }

  /**
   * Where the token `re` matches at the reader ends, or -1. test() and lastIndex, not exec(): an
   * exec's match array for each of a big file's tens of thousands of tokens is garbage to collect.
   */
  private match(re: RegExp): number {
    re.lastIndex = this.i;
    return re.test(this.text) ? re.lastIndex : -1;
  }

  /** `dotted`: a header's part, which a dot may follow */
  private key(dotted = false): string {
    const { text } = this;
    let end = this.match(BARE_KEY);
    let key: string;
    if (end >= 0) key = this.bareKey(this.i, end);
    else {
      end = this.match(STRING);
      if (end < 0) throw OUTSIDE;
      key = text.slice(this.i + 1, end - 1);
    }
    this.i = end;
    // a dotted key; `__proto__` would set the prototype of a plain object
    if ((!dotted && text.charCodeAt(end) === 0x2e) || key === '__proto__') throw OUTSIDE;
    return key;
  }

  /** the text from..to, a bare key: the same string as the last key of that hash, if it is that one */
  private bareKey(from: number, to: number): string {
    const { text } = this;
    const len = to - from;
    const h = (text.charCodeAt(from) * 31 + text.charCodeAt(to - 1) * 7 + len) & 255;
    const seen = this.keyCache[h];
    if (seen !== undefined && seen.length === len && text.startsWith(seen, from)) return seen;
    const key = text.slice(from, to);
    this.keyCache[h] = key;
    return key;
  }

  /** `[a.b]` or `[[a.b]]`: the table the lines below fill; this.entry set for a top-level [[section]] */
  private header(): Table {
    const { text } = this;
    const col = this.i - this.lineStart;
    const array = text.charCodeAt(this.i + 1) === 0x5b;
    this.i += array ? 2 : 1;
    // an array of the keys only for a dotted header: most are one word
    this.spaces();
    const first = this.key(true);
    let keys: string[] | undefined;
    for (;;) {
      this.spaces();
      const c = text.charCodeAt(this.i);
      if (c === 0x5d /* ] */) break;
      if (c !== 0x2e) throw OUTSIDE;
      this.i++;
      this.spaces();
      if (keys) keys.push(this.key(true));
      else keys = [first, this.key(true)];
    }
    this.i++;
    if (array) {
      if (text.charCodeAt(this.i) !== 0x5d) throw OUTSIDE;
      this.i++;
    }
    const n = keys ? keys.length : 1;
    let parent = this.root;
    for (let k = 0; k < n - 1; k++) {
      const key = (keys as string[])[k] as string;
      if (!Object.hasOwn(parent, key)) {
        const t: Table = {};
        parent[key] = t;
        this.implicit.add(t);
        parent = t;
        continue;
      }
      const v = parent[key];
      if (Array.isArray(v) && this.arraysOfTables.has(v)) parent = v[v.length - 1] as Table;
      else if (this.defined.has(v as Table) || this.implicit.has(v as Table)) parent = v as Table;
      else throw OUTSIDE;
    }
    const last = keys ? (keys[n - 1] as string) : first;
    const table: Table = {};
    if (array) {
      let list = parent[last];
      if (list === undefined && !Object.hasOwn(parent, last)) {
        list = [];
        parent[last] = list;
        this.arraysOfTables.add(list as unknown[]);
      } else if (!Array.isArray(list) || !this.arraysOfTables.has(list)) throw OUTSIDE;
      (list as unknown[]).push(table);
    } else {
      if (Object.hasOwn(parent, last)) throw OUTSIDE;
      parent[last] = table;
      // only a table that is some key's value can be reached again by a header's path: an
      // array's tables are reached through their array
      this.defined.add(table);
    }
    this.entry = undefined;
    if (array && n === 1 && parent === this.root && SECTIONS.has(last)) {
      let e = this.entries.get(last);
      if (!e) {
        e = { lines: [], cols: [], addresses: [] };
        this.entries.set(last, e);
      }
      e.lines.push(this.line);
      e.cols.push(col);
      e.addresses.push(undefined);
      this.entry = e;
    }
    return table;
  }

  /** `at`: leave where each element of this array starts in this.positions */
  private value(depth: number, at = false): unknown {
    const { text } = this;
    const c = text.charCodeAt(this.i);
    if (c === 0x22 || c === 0x27) {
      const end = this.match(STRING);
      // a multi-line string opens with three quotes: the first two read as "" and the third stops the line
      if (end < 0) throw OUTSIDE;
      const s = text.slice(this.i + 1, end - 1);
      this.i = end;
      return s;
    }
    if (c === 0x5b) return this.array(depth + 1, at);
    if (c === 0x7b) return this.inlineTable(depth + 1);
    if (c === 0x74 || c === 0x66) {
      const end = this.match(BOOLEAN);
      if (end < 0) throw OUTSIDE;
      this.i = end;
      return c === 0x74;
    }
    const end = this.match(INTEGER);
    if (end < 0) throw OUTSIDE;
    const digits = text.slice(this.i, end);
    this.i = end;
    const n = Number(digits.includes('_') ? digits.replaceAll('_', '') : digits);
    if (!Number.isSafeInteger(n)) throw OUTSIDE;
    // -0 is the integer 0
    return n === 0 ? 0 : n;
  }

  private array(depth: number, at: boolean): unknown[] {
    if (depth > MAX_DEPTH) throw OUTSIDE;
    const { text } = this;
    // made with their first element: a push onto [] makes room for 17, and most arrays hold one
    let out: unknown[] | undefined;
    let positions: Pos[] | undefined;
    this.i++;
    for (;;) {
      this.gap();
      if (text.charCodeAt(this.i) === 0x5d) break;
      const p = at ? { line: this.line + 1, col: this.i - this.lineStart + 1 } : undefined;
      const v = this.value(depth);
      if (out) out.push(v);
      else out = [v];
      if (p) {
        if (positions) positions.push(p);
        else positions = [p];
      }
      this.gap();
      const c = text.charCodeAt(this.i);
      if (c === 0x5d) break;
      if (c !== 0x2c /* , */) throw OUTSIDE;
      this.i++;
    }
    this.i++;
    if (at) this.positions = positions ?? [];
    return out ?? [];
  }

  /** spaces, comments and newlines, counting the lines */
  private gap(): void {
    const from = this.i;
    this.skip(GAP);
    for (let n = this.text.indexOf('\n', from); n >= 0 && n < this.i; n = this.text.indexOf('\n', n + 1)) {
      this.line++;
      this.lineStart = n + 1;
    }
  }

  /** on one line, no comma before `}` (TOML 1.0) */
  private inlineTable(depth: number): Table {
    if (depth > MAX_DEPTH) throw OUTSIDE;
    const { text } = this;
    const out: Table = {};
    this.i++;
    this.spaces();
    if (text.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.spaces();
      const key = this.key();
      this.spaces();
      if (text.charCodeAt(this.i) !== 0x3d) throw OUTSIDE;
      this.i++;
      this.spaces();
      if (Object.hasOwn(out, key)) throw OUTSIDE;
      const line = this.line;
      out[key] = this.value(depth);
      if (this.line !== line) throw OUTSIDE;
      this.spaces();
      const c = text.charCodeAt(this.i);
      this.i++;
      if (c === 0x7d) return out;
      if (c !== 0x2c) throw OUTSIDE;
    }
  }
}

export function quickRead(text: string): { value: Record<string, unknown>; locator: Locator } | undefined {
  const r = new Reader(text);
  let root: Table;
  try {
    root = r.read();
  } catch (e) {
    if (e instanceof Outside) return undefined;
    throw e;
  }
  // every entry of a section written as a [[section]] header (not inline, not in a dotted table)
  for (const name of SECTIONS) {
    const list = root[name];
    if (list !== undefined && (!Array.isArray(list) || list.length !== (r.entries.get(name)?.lines.length ?? -1)))
      return undefined;
  }
  return { value: root, locator: new HeaderLines(r) };
}

class HeaderLines implements Locator {
  constructor(private readonly r: Reader) {}

  at(path: KeyPath, part: 'key' | 'value'): Pos {
    // indexed, not destructured: asked once per entry and per address, where destructuring an
    // array runs the iterator protocol
    const section = path[0];
    const index = path[1];
    const e = typeof section === 'string' && typeof index === 'number' ? this.r.entries.get(section) : undefined;
    const start = e?.lines[index as number];
    if (e && start !== undefined && path.length === 2 && part === 'value')
      return { line: start + 1, col: (e.cols[index as number] as number) + 1 };
    const element = path[3];
    if (e && start !== undefined && path.length === 4 && path[2] === 'addresses' && typeof element === 'number') {
      const at = e.addresses[index as number]?.[element];
      if (at !== undefined) return at;
    }
    throw new NeedPositions();
  }

  node(): never {
    throw new NeedPositions();
  }
}
