#!/usr/bin/env node
/**
 * Prints the JSON Schema of /etc/island.toml (the TOML read as JSON), shipped as
 * /usr/share/island/island.toml.schema.json for editors (e.g. taplo, Even Better TOML).
 *
 * Generated from the validator's own zod shapes (config/schema.js as tsc compiled it) by
 * zod-to-json-schema, which reads zod 3 schemas (zod 3.25's `zod/v4` toJSONSchema does not).
 * It gives the keys, which are required, types, integer ranges and defaults. What the
 * validator checks in code (superRefine/transform: link names, addresses, CIDRs, source
 * ports, durations, sysctl names) comes out as "any" there; REFINE below adds it in JSON
 * Schema terms. Each tunnel or link kind of the registry (src/kinds/) is one variant, its `kind` a
 * const described by the kind's own line. test/unit/package-schema.test.ts
 * checks that every key of every shape is in the schema and nothing else, so a new key
 * in schema.ts cannot be forgotten here.
 *
 * usage: node scripts/package-schema.mjs [COMPILED_DIR (default dist/)] > island.toml.schema.json
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = process.argv[2] ?? join(repo, 'dist');
const s = await import(pathToFileURL(join(compiled, 'config', 'schema.js')).href);
const reg = await import(pathToFileURL(join(compiled, 'kinds', 'index.js')).href);
const isl = await import(pathToFileURL(join(compiled, 'config', 'island.js')).href);
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

const linkName = {
  type: 'string',
  pattern: '^(?!\\.{1,2}$)[A-Za-z0-9_.-]{1,15}$',
  description: 'link name: 1-15 characters of letters, digits, "_", "." and "-"',
};
const ipv4 = { type: 'string', format: 'ipv4' };
const anyIp = { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] };
const cidrList = {
  type: 'array',
  items: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$', description: 'address with prefix length' },
};
const port = { type: 'integer', minimum: 1, maximum: 65534 };
const duration = {
  anyOf: [
    { type: 'string', pattern: '^\\s*[0-9]+(ms|s|m|h)\\s*$' },
    { type: 'integer', minimum: 0 },
  ],
  description: 'a duration like "500ms", "30s", "5m", "1h", or an integer number of seconds',
};

/** What the validator checks in code, per table and key, in JSON Schema terms. */
const REFINE = {
  tunnel: {
    name: linkName,
    dev: { ...linkName, description: 'underlay device to bind the tunnel to' },
    local: { ...anyIp, description: 'underlay source address of this host' },
    remote: { ...anyIp, description: "the peer's reachable underlay address (behind a NAT: its public one)" },
    addresses: cidrList,
    source_port: {
      description: 'pin the UDP source port: one port, or an inclusive [low, high] range (the kernel excludes 65535)',
      anyOf: [port, { type: 'array', items: port, minItems: 2, maxItems: 2 }],
    },
  },
  bridge: { name: linkName, addresses: cidrList, ports: { type: 'array', items: linkName } },
  link: {
    name: linkName,
    parent: { ...linkName, description: "the host's device it sits on (the pods' parent)" },
    addresses: cidrList,
  },
  route: {
    to: {
      type: 'string',
      pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$',
      description: 'destination network (host bits clear)',
    },
    via: { ...anyIp, description: 'gateway' },
    dev: linkName,
  },
  daemon: { resync: duration, debounce: duration, health_interval: duration },
  island: { pods: cidrList, services: cidrList },
  site: {
    subnet: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$', description: "the site's LAN" },
    gateway: { type: 'string', description: 'the [[host]] that gateways the site' },
  },
  host: {
    address: { ...anyIp, description: 'its address on its LAN' },
    public: { ...anyIp, description: 'the address others reach it at (its NAT outside)' },
  },
  forward: {
    accept: { type: 'array', items: linkName },
    backend: { enum: ['auto', 'nft', 'legacy'] },
    poll: duration,
  },
  forwardRule: {
    in: linkName,
    out: linkName,
    source: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$' },
    destination: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$' },
  },
};

