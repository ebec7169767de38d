/**
 * The bytes of a file before any TOML parser sees them. TOML 1.0 files are UTF-8, and a
 * parser that recurses cannot take arbitrary nesting: both are checked here, with the
 * position of the first byte that is wrong, so a hostile or damaged file ends in one
 * positioned line rather than a silently replaced character or a stack overflow.
 */
import { isUtf8 } from 'node:buffer';
import type { Pos } from './locate.js';

export type Decoded = { ok: true; text: string } | { ok: false; pos: Pos; message: string };

/** Columns count UTF-16 code units after a byte-order mark, as the TOML parser's do. */
export function decodeUtf8(bytes: Uint8Array): Decoded {
  if (isUtf8(bytes))
    return { ok: true, text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8') };
  let line = 1;
  let col = 0;
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      const bad = `0x${(bytes[i] as number).toString(16).padStart(2, '0')}`;
      return {
        ok: false,
        pos: { line, col: col + 1 },
        message: `invalid TOML: byte ${bad} is not UTF-8 here; TOML files are UTF-8 (re-save the file as UTF-8)`,
      };
    }
    if (bytes[i] === 0x0a) {
      line++;
      col = 0;
    } else col += n === 4 ? 2 : 1;
    i += n;
  }
  // isUtf8 and this scan disagree only if one of them is wrong; trust the stricter answer
  return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
}

const cont = (b: number | undefined): boolean => b !== undefined && b >= 0x80 && b <= 0xbf;

/** Length of the well-formed UTF-8 sequence at i (RFC 3629: no overlongs, surrogates or > U+10FFFF), or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const c1 = b[i + 1];
  if (c >= 0xc2 && c <= 0xdf) return cont(c1) ? 2 : 0;
  if (c1 === undefined) return 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return c1 >= lo && c1 <= hi && cont(b[i + 2]) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return c1 >= lo && c1 <= hi && cont(b[i + 2]) && cont(b[i + 3]) ? 4 : 0;
  }
  return 0;
}

/** island's own keys nest three deep at most; this leaves room and stays far from any stack limit. */
export const MAX_NESTING = 100;

/**
 * Where arrays and inline tables first nest deeper than `max`, if they do. A lexer just
 * good enough to skip comments and the four kinds of strings; anything it misjudges in a
 * broken file is then reported by the parser itself.
 */
export function tooDeep(text: string, max = MAX_NESTING): Pos | undefined {
  // character codes and indexOf, not one-character strings: this runs over every file read
  const n = text.length;
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === NL) {
      line++;
      lineStart = i + 1;
    } else if (c === HASH) {
      const end = text.indexOf('\n', i + 1);
      i = (end < 0 ? n : end) - 1;
    } else if (c === DQUOTE || c === SQUOTE) {
      const triple = text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c;
      i += triple ? 3 : 1;
      while (i < n) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH && c === DQUOTE) {
          // an escape, or a line-ending backslash in a multi-line string
          i++;
          if (text.charCodeAt(i) === NL) {
            line++;
            lineStart = i + 1;
          }
        } else if (s === NL) {
          if (!triple) break;
          line++;
          lineStart = i + 1;
        } else if (s === c && (!triple || (text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c))) {
          // a multi-line string may end with up to two quotes of its own before the closing three
          if (triple) while (text.charCodeAt(i + 3) === c) i++;
          i += triple ? 2 : 0;
          break;
        }
        i++;
      }
      if (text.charCodeAt(i) === NL) continue;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      depth++;
      if (depth > max) return { line, col: i - lineStart + 1 };
    } else if ((c === CLOSE_BRACKET || c === CLOSE_BRACE) && depth > 0) depth--;
    i++;
  }
  return undefined;
}

const [NL, HASH, DQUOTE, SQUOTE, BACKSLASH, OPEN_BRACKET, OPEN_BRACE, CLOSE_BRACKET, CLOSE_BRACE] = [
  ...'\n#"\'\\[{]}',
].map((ch) => ch.charCodeAt(0)) as [number, number, number, number, number, number, number, number, number];
