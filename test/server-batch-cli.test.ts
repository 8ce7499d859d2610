import { describe, expect, test } from 'vitest';
import { batchLineFailure, EmbeddingsClient } from '../src/index.js';
import { inputLines, readFile, settle, submit } from './support/batch-server.js';
import { run, serving } from './support/cli-helpers.js';

/** Runs `embedrail serve` with `flags` and calls `use` with a client of it; it writes nothing on stderr. */
async function servingClient(flags: string[], use: (client: EmbeddingsClient) => Promise<void>): Promise<void> {
  const { stderr } = await serving(flags, async (url) => {
    const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0 });
    try {
      await use(client);
    } finally {
      await client.close();
    }
  });
  expect(stderr).toBe('');
}

describe('embedrail serve batch flags', () => {
  test('--batch-fail-rate 1 --batch-processing-ms 0: every line lands in the error file as a 429 or a 500', async () => {
    await servingClient(['--batch-fail-rate', '1', '--batch-processing-ms', '0'], async (client) => {
      const { batch } = await settle(client, await submit(client, inputLines(12)));
      expect(batch.request_counts).toEqual({ total: 12, completed: 0, failed: 12 });
      const errors = await readFile(client, batch.error_file_id);
      expect(errors).toHaveLength(12);
      for (const line of errors) expect([429, 500]).toContain(batchLineFailure(line).status);
    });
  });

  test('--batch-queue-cap fails a batch past it with token_limit_exceeded', async () => {
    await servingClient(['--batch-queue-cap', '1', '--batch-processing-ms', '0'], async (client) => {
      const { batch } = await settle(client, await submit(client, inputLines(2)));
      expect(batch.status).toBe('failed');
      expect(batch.errors?.data?.[0]?.code).toBe('token_limit_exceeded');
    });
  });

  test('--batch-missing-rate 1 and --batch-expire-rate 1: an expired batch, half its lines batch_expired, the rest in neither file', async () => {
    await servingClient(
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
    const result = await run(['serve', '--port', '0', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
