/** Diagnostics: what the user sees when /etc/island.toml is wrong, so every word and position matters. */

export interface Diagnostic {
  path: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
  /** e.g. `tunnel[1].vni`; "" when the problem is the file as a whole */
  key: string;
  message: string;
  severity: 'error' | 'warning';
}

/** A position in the TOML document: table names, array indices, keys. */
export type KeyPath = readonly (string | number)[];

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `tunnel[1].vni`, `sysctl."net.ipv4.ip_forward"` — TOML's own quoting, so the path can be pasted back. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = BARE_KEY.test(seg) ? seg : JSON.stringify(seg);
      out += out === '' ? s : `.${s}`;
    }
  }
  return out;
}

/**
 * One line, whatever the file holds: a value with a newline cannot start a forged
 * `...:1:1: ok` line, and an escape sequence cannot move or recolour the terminal. Every
 * C0 and C1 control, DEL, and the Unicode line, paragraph and bidirectional controls are
 * shown as the escapes TOML itself would accept for them.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.path}:${d.line}:${d.col}: `;
  const sev = d.severity === 'warning' ? 'warning: ' : '';
  const key = d.key === '' ? '' : `${d.key}: `;
  return escapeControls(`${where}${sev}${key}${d.message}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

export function escapeControls(s: string): string {
  return s.replace(CONTROLS, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Line then column; ties keep the order they were found in (Array.prototype.sort is stable). */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const unique = list.filter((d) => {
    const id = `${d.severity}\0${d.line}\0${d.col}\0${d.key}\0${d.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  return unique.sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * Optimal-string-alignment distance: Levenshtein plus adjacent transpositions,
 * because "tll" for "ttl" is one slip of the fingers, not two.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The closest allowed name, if it is close enough that suggesting it will not look silly. */
export function suggest(unknown: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');
  const u = norm(unknown);
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const cand of allowed) {
    const c = norm(cand);
    // camelCase spelling of a snake_case key ("sourcePort") is the commonest near miss of all
    const d = Math.min(editDistance(u, c), editDistance(u, c.replace(/_/g, '')));
    const prefix = Math.min(u.length, c.length) >= 3 && (c.startsWith(u) || u.startsWith(c));
    const close = d <= 2 && d <= Math.ceil(u.length / 2);
    if (!close && !prefix) continue;
    const score = close ? d : 3;
    if (score < bestScore) {
      best = cand;
      bestScore = score;
    }
  }
  return best;
}
