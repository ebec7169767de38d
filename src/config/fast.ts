/**
 * zod's own schemas, run without zod's machinery for an entry that has nothing to say.
 *
 * zod builds a context, a path and a result object for every key of every entry: most of a
 * 500-tunnel check. fastStrict() walks the same schema (schema.ts, kinds/) and calls the same
 * refinements and transforms with a context of its own; it answers only when every one of them
 * passed without an issue, and then exactly what zod's strict object would give. Anything it does
 * not follow (a check it does not know, a preprocess, an issue anywhere) makes it give up, and
 * the caller asks zod, which says every diagnostic as before: one schema, one set of messages.
 * test/unit/config-fast.test.ts holds the two answers equal over the fixtures.
 */
import { z } from 'zod';
import type { Shape } from './schema.js';

/** zod would say something, or the walk does not follow this schema */
const GIVE_UP: unique symbol = Symbol('give up');
type Walk = (v: unknown) => unknown;

/**
 * The refinements' and transforms' context: any issue means zod's answer is needed. One for
 * every call (none is nested in another, and none keeps it), reset before each.
 */
const ctx = {
  failed: false,
  path: [] as (string | number)[],
  addIssue(): void {
    ctx.failed = true;
  },
};
const fresh = (): z.RefinementCtx => {
  ctx.failed = false;
  return ctx as unknown as z.RefinementCtx;
};

/** zod itself, for what the walk does not follow (a nested object, a record) */
function byZod(s: z.ZodTypeAny): Walk {
  return (v) => {
    const r = s.safeParse(v);
    return r.success ? r.data : GIVE_UP;
  };
}

type Check = { kind: string; value?: number; inclusive?: boolean };

function numberWalk(s: z.ZodNumber): Walk {
  const checks = s._def.checks as Check[];
  if (s._def.coerce || checks.some((c) => !['int', 'min', 'max'].includes(c.kind))) return byZod(s);
  return (v) => {
    if (typeof v !== 'number' || Number.isNaN(v)) return GIVE_UP;
    // indexed, not for-of: the iterator protocol for every number of every entry, in the interpreter
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i] as Check;
      const bound = c.value as number;
      if (
        c.kind === 'int'
          ? !Number.isInteger(v)
          : c.kind === 'min'
            ? c.inclusive
              ? v < bound
              : v <= bound
            : c.inclusive
              ? v > bound
              : v >= bound
      )
        return GIVE_UP;
    }
    return v;
  };
}

function effectsWalk(s: z.ZodEffects<z.ZodTypeAny>): Walk {
  const effect = s._def.effect;
  const inner = walk(s._def.schema);
  if (effect.type === 'refinement')
    return (v) => {
      const x = inner(v);
      if (x === GIVE_UP) return GIVE_UP;
      effect.refinement(x, fresh());
      return ctx.failed ? GIVE_UP : x;
    };
  if (effect.type === 'transform')
    return (v) => {
      const x = inner(v);
      if (x === GIVE_UP) return GIVE_UP;
      const out = effect.transform(x, fresh());
      return ctx.failed || out === z.NEVER || out instanceof Promise ? GIVE_UP : out;
    };
  return byZod(s);
}

const walks = new WeakMap<z.ZodTypeAny, Walk>();

function walk(s: z.ZodTypeAny): Walk {
  let w = walks.get(s);
  if (!w) {
    w = build(s);
    walks.set(s, w);
  }
  return w;
}

function build(s: z.ZodTypeAny): Walk {
  const K = z.ZodFirstPartyTypeKind;
  const def = s._def as { typeName?: string; coerce?: boolean; checks?: unknown[] };
  switch (def.typeName) {
    case K.ZodString:
      if (def.coerce || def.checks?.length) return byZod(s);
      return (v) => (typeof v === 'string' ? v : GIVE_UP);
    case K.ZodNumber:
      return numberWalk(s as z.ZodNumber);
    case K.ZodBoolean:
      if (def.coerce) return byZod(s);
      return (v) => (typeof v === 'boolean' ? v : GIVE_UP);
    case K.ZodLiteral: {
      const value = (s as z.ZodLiteral<unknown>).value;
      return (v) => (v === value ? v : GIVE_UP);
    }
    case K.ZodUnknown:
      return (v) => v;
    case K.ZodOptional: {
      const inner = walk((s as z.ZodOptional<z.ZodTypeAny>)._def.innerType);
      return (v) => (v === undefined ? undefined : inner(v));
    }
    case K.ZodDefault: {
      const d = (s as z.ZodDefault<z.ZodTypeAny>)._def;
      const inner = walk(d.innerType);
      return (v) => inner(v === undefined ? d.defaultValue() : v);
    }
    case K.ZodArray: {
      const d = (s as z.ZodArray<z.ZodTypeAny>)._def;
      if (d.exactLength || d.minLength || d.maxLength) return byZod(s);
      const el = walk(d.type);
      return (v) => {
        if (!Array.isArray(v)) return GIVE_UP;
        const out = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = el(v[i]);
          if (x === GIVE_UP) return GIVE_UP;
          out[i] = x;
        }
        return out;
      };
    }
    case K.ZodUnion: {
      // zod's first option that passes without an issue
      const options = (s as z.ZodUnion<[z.ZodTypeAny, ...z.ZodTypeAny[]]>)._def.options.map(walk);
      return (v) => {
        for (const o of options) {
          const x = o(v);
          if (x !== GIVE_UP) return x;
        }
        return GIVE_UP;
      };
    }
    case K.ZodEffects:
      return effectsWalk(s as z.ZodEffects<z.ZodTypeAny>);
    default:
      return byZod(s);
  }
}

const objects = new WeakMap<Shape, (raw: unknown) => Record<string, unknown> | undefined>();

/**
 * What `z.object(shape).strict().safeParse(raw)` gives when it succeeds, or undefined where the
 * walk gives up (zod may still accept it: ask zod).
 */
export function fastStrict(shape: Shape, raw: unknown): Record<string, unknown> | undefined {
  let f = objects.get(shape);
  if (!f) {
    const keys = Object.keys(shape);
    const known = new Set(keys);
    const fns = keys.map((k) => walk(shape[k] as z.ZodTypeAny));
    // what each key left out gives (its default, undefined, or GIVE_UP when it is required): the
    // schemas' transforms are pure, so it is walked once per shape, not once per entry. An
    // object (a default []) is made afresh each time: entries must not share it.
    const NOT_YET: unique symbol = Symbol('not yet');
    const absent: unknown[] = keys.map(() => NOT_YET);
    const walkAbsent = (i: number): unknown => {
      let x = absent[i];
      if (x === NOT_YET) {
        x = (fns[i] as Walk)(undefined);
        if (typeof x === 'object' && x !== null) return x;
        absent[i] = x;
      }
      return x;
    };
    f = (raw) => {
      // zod's "object": not an array, a date, a map, a set; a class's instance (TomlFloat) is left to zod
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
      const proto = Object.getPrototypeOf(raw);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const data = raw as Record<string, unknown>;
      for (const k in data) if (!known.has(k)) return undefined;
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const v = data[k];
        const x = v === undefined ? walkAbsent(i) : (fns[i] as Walk)(v);
        if (x === GIVE_UP) return undefined;
        // as zod's object: a key left out and parsed to nothing stays out
        if (k !== '__proto__' && (x !== undefined || k in data)) out[k] = x;
      }
      return out;
    };
    objects.set(shape, f);
  }
  return f(raw);
}
