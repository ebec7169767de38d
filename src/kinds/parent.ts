/**
 * What the kinds over a parent device share (macvlan, ipvlan: a host's shim onto its pods'
 * network): a [[link]] with a `parent` and a `mode`, named as iproute2 and the CNI plugins name
 * the kernel's modes, compared and described the same way.
 */
import { z } from 'zod';
import type { LinkConfig } from '../config/types.js';
import { type LinkKind, oneOf, type Spec } from './kind.js';

/** The mode key of a kind: one of `modes` (the first is the default, as the CNI plugin's). */
function modeKey(kind: string, modes: readonly string[]) {
  return z
    .string()
    .superRefine((s, ctx) => {
      if (!modes.includes(s))
        ctx.addIssue({ code: 'custom', message: `must be ${oneOf(modes)} for ${kind}, not ${JSON.stringify(s)}` });
    })
    .optional()
    .describe(`the pods' ${kind} mode: ${oneOf(modes)} (default "${modes[0]}", as the CNI plugin's)`);
}

/** A mode's name from the kernel's number, or the number itself when island has no name for it. */
export const modeName = (names: Record<string, number>, n: number | undefined): string =>
  Object.entries(names).find(([, v]) => v === n)?.[0] ?? `#${n}`;

/**
 * Everything of a kind over a parent but its netlink attributes: `modes` maps each mode's name to
 * the kernel's number, the default first. The spec is the parent (IFLA_LINK, given to decode())
 * and the mode; neither carries anything for a bridge, nor costs bytes.
 */
export function onParent(
  kind: string,
  modes: Record<string, number>,
): Pick<
  LinkKind,
  'kind' | 'table' | 'keys' | 'options' | 'ethernet' | 'overhead' | 'underlay' | 'spec' | 'graphWords' | 'describe'
> {
  const names = Object.keys(modes);
  const shim = (decl: object) => decl as LinkConfig;
  return {
    kind,
    table: 'link',
    keys: { mode: modeKey(kind, names) },
    options: (value) => ({ mode: value('mode') ?? names[0] }),
    ethernet: false,
    overhead: () => 0,
    underlay: (decl) => shim(decl).parent,
    spec: (decl): Spec => ({ parent: shim(decl).parent, mode: String(shim(decl).mode) }),
    graphWords: (decl) => [`${kind} ${shim(decl).mode} on ${shim(decl).parent}`],
    describe: (s) => [`${s.mode} on ${s.parent}`],
  };
}
