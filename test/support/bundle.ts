/**
 * Bundles one source file into a private folder (not dist/, which other builds may be cleaning
 * at the same moment) for tests that need a real process: signals, SIGKILL, several writers.
 * Inside node_modules so the bundle's external imports resolve to this project's packages.
 */
import { join } from 'node:path';

/** Builds `source` as ESM into node_modules/.cache/embedrail-<purpose>/…; returns `<name>.js`'s path. */
export async function bundleForChild(source: string, name: string, purpose: string): Promise<string> {
  const { build } = await import('tsup');
  const outDir = join(process.cwd(), 'node_modules', '.cache', `embedrail-${purpose}`, `${process.pid}-${Date.now()}`);
  await build({
    entry: { [name]: source },
    format: ['esm'],
    outDir,
    config: false,
    silent: true,
    target: 'node20',
    platform: 'node',
    dts: false,
    sourcemap: false,
  });
  return join(outDir, `${name}.js`);
}
