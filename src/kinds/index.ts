/**
 * The registry of link kinds: adding a kind is its module plus one line in `kinds`. Everything
 * that differs between kinds is asked of them through here (see kind.ts).
 */
import { bridgeShape, linkShape, type Shape, tunnelShape } from '../config/schema.js';
import { bridge } from './bridge.js';
import { gre } from './gre.js';
import { gretap } from './gretap.js';
import { ipip } from './ipip.js';
import { ipvlan } from './ipvlan.js';
import type { LinkKind, Table } from './kind.js';
import { macvlan } from './macvlan.js';
import { vxlan } from './vxlan.js';

export const kinds: Record<string, LinkKind> = { ipip, vxlan, gre, gretap, bridge, macvlan, ipvlan };

/** The kind of every [[bridge]] (its table names no kind). */
export const BRIDGE: LinkKind = bridge;

export function kindOf(name: string): LinkKind {
  const k = findKind(name);
  if (!k) throw new Error(`unknown link kind ${name}`);
  return k;
}

/** A kind by the name a file or the kernel gives, when island knows it. */
export const findKind = (name: string | undefined): LinkKind | undefined =>
  name === undefined || !Object.hasOwn(kinds, name) ? undefined : kinds[name];

/** The kinds a table declares, in registry order. */
export const kindsOf = (table: Table): LinkKind[] => Object.values(kinds).filter((k) => k.table === table);

/** The keys every entry of a table has, whatever its kind. */
const TABLE_KEYS: Record<Table, Shape> = { tunnel: tunnelShape, bridge: bridgeShape, link: linkShape };

export const tableKeys = (table: Table): Shape => TABLE_KEYS[table];

const shapes = new Map<LinkKind, Shape>();

/** A kind's whole shape: its table's keys, narrowed and extended by its own. Built once per kind. */
export function shapeOf(k: LinkKind): Shape {
  let s = shapes.get(k);
  if (!s) {
    s = { ...tableKeys(k.table), ...k.keys };
    shapes.set(k, s);
  }
  return s;
}

const anyShapes = new Map<Table, Shape>();

/**
 * For an entry whose kind is missing or wrong: every key some kind of the table takes, each
 * optional beyond the table's own, so that everything that could belong is still checked.
 */
export function anyShape(table: Table): Shape {
  let s = anyShapes.get(table);
  if (!s) {
    s = { ...tableKeys(table) };
    for (const k of kindsOf(table))
      for (const [key, schema] of Object.entries(k.keys)) if (!(key in s)) s[key] = schema.optional();
    anyShapes.set(table, s);
  }
  return s;
}

/** The kinds of the table that take this key as their own, for "only valid for kind = ..." */
export const kindsWithKey = (table: Table, key: string): LinkKind[] =>
  kindsOf(table).filter((k) => key in k.keys && !(key in tableKeys(table)));
