/**
 * The file line that declared an object of the typed config (a [[tunnel]], [[bridge]] or
 * [[route]] table, one entry of `addresses`), for messages about it long after parsing: the
 * kernel refusing it at apply time, for instance. A side table keyed by the object itself,
 * so that Config keeps its shape; objects not parsed from a file (a one-file island's
 * derived tunnels) simply have none.
 */
const lines = new WeakMap<object, number>();

export function declaredAt<T extends object>(o: T, line: number): T {
  lines.set(o, line);
  return o;
}

/** `{ line }` when known, else nothing: spread into the desired object built from `o`. */
export function lineOf(o: object): { line?: number } {
  const line = lines.get(o);
  return line === undefined ? {} : { line };
}
