import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { batchLineFailure, EmbeddingsClient } from '../src/index.js';
import { inputLines, readFile, settle, submit } from './support/batch-server.js';
import { capture, until } from './support/cli-helpers.js';

/** Runs `embedrail serve` with `flags`, calls `use` with a client of it, then stops it. */
async function serving(flags: string[], use: (client: EmbeddingsClient) => Promise<void>): Promise<void> {
  const stdout = capture();
  const stderr = capture();
  const controller = new AbortController();
  const running = runCli(['serve', '--port', '0', ...flags], {
    stdin: Readable.from([]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    signal: controller.signal,
  });
  await until(() => stdout.text.includes('/v1') || stderr.text !== '', 2000);
  const url = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(stdout.text)?.[0];
  expect(stderr.text).toBe('');
  const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0 });
  try {
    await use(client);
  } finally {
    await client.close();
    controller.abort();
    expect(await running).toBe(0);
  }
}

describe('embedrail serve batch flags', () => {
  test('--batch-fail-rate 1 --batch-processing-ms 0: every line lands in the error file as a 429 or a 500', async () => {
    await serving(['--batch-fail-rate', '1', '--batch-processing-ms', '0'], async (client) => {
      const { batch } = await settle(client, await submit(client, inputLines(12)));
      expect(batch.request_counts).toEqual({ total: 12, completed: 0, failed: 12 });
      const errors = await readFile(client, batch.error_file_id);
      expect(errors).toHaveLength(12);
      for (const line of errors) expect([429, 500]).toContain(batchLineFailure(line).status);
    });
  });

  test('--batch-queue-cap fails a batch past it with token_limit_exceeded', async () => {
    await serving(['--batch-queue-cap', '1', '--batch-processing-ms', '0'], async (client) => {
      const { batch } = await settle(client, await submit(client, inputLines(2)));
      expect(batch.status).toBe('failed');
      expect(batch.errors?.data?.[0]?.code).toBe('token_limit_exceeded');
    });
  });

  test('--batch-missing-rate 1 and --batch-expire-rate 1: an expired batch, half its lines batch_expired, the rest in neither file', async () => {
    await serving(
      ['--batch-missing-rate', '1', '--batch-expire-rate', '1', '--batch-processing-ms', '0'],
      async (client) => {
        const { batch } = await settle(client, await submit(client, inputLines(4)));
        expect(batch.status).toBe('expired');
        expect(batch.output_file_id).toBeNull();
        const errors = await readFile(client, batch.error_file_id);
        expect(errors.map((line) => batchLineFailure(line).code)).toEqual(['batch_expired', 'batch_expired']);
      },
    );
  });

  test.each([
    [['--batch-fail-rate', '2'], "option '--batch-fail-rate <share>' argument '2' is invalid"],
    [['--batch-queue-cap', '0'], "option '--batch-queue-cap <tokens>' argument '0' is invalid"],
    [['--max-file-bytes', 'x'], "option '--max-file-bytes <n>' argument 'x' is invalid"],
  ])('%j is a usage error naming the flag', async (flags, message) => {
    const stdout = capture();
    const stderr = capture();
    const code = await runCli(['serve', '--port', '0', ...flags], {
      stdin: Readable.from([]),
      stdout: stdout.stream,
      stderr: stderr.stream,
    });
    expect(code).toBe(2);
    expect(stderr.text).toContain(message);
  });
});
