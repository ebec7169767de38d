/**
 * island's lines in /etc/hosts: one block between two marker comments, appended at the end of
 * the file the first time. Pure text in, text out. Every line outside the block is kept byte
 * for byte; a file whose markers do not pair up is left alone (whose lines are they?).
 */
import type { HostEntry } from '../config/types.js';

export const BEGIN = '# BEGIN island: names from [hosts] in island.toml; island rewrites the lines up to END island';
export const END = '# END island';
const isBegin = (l: string) => /^# BEGIN island\b/.test(l.trim());
const isEnd = (l: string) => /^# END island\b/.test(l.trim());

export class HostsFileError extends Error {}

export interface Block {
  /** index of the BEGIN line and of the END line, in the file's lines */
  begin: number;
  end: number;
  entries: HostEntry[];
}

/** The file's island block, undefined when it has none; throws HostsFileError when the markers are broken. */
export function findBlock(text: string, path = '/etc/hosts'): Block | undefined {
  const lines = text.split('\n');
  const begins = lines.flatMap((l, i) => (isBegin(l) ? [i] : []));
  const ends = lines.flatMap((l, i) => (isEnd(l) ? [i] : []));
  if (!begins.length && !ends.length) return undefined;
  const [begin] = begins;
  const [end] = ends;
  if (begins.length > 1)
    throw new HostsFileError(
      `${path}:${(begins[1] as number) + 1}: a second "# BEGIN island" line; not touching the file`,
    );
  if (ends.length > 1)
    throw new HostsFileError(`${path}:${(ends[1] as number) + 1}: a second "# END island" line; not touching the file`);
  if (begin === undefined)
    throw new HostsFileError(
      `${path}:${(end as number) + 1}: "# END island" without "# BEGIN island"; not touching the file`,
    );
  if (end === undefined || end < begin)
    throw new HostsFileError(
      `${path}:${begin + 1}: "# BEGIN island" without "# END island" after it; not touching the file`,
    );
  const entries: HostEntry[] = [];
  for (const l of lines.slice(begin + 1, end)) {
    const [address, ...names] = l.replace(/#.*/, '').trim().split(/\s+/);
    if (!address) continue;
    for (const name of names) entries.push({ name, address });
  }
  return { begin, end, entries };
}

export function renderBlock(entries: HostEntry[]): string[] {
  return [BEGIN, ...entries.map((e) => `${e.address}\t${e.name}`), END];
}

/** The file with its island block set to `entries` (removed when there are none). */
export function withBlock(text: string, entries: HostEntry[], path = '/etc/hosts'): string {
  const block = findBlock(text, path);
  const lines = text.split('\n');
  if (block) {
    const replacement = entries.length ? renderBlock(entries) : [];
    lines.splice(block.begin, block.end - block.begin + 1, ...replacement);
    return lines.join('\n');
  }
  if (!entries.length) return text;
  // the block goes last; a file without a final newline gets one before it
  const head = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return `${head}${renderBlock(entries).join('\n')}\n`;
}

/** Names of `entries` that a line outside the block names too: resolvers take the first match. */
export function shadowed(text: string, entries: HostEntry[]): { name: string; line: number }[] {
  let block: Block | undefined;
  try {
    block = findBlock(text);
  } catch {
    return [];
  }
  const out: { name: string; line: number }[] = [];
  const wanted = new Set(entries.map((e) => e.name.toLowerCase()));
  text.split('\n').forEach((l, i) => {
    if (block && i >= block.begin && i <= block.end) return;
    if (block && i > block.end) return;
    const [, ...names] = l.replace(/#.*/, '').trim().split(/\s+/);
    for (const n of names) if (wanted.has(n.toLowerCase())) out.push({ name: n, line: i + 1 });
  });
  return out;
}

/** Same names and addresses in the same order. */
export function sameEntries(a: HostEntry[], b: HostEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.name === b[i]?.name && e.address === b[i]?.address);
}
