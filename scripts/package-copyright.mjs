#!/usr/bin/env node
/**
 * Prints debian/copyright: the template (island's own stanza) followed by one stanza per
 * bundled npm package, read from the package's package.json (SPDX license) and license
 * file (copyright lines), then one License stanza per license with its full text.
 *
 * usage: node scripts/package-copyright.mjs NODE_MODULES COPYRIGHT_TEMPLATE
 * NODE_MODULES is what /usr/lib/island/node_modules will hold, license files still in it
 * (the package build removes them after this has read them: their text is here).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [nodeModules, template] = process.argv.slice(2);
if (!nodeModules || !template) {
  console.error('usage: package-copyright.mjs NODE_MODULES COPYRIGHT_TEMPLATE');
  process.exit(2);
}

/** Every package directory under a node_modules tree, nested ones included. */
function packages(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.name.startsWith('@')) out.push(...packages(p));
    else if (existsSync(join(p, 'package.json'))) out.push(p, ...packages(join(p, 'node_modules')));
  }
  return out;
}

const SPDX_TEXT = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
  'BSD-3-Clause': `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:
 1. Redistributions of source code must retain the above copyright notice,
    this list of conditions and the following disclaimer.
 2. Redistributions in binary form must reproduce the above copyright notice,
    this list of conditions and the following disclaimer in the documentation
    and/or other materials provided with the distribution.
 3. Neither the name of the copyright holder nor the names of its contributors
    may be used to endorse or promote products derived from this software
    without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.`,
  'Apache-2.0': `Licensed under the Apache License, Version 2.0 (the "License"); you may
not use this file except in compliance with the License.

On Debian systems, the full text of the Apache License, Version 2.0 can be
found in the file /usr/share/common-licenses/Apache-2.0.`,
};

/** debian/copyright field continuation: every line indented, empty lines as " ." */
const fold = (text) =>
  text
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd()}`))
    .join('\n');

function copyrightLines(dir, name) {
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  const lines = file
    ? readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^(copyright\b|\(c\)|©)/i.test(l) && !/copyright (notice|owner|holder)/i.test(l))
        .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, '').trim())
        .filter(Boolean)
    : [];
  return lines.length ? lines : [`the ${name} authors (no copyright line in its license file)`];
}

const stanzas = [];
const used = new Set(['MIT']);
for (const dir of packages(nodeModules).sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const license = typeof pkg.license === 'string' ? pkg.license : pkg.license?.type;
  if (!license || !SPDX_TEXT[license]) {
    console.error(`package-copyright: ${pkg.name}@${pkg.version}: license ${JSON.stringify(license)} has no text here`);
    process.exit(1);
  }
  used.add(license);
  const rel = relative(join(nodeModules, '..'), dir);
  stanzas.push(
    `Files: root/usr/lib/island/${rel}/*\nCopyright:${fold(copyrightLines(dir, pkg.name).join('\n'))}\nLicense: ${license}\nComment: ${pkg.name} ${pkg.version}`,
  );
}

let out = readFileSync(template, 'utf8').trimEnd();
out += `\n\n${stanzas.join('\n\n')}`;
for (const l of [...used].sort()) out += `\n\nLicense: ${l}\n${fold(SPDX_TEXT[l])}`;
process.stdout.write(`${out}\n`);
