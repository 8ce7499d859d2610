/**
 * The repository stands alone: a clone with nothing beside it has every file its tests and
 * scripts read, and the Prism contract test fails, rather than skips, whenever it was asked
 * for and cannot run.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tempDir } from './support/cli-helpers.js';

const root = process.cwd();

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) =>
    name === 'node_modules' || name === 'fixtures' ? [] : filesUnder(join(path, name)),
  );
}

function exec(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  // Nothing of this run's vitest may leak into a nested one.
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')));
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, env: { ...base, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A loopback port that nothing listens on (bound, read, released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

test('no source, test, script, example, benchmark or CI file reads anything beside the repository', () => {
  const files = ['src', 'test', 'scripts', 'examples', 'bench', '.ci', '.github', 'vitest.config.ts', 'package.json']
    .flatMap((path) => filesUnder(join(root, path)))
    .filter((path) => !/\.(npy|png)$/.test(path));
  expect(files.length).toBeGreaterThan(50);
  const outside = files.filter((path) => /\.\.\/(\.\.\/)*shared\//.test(readFileSync(path, 'utf8')));
  expect(outside).toEqual([]);
});

test('the vendored fixtures are the upstream files byte for byte, as test/fixtures/README.md records', () => {
  const dir = join(root, 'test', 'fixtures');
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n');
  expect(sums).toHaveLength(3);
  for (const line of sums) {
    const [expected, name] = line.split(/\s+/) as [string, string];
    const actual = createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex');
    expect(actual, name).toBe(expected);
    expect(readme, name).toContain(`\`${name}\``);
    expect(readme, name).toContain(expected);
  }
});

describe('the contract test fails instead of skipping when it was asked for', () => {
  const vitest = (env: Record<string, string | undefined>) =>
    exec(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/contract.test.ts'], {
      NO_COLOR: '1',
      ...env,
    });

  test.each([
    [
      'PRISM_URL is empty, as a failed `PRISM_URL=$(scripts/prism.sh start ...)` leaves it',
      () => ({ PRISM_URL: '', CI: '' }),
      /PRISM_URL is set but empty/,
    ],
    [
      'PRISM_URL names a port nothing answers on',
      async () => ({ PRISM_URL: `http://127.0.0.1:${await closedPort()}`, CI: '' }),
      /Prism does not answer at PRISM_URL=http:\/\/127\.0\.0\.1:\d+/,
    ],
    ['CI is set and PRISM_URL is not', () => ({ PRISM_URL: undefined, CI: 'true' }), /PRISM_URL is not set, and CI is/],
  ])('%s', async (_case, env, message) => {
    const result = await vitest(await env());
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(message);
    expect(result.stdout).toMatch(/Test Files\s+1 failed/);
  });

  test('it skips, saying how to run it, only without PRISM_URL outside CI', async () => {
    const result = await vitest({ PRISM_URL: undefined, CI: undefined });
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).toContain('test/contract.test.ts skipped: PRISM_URL is not set');
  });
});

describe('scripts/prism.sh start exits non-zero, saying why, when Prism does not come up', () => {
  /** A scratch folder whose `prism` is a stand-in script, so no install or network is needed. */
  function fakePrism(script: string): { dir: string; remove: () => void } {
    const scratch = tempDir();
    const bin = join(scratch.dir, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'prism'), `#!/bin/sh\n${script}\n`);
    chmodSync(join(bin, 'prism'), 0o755);
    return { dir: scratch.dir, remove: scratch.remove };
  }

  test('Prism exits at once: exit 1, its log shown, no URL printed', async () => {
    const fake = fakePrism('echo "cannot load the spec" >&2; exit 3');
    try {
      const result = await exec('bash', ['scripts/prism.sh', 'start', fake.dir], {
        PRISM_PORT: String(await closedPort()),
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('prism: exited before answering; its log:');
      expect(result.stderr).toContain('cannot load the spec');
    } finally {
      fake.remove();
    }
  });

  test('Prism never answers: exit 1 after PRISM_WAIT_SECONDS, and the process is stopped', async () => {
    const fake = fakePrism(`echo $$ > "${'$'}(dirname "$0")/../../alive"; exec sleep 60`);
    try {
      const result = await exec('bash', ['scripts/prism.sh', 'start', fake.dir], {
        PRISM_PORT: String(await closedPort()),
        PRISM_WAIT_SECONDS: '1',
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/prism: no answer on http:\/\/127\.0\.0\.1:\d+ after 1 s/);
      const pid = Number(readFileSync(join(fake.dir, 'alive'), 'utf8'));
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      fake.remove();
    }
  });
});
