/**
 * The import rules `npm run check:deps` applies (.dependency-cruiser.cjs): src/ holds to them,
 * and they catch what they are for, a value cycle or a reach past the public entries, while a
 * type-only import back up passes.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { tempDir } from './support/cli-helpers.js';

const root = process.cwd();
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = join(root, '.dependency-cruiser.cjs');

/**
 * Runs the check as `npm run check:deps` does, over `src` in `cwd`: its exit code, and each
 * violation as `rule: from` (a cycle is named by the module it was found from).
 */
function cruise(cwd: string): Promise<{ code: number; violations: string[]; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [depcruise, 'src', '--config', config],
      { cwd, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (error as { code?: unknown }).code : 0;
        if (typeof code !== 'number') return reject(error);
        const violations = [...stdout.matchAll(/error ([\w-]+): (\S+) →/g)].map(([, rule, from]) => `${rule}: ${from}`);
        resolve({ code, violations: violations.sort(), output: stdout + stderr });
      },
    );
  });
}

// Parsing every module with the TypeScript compiler takes seconds on a busy machine.
const SLOW = { timeout: 120_000 };

const temps: { remove: () => void }[] = [];
afterEach(() => {
  for (const temp of temps.splice(0)) temp.remove();
});

test('src/ has no value import cycle, and the CLI and the server use the public entries', SLOW, async () => {
  const result = await cruise(root);
  expect(result.output).toContain('no dependency violations found');
  expect(result.code).toBe(0);
});

test(
  'the check fails on a value cycle and on a reach past the public entries, not on a type-only import back up',
  SLOW,
  async () => {
    const temp = tempDir();
    temps.push(temp);
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', verbatimModuleSyntax: true },
      }),
      // A value cycle.
      'src/low.ts': "import { high } from './high.js';\nexport const low = () => high;\n",
      'src/high.ts': "import { low } from './low.js';\nexport const high = () => low;\n",
      // A type-only import back up: allowed.
      'src/lower.ts': "import type { Upper } from './upper.js';\nexport const lower = (u: Upper) => u;\n",
      'src/upper.ts': "import { lower } from './lower.js';\nexport type Upper = { lower: typeof lower };\n",
      'src/index.ts': "export { lower } from './lower.js';\n",
      'src/server/index.ts': "export { lower } from '../index.js';\n",
      'src/server/internal.ts': "export { lower } from '../lower.js';\n",
      'src/cli/main.ts':
        "import { lower } from '../index.js';\nimport { lower as l } from '../server/index.js';\nexport const x = [lower, l];\n",
      'src/cli/internal.ts': "export { lower } from '../lower.js';\n",
      'src/helper.ts': "export { fake } from '../test/fake.js';\n",
      'test/fake.ts': 'export const fake = 1;\n',
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(temp.path(name)), { recursive: true });
      writeFileSync(temp.path(name), text);
    }

    const result = await cruise(temp.dir);

    expect(result.violations).toEqual([
      'cli-through-public-entries: src/cli/internal.ts',
      'no-test-code-in-src: src/helper.ts',
      'no-value-cycle: src/high.ts',
      'server-through-public-entry: src/server/internal.ts',
    ]);
    expect(result.code).toBe(4);
  },
);
