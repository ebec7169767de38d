/**
 * island.toml from data, for tests and bench alike: one writer instead of a template per
 * suite. JavaScript with JSDoc types, so that bench (node, no loader) imports it as it is and
 * the TypeScript tests get its types. Tests whose point is a file's exact text (a diagnostic's
 * line and column) keep writing that text themselves.
 */

/** @typedef {string | number | boolean | string[] | number[]} Value */
/** @typedef {Record<string, Value | undefined>} Table */
/**
 * The sections of island.toml, each as the file writes it (snake_case keys); a key whose
 * value is undefined is left out.
 * @typedef {{
 *   tunnel?: Table[],
 *   bridge?: Table[],
 *   link?: Table[],
 *   route?: Table[],
 *   sysctl?: Table,
 *   daemon?: Table,
 *   forward?: Table,
 *   hosts?: Table,
 * }} IslandFile
 */

/** @param {string} k */
const key = (k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

/** @param {Value} v @returns {string} */
function value(v) {
  if (Array.isArray(v)) return `[${v.map((x) => value(x)).join(', ')}]`;
  // a JSON string is a TOML basic string (the same escapes)
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** @param {Table} t */
const lines = (t) =>
  Object.entries(t)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${key(k)} = ${value(/** @type {Value} */ (v))}`);

/**
 * The file's text: arrays of tables ([[tunnel]]) and tables ([daemon]) in the order given.
 * @param {IslandFile} file
 * @param {{ comment?: string }} [o] a first line, as `# comment`
 */
export function islandToml(file, o = {}) {
  const out = o.comment ? [`# ${o.comment}`] : [];
  for (const [section, v] of Object.entries(file)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const t of v) out.push(`[[${section}]]`, ...lines(t), '');
    else out.push(`[${section}]`, ...lines(v), '');
  }
  return out.join('\n');
}

/**
 * A VXLAN [[tunnel]]: vx0, VNI 7 unless said; every other key as given.
 * @param {{ local: string, remote: string } & Table} t
 * @returns {Table}
 */
export const vxlan = (t) => ({ name: 'vx0', kind: 'vxlan', vni: 7, ...t });
