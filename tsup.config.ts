import { defineConfig } from 'tsup';

const entry = {
  index: 'src/index.ts',
  server: 'src/server/index.ts',
  cli: 'src/cli/main.ts',
};

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
  },
  {
    entry: { index: entry.index, server: entry.server },
    format: ['cjs'],
    dts: true,
    sourcemap: false,
    target: 'node20',
    platform: 'node',
    // p-retry and p-limit are ESM-only; bundling them keeps require('embedrail') working
    // on every Node the engines field allows, not only where require() of ESM is enabled.
    noExternal: ['p-retry', 'p-limit', 'yocto-queue', 'is-network-error'],
    // The tokenizer is loaded lazily through createRequire(import.meta.url).
    shims: true,
  },
]);