function table(shape, ...refine) {
  const out = zodToJsonSchema(z.object(shape).strict(), { $refStrategy: 'none', effectStrategy: 'input' });
  delete out.$schema;
  for (const [key, prop] of Object.entries(out.properties)) {
    for (const r of refine) {
      if (r[key]) {
        // the generated type stays unless the refinement brings its own
        if (r[key].anyOf || r[key].const) delete prop.type;
        Object.assign(prop, r[key]);
      }
    }
  }
  return out;
}

/** What a kind says of itself: its name (the entry's `kind`), its underlay families. */
function kindRefine(k) {
  const ends = k.families?.length === 1 && k.families[0] === 4 ? { local: ipv4, remote: ipv4 } : {};
  return { kind: { const: k.kind, description: k.about }, ...ends };
}

/** A [[tunnel]] of a one-file island: `ends` instead of the keys island derives per host. */
function islandTunnel(shape, ...refine) {
  const own = Object.fromEntries(Object.entries(shape).filter(([k]) => !isl.DERIVED.includes(k)));
  const out = table(own, ...refine);
  out.properties.ends = {
    type: 'object',
    description: 'the two [[site]]s it joins, each with its gateway\'s inner address, e.g. { sopnode = "10.3.1.2/24" }',
    minProperties: 2,
    maxProperties: 2,
    additionalProperties: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$' },
  };
  out.required = [...(out.required ?? []), 'ends'];
  return out;
}

const tunnelKinds = reg.kindsOf('tunnel');
const linkKinds = reg.kindsOf('link');

const schema = {
  $schema: 'https://json-schema.org/draft/2019-09/schema',
  $id: 'file:///usr/share/island/island.toml.schema.json',
  title: `/etc/island.toml (island ${version})`,
  description:
    'What island keeps in the kernel. `island check` is the authority: it also checks what a schema cannot ' +
    '(duplicate names, overlapping addresses, gateways not on a declared link, ...). See island.toml(5).',
  type: 'object',
  additionalProperties: false,
  properties: {
    tunnel: {
      type: 'array',
      items: {
        // each kind of the registry, then each again as a one-file island's [[tunnel]]
        oneOf: [
          ...tunnelKinds.map((k) => table(reg.shapeOf(k), REFINE.tunnel, kindRefine(k))),
          ...tunnelKinds.map((k) => islandTunnel(reg.shapeOf(k), REFINE.tunnel, kindRefine(k))),
        ],
      },
    },
    bridge: { type: 'array', items: table(s.bridgeShape, REFINE.bridge) },
    // each [[link]] kind of the registry
    link: { type: 'array', items: { oneOf: linkKinds.map((k) => table(reg.shapeOf(k), REFINE.link, kindRefine(k))) } },
    route: {
      type: 'array',
      items: { ...table(s.routeShape, REFINE.route), anyOf: [{ required: ['via'] }, { required: ['dev'] }] },
    },
    sysctl: {
      type: 'object',
      description: 'networking sysctls, by their quoted dotted name',
      propertyNames: { pattern: '^net\\.[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*$' },
      additionalProperties: { anyOf: [{ type: 'integer' }, { type: 'string', minLength: 1 }] },
    },
    daemon: table(s.daemonShape, REFINE.daemon),
    hosts: {
      type: 'object',
      description: 'names written into /etc/hosts, each with its address',
      additionalProperties: anyIp,
    },
    // a one-file island (island.toml(5), ONE FILE FOR THE WHOLE ISLAND)
    island: table(isl.islandShape, REFINE.island),
    site: { type: 'array', items: table(isl.siteShape, REFINE.site) },
    host: { type: 'array', items: table(isl.hostShape, REFINE.host) },
  },
};
if (s.forwardShape) {
  const forward = table(s.forwardShape, REFINE.forward);
  forward.properties.rule = { type: 'array', items: table(s.forwardRuleShape, REFINE.forwardRule) };
  schema.properties.forward = forward;
}

// a table added to schema.ts later still gets its zod-derived schema; the unit test flags it
for (const key of Object.keys(s.topShape).filter((k) => !(k in schema.properties))) {
  console.error(`package-schema: [${key}] has no refined schema here yet; using the generic one`);
  schema.properties[key] = zodToJsonSchema(s.topShape[key], { $refStrategy: 'none', effectStrategy: 'input' });
  delete schema.properties[key].$schema;
}
process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
