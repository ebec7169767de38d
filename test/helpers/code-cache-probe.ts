/**
 * A preload (NODE_OPTIONS=--require=FILE) that says on stderr what V8 made of the code cache given
 * to each vm.Script, one line each: "code cache of island.cjs: accepted" (or rejected, or none).
 * It wraps the entry's own Script, so what it observes is exactly what the entry compiles.
 */
export const PROBE_JS = `const vm = require('node:vm');
const { Script } = vm;
vm.Script = class extends Script {
  constructor(source, options) {
    super(source, options);
    const state = options?.cachedData === undefined ? 'none' : this.cachedDataRejected ? 'rejected' : 'accepted';
    process.stderr.write(\`code cache of \${require('node:path').basename(options?.filename ?? '?')}: \${state}\\n\`);
  }
};
`;

/** What the probe said of the first Script in a run's stderr: "island.cjs: accepted" */
export const cacheUseOf = (stderr: string): string | undefined => /^code cache of (.*)$/m.exec(stderr)?.[1];
