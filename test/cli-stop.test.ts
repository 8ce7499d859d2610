import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, embedHarness, readJsonl } from './support/cli-helpers.js';
import { startCli } from './support/cli-child.js';
import { useFakeApi } from './support/fake-api.js';

// A run that stops on an error about the job as a whole (no server, a refused request) says
// what to change, sends no more than it must, and leaves nothing that blocks the rerun.

const { state, dir, out, input } = embedHarness();
const api = useFakeApi();
let cli: string;
beforeAll(async () => {
  cli = await buildCli();
});
afterAll(() => rmSync(dirname(cli), { recursive: true, force: true }));

const lines = (count: number) => Array.from({ length: count }, (_, i) => `line ${i + 1}\n`).join('');
const embed = (args: string[], url: string) => startCli(cli, ['embed', ...args, '--base-url', url]).exit;
/** The files of the output `o` that exist: the output itself, its ids, meta or failures files. */
const filesOf = (o: string) => readdirSync(dir.dir).filter((name) => dir.path(name).startsWith(o));

describe('a job stopped on the whole', { timeout: 60_000 }, () => {
  test("an unreachable server stops the job after the first request's retries: no failure per input, no output left; the rerun needs no --overwrite", async () => {
    // Every connection is dropped before an answer, as a server that is not there does.
    api.use(http.post('*/embeddings', () => HttpResponse.error()));
    const file = input('unreachable.txt', lines(5000));
    const o = out();
    const args = [file, '--out', o, '--batch-size', '100', '--concurrency', '2', '--max-retries', '1'];
    const stopped = await embed(args, api.url);
    expect(stopped.code).toBe(1);
    // Two requests in flight, each tried twice; the 50 requests of the job are never all sent.
    expect(api.requests.length).toBeLessThanOrEqual(4);
    expect(stopped.stderr).toMatch(
      /embedrail: stopped: cannot reach the server: .*; 5000 inputs are not done; check --base-url and that the server is running, then rerun\n$/,
    );
    expect(stopped.stderr).not.toMatch(/--resume/);
    expect(filesOf(o)).toEqual([]);
    const rerun = await embed(args, state.url);
    expect(rerun.code).toBe(0);
    expect(readJsonl(o)).toHaveLength(5000);
  });

  test.each([
    [
      'names no field (bisected, then stopped)',
      {
        message: 'This model does not support specifying dimensions.',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    ],
    [
      'names the dimensions field',
      {
        message: "Invalid 'dimensions': integer above maximum value.",
        type: 'invalid_request_error',
        param: 'dimensions',
        code: 'integer_above_max_value',
      },
    ],
  ])('a 400 about the request that %s says to fix the flag, not to --resume', async (_name, error) => {
    api.use(http.post('*/embeddings', () => HttpResponse.json({ error }, { status: 400 })));
    const file = input(`refused-${String(error.param)}.txt`, lines(20));
    const o = out();
    const stopped = await embed([file, '--out', o, '--dimensions', '5000', '--batch-size', '5'], api.url);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('embedrail: stopped: the server refused the request itself: ');
    expect(stopped.stderr).toContain(error.message);
    expect(stopped.stderr).toMatch(
      /20 inputs are not done; fix the flag it names \(--dimensions, --model\) and rerun\n$/,
    );
    expect(stopped.stderr).not.toMatch(/--resume/);
    // Nothing was embedded: no empty output is left to be "already there" for the corrected run.
    expect(existsSync(o)).toBe(false);
    expect((await embed([file, '--out', o, '--dimensions', '8'], state.url)).code).toBe(0);
  });
});
