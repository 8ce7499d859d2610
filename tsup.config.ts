import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defineConfig } from 'tsup';

const entry = {
  index: 'src/index.ts',
  server: 'src/server/index.ts',
  redis: 'src/redis/index.ts',
  cli: 'src/cli/main.ts',
};

// src/tokenizer.ts loads cl100k from this file, beside every built module (chunks included), on
// the first count. It holds gpt-tokenizer's cl100k encoding alone: installing gpt-tokenizer
// would bring all its encodings, twice (ESM and CJS), 30 MB where this file is about 1 MB.
const CL100K_BUNDLE = './cl100k.cjs';
const define = { __CL100K_BUNDLE__: JSON.stringify(CL100K_BUNDLE) };

// gpt-tokenizer is MIT-licensed: its notice goes with the code of it that we ship.
const gptTokenizerLicense = readFileSync(
  join(dirname(createRequire(import.meta.url).resolve('gpt-tokenizer/package.json')), 'LICENSE'),
  'utf8',
).trim();

export default defineConfig([
  {
    entry,
    format: ['esm'],
    dts: true,
    // Maps would point into src/, which the package does not ship; a map without its sources
    // only sends debuggers looking for files that are not there.
    sourcemap: false,
    clean: true,
    target: 'node20',
    platform: 'node',
    // The part of zod in use, bundled: the package loads all of its 1 MB (locales, JSON Schema
    // converters), ~60 ms of CPU at import, where this part costs ~16 ms. Needs `import * as z`.
    noExternal: ['zod'],
    define,
  },
  {
    entry: { index: entry.index, server: entry.server, redis: entry.redis },
    format: ['cjs'],
    dts: true,
    sourcemap: false,
    target: 'node20',
    platform: 'node',
    // p-retry and p-limit are ESM-only; bundling them keeps require('embedrail') working
    // on every Node the engines field allows, not only where require() of ESM is enabled. zod
    // as in the ESM build.
    noExternal: ['p-retry', 'p-limit', 'yocto-queue', 'is-network-error', 'zod'],
    // The tokenizer is loaded lazily through createRequire(import.meta.url).
    shims: true,
    define,
  },
  {
    // CommonJS, so that both builds can load it synchronously with require() on first count.
    entry: { cl100k: 'src/cl100k-bundle.ts' },
    format: ['cjs'],
    dts: false,
    sourcemap: false,
    target: 'node20',
    platform: 'node',
    noExternal: ['gpt-tokenizer'],
    banner: {
      js: `/*!\n * gpt-tokenizer (cl100k_base encoding)\n *\n${gptTokenizerLicense.replace(/^/gm, ' * ').replace(/ +$/gm, '')}\n */`,
    },
  },
]);
