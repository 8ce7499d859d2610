/** examples/demo.mjs as a user runs it: a child process, here with a CLI built for the test. */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type LocalServer } from '../src/server/index.js';
import { buildCli } from './support/cli-helpers.js';

let server: LocalServer;
let url: string;
let cli: string;
beforeAll(async () => {
  // Every request fails (500, 502, 503 or 429), so every input ends in the failures file.
  server = createServer({ failRate: 1 });
  ({ url } = await server.listen(0));
  cli = await buildCli();
}, 120_000);
afterAll(() => server.close());

test('`demo --openai` that fails keeps the failures file it points the user at', async () => {
  const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['examples/demo.mjs', '--openai'],
      {
        env: { ...process.env, OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: url, EMBEDRAIL_DEMO_CLI: cli },
        timeout: 120_000,
      },
      (error, _stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
  expect(result.code).toBe(1);
  const named = /the failed inputs are in (\S+\.failures\.jsonl)/.exec(result.stderr)?.[1];
  expect(named, result.stderr).toBeDefined();
  try {
    expect(existsSync(named!)).toBe(true);
    expect(readFileSync(named!, 'utf8').trim().split('\n')).toHaveLength(400);
  } finally {
    if (named) rmSync(dirname(named), { recursive: true, force: true });
  }
}, 120_000);
