/**
 * The JSON Schema shipped in the package (scripts/package-schema.mjs) covers every key the
 * validator knows, table by table, and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { DERIVED } from '../../src/config/island.js';
import * as s from '../../src/config/schema.js';
import { kindOf, kindsOf, shapeOf } from '../../src/kinds/index.js';
import { REPO } from '../helpers/island.js';

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document
const schema: any = JSON.parse(
  execFileSync(process.execPath, [join(REPO, 'scripts', 'package-schema.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  }),
);
const keys = (o: object) => Object.keys(o).sort();

t.same(keys(schema.properties), keys(s.topShape), 'every top-level table, and no other');
// per kind of the registry: its per-host variant, then its one-file island variant
const variants = schema.properties.tunnel.items.oneOf;
const tunnelKinds = kindsOf('tunnel');
t.equal(variants.length, 2 * tunnelKinds.length, 'two variants per tunnel kind');
// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document
const variant = (kind: string, island = false): any =>
  variants.filter((v: { properties: { kind: { const: string } } }) => v.properties.kind.const === kind)[island ? 1 : 0];
for (const k of tunnelKinds) {
  t.same(keys(variant(k.kind).properties), keys(shapeOf(k)), `${k.kind} tunnel keys`);
  t.same(variant(k.kind).properties.kind, { const: k.kind, description: k.about }, `kind = "${k.kind}", described`);
}
const ipip = variant('ipip');
const vxlan = variant('vxlan');
t.same(keys(schema.properties.bridge.items.properties), keys(s.bridgeShape), 'bridge keys');
t.same(keys(schema.properties.route.items.properties), keys(s.routeShape), 'route keys');
for (const k of kindsOf('link')) {
  // biome-ignore lint/suspicious/noExplicitAny: a JSON Schema document
  const v = schema.properties.link.items.oneOf.find((x: any) => x.properties.kind.const === k.kind);
  t.same(keys(v.properties), keys(shapeOf(k)), `${k.kind} link keys`);
  t.same(v.required.sort(), ['kind', 'name', 'parent'], `required ${k.kind} keys`);
}
t.same(keys(schema.properties.daemon.properties), keys(s.daemonShape), 'daemon keys');
t.same(vxlan.required.sort(), ['kind', 'local', 'name', 'remote', 'vni'], 'required vxlan keys');
t.equal(vxlan.additionalProperties, false, 'unknown keys are errors, as in island check');

// a key the validator checks in code comes out of zod-to-json-schema as {} ("anything"); the
// generator refines the ones it knows. A key added since is still in the schema (checked
// above) but only as "anything": named here so it gets refined, not failed, because the
// schema is an editor's aid and `island check` stays the authority.
const loose: string[] = [];
const walk = (o: unknown, path: string) => {
  if (!o || typeof o !== 'object') return;
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 && k !== 'not')
      loose.push(`${path}.${k}`);
    walk(v, `${path}.${k}`);
  }
};
walk(schema.properties, '');
// what the validator checks in code, refined by the generator
t.ok(vxlan.properties.source_port.anyOf, 'source_port: a port or [low, high]');
t.ok(schema.properties.daemon.properties.resync.anyOf, 'resync: a duration');
t.equal(ipip.properties.local.format, 'ipv4', 'ipip runs over IPv4 only');
t.ok(schema.properties.sysctl.propertyNames.pattern, 'sysctl names start with net.');
if (loose.length) t.comment(`left as "anything" (refine them in scripts/package-schema.mjs): ${loose.join(', ')}`);

// a one-file island's [[tunnel]] (etc/examples/lab.toml) takes `ends` instead of the derived keys:
// exactly one variant accepts its keys, so an editor does not flag the example
const islandIpip = variant('ipip', true);
const islandVxlan = variant('vxlan', true);
t.same(
  keys(islandVxlan.properties),
  keys(shapeOf(kindOf('vxlan')))
    .filter((k) => !DERIVED.includes(k as never))
    .concat('ends')
    .sort(),
);
t.notOk('local' in islandIpip.properties, 'local is derived in a one-file island');
const labTunnel = ['name', 'kind', 'ends', 'vni', 'port', 'source_port'];
const accepts = (v: { properties: object; required?: string[] }) =>
  labTunnel.every((k) => k in v.properties) && (v.required ?? []).every((k) => labTunnel.includes(k));
t.same(
  variants.filter(accepts),
  [islandVxlan],
  "lab.toml's tunnel keys fit the one-file vxlan variant only (kind's const rules out the others)",
);
