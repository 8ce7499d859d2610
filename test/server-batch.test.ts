import { describe, expect, test } from 'vitest';
import {
  APIError,
  BatchErrorLine,
  batchLineFailure,
  decodeBatchEmbeddings,
  isBatchOutputLine,
  NotFoundError,
  toFile,
  type BatchResultLine,
} from '../src/index.js';
import { inputLine, inputLines, readFile, settle, submit, useBatchServers } from './support/batch-server.js';

const start = useBatchServers();

/** The custom ids of `lines`, sorted, to compare sets. */
const ids = (lines: BatchResultLine[]) => lines.map((line) => line.custom_id).sort();
const expectedIds = (count: number) => Array.from({ length: count }, (_, i) => `r${i}`).sort();

describe('batch lifecycle', () => {
  test('a batch walks validating, in_progress, finalizing, completed, with request_counts and an output file', async () => {
    // Each status lasts hundreds of ms while the test polls every 5 ms, so none is missed.
    const { client } = await start({ batchProcessingMs: 3000 });
    const created = await submit(client, inputLines(5), { job: 'j1', shard: '0' });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      metadata: { job: 'j1', shard: '0' },
      output_file_id: null,
      error_file_id: null,
    });
    const { batch, seen } = await settle(client, created);
    expect(seen).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);
    expect(batch.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    expect(batch.error_file_id).toBeNull();
    for (const field of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) {
      expect(batch[field]).toBeGreaterThanOrEqual(batch.created_at);
    }
    const output = await readFile(client, batch.output_file_id);
    expect(ids(output)).toEqual(expectedIds(5));
    expect((await client.files.retrieve(batch.output_file_id!)).purpose).toBe('batch_output');
  });

  test("each line's vectors are the ones /v1/embeddings answers for the same body", async () => {
    const { client } = await start({ dimensions: 32 });
    const lines = [
      inputLine('one', 'red apples'),
      inputLine('many', ['green apples', 'pears'], { dimensions: 8 }),
      inputLine('b64', 'plums', { encoding_format: 'base64' }),
    ];
    const { batch } = await settle(client, await submit(client, lines));
    const output = await readFile(client, batch.output_file_id);
    const byId = new Map(output.map((line) => [line.custom_id, line]));
    const cases = [
      { id: 'one', params: { model: 'm', input: 'red apples' } },
      { id: 'many', params: { model: 'm', input: ['green apples', 'pears'], dimensions: 8 } },
      { id: 'b64', params: { model: 'm', input: 'plums', encoding_format: 'base64' as const } },
    ];
    for (const { id, params } of cases) {
      const line = byId.get(id)!;
      if (!isBatchOutputLine(line)) throw new Error(`${id} failed`);
      // As float32 both ways: the float text of a line and the base64 of /v1/embeddings carry the same float32 values.
      const decoded = decodeBatchEmbeddings(line, params, { normalize: false, vectorType: 'float32' });
      const direct = await client.embeddings.create(params, { normalize: false, vectorType: 'float32' });
      expect(decoded.data).toEqual(direct.data);
      expect(decoded.usage).toEqual(direct.usage);
    }
  });

  test('a body /v1/embeddings would refuse is answered 400 in the error file, the batch still completes', async () => {
    const { client } = await start();
    const lines = [inputLine('good', 'fine'), inputLine('empty', ''), inputLine('bad-dims', 'x', { dimensions: 0 })];
    const { batch } = await settle(client, await submit(client, lines));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    const errors = await readFile(client, batch.error_file_id);
    expect(ids(errors)).toEqual(['bad-dims', 'empty']);
    for (const line of errors) {
      // The shape OpenAI writes for an HTTP error: error null, the status inside response.
      expect(line.error).toBeNull();
      expect(BatchErrorLine.safeParse(line).success).toBe(true);
      expect(batchLineFailure(line)).toMatchObject({ status: 400, type: 'invalid_request_error' });
    }
  });

  test('cancel answers cancelling, and the batch ends cancelled with what it had done', async () => {
    const { client } = await start({ batchProcessingMs: 2000 });
    const created = await submit(client, inputLines(3));
    const cancelling = await client.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toBeGreaterThanOrEqual(created.created_at);
    const { batch, seen } = await settle(client, cancelling);
    expect(seen).toEqual(['cancelling', 'cancelled']);
    expect(batch.cancelled_at).not.toBeNull();
    // Cancelled while validating: nothing ran, so there is no output file.
    expect(batch.output_file_id).toBeNull();
    const again = await client.batches.cancel(created.id).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(APIError);
    expect((again as APIError).status).toBe(409);
  });

  test('an unknown batch or file is a 404, answered as OpenAI answers it', async () => {
    const { client } = await start();
    await expect(client.batches.retrieve('batch_nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.files.retrieve('file-nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/embeddings', completion_window: '24h' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('batch validation', () => {
  test.each([
    ['a line that is not JSON', ['{"custom_id":'], 'invalid_json_line', 1],
    ['a custom_id used twice', [inputLine('a', 'x'), inputLine('a', 'y')], 'duplicate_custom_id', 2],
    [
      'a line for another endpoint',
      [JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: {} })],
      'mismatched_endpoint',
      1,
    ],
  ])('%s fails the batch with its code and line number', async (_, lines, code, line) => {
    const { client } = await start();
    const { batch } = await settle(client, await submit(client, lines));
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]).toMatchObject({ code, line });
    expect(batch.output_file_id).toBeNull();
  });

  test.each([
    ['requests (lines)', { batchMaxRequests: 3 }, inputLines(4), 'request_limit_exceeded'],
    [
      'embedding inputs across lines',
      { batchMaxInputs: 3 },
      [inputLine('a', ['x', 'y']), inputLine('b', ['z', 'w'])],
      'input_limit_exceeded',
    ],
    ['input file bytes', { batchMaxInputBytes: 100 }, inputLines(3), 'file_too_large'],
  ])('more %s than the limit fails the batch', async (_, options, lines, code) => {
    const { client } = await start(options);
    const { batch } = await settle(client, await submit(client, lines));
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]?.code).toBe(code);
  });

  test('exactly the limits pass: 3 lines, 3 inputs', async () => {
    const { client } = await start({ batchMaxRequests: 3, batchMaxInputs: 3 });
    const { batch } = await settle(client, await submit(client, inputLines(3)));
    expect(batch.status).toBe('completed');
  });

  test('a batch that would queue more tokens than batchQueueCap fails with token_limit_exceeded', async () => {
    // The first batch stays unfinished long enough for the second to meet its queued tokens.
    const { client } = await start({ batchProcessingMs: 2000, batchQueueCap: 10 });
    const first = await submit(client, [inputLine('a', 'one two three four five six')]);
    const second = await submit(client, [inputLine('b', 'seven eight nine ten eleven')]);
    const [a, b] = await Promise.all([settle(client, first), settle(client, second)]);
    expect(a.batch.status).toBe('completed');
    expect(b.batch.status).toBe('failed');
    expect(b.batch.errors?.data?.[0]?.code).toBe('token_limit_exceeded');
    // Once the first has finished, the queue is empty again.
    const third = await settle(client, await submit(client, [inputLine('c', 'seven eight nine ten eleven')]));
    expect(third.batch.status).toBe('completed');
  });
});

describe('batch faults', () => {
  test('batchShuffle writes the output in another order, each line once', async () => {
    const { client } = await start({ batchShuffle: true, seed: 5 });
    const { batch } = await settle(client, await submit(client, inputLines(40)));
    const output = await readFile(client, batch.output_file_id);
    const order = output.map((line) => line.custom_id);
    expect(order).not.toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
    expect(ids(output)).toEqual(expectedIds(40));
  });

  test('without batchShuffle the output keeps the input order', async () => {
    const { client } = await start();
    const { batch } = await settle(client, await submit(client, inputLines(40)));
    const output = await readFile(client, batch.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
  });

  test('batchFailRate 1 writes every line to the error file as a 429 or a 500, error null and the status in response', async () => {
    const { client } = await start({ batchFailRate: 1, seed: 2 });
    const { batch } = await settle(client, await submit(client, inputLines(30)));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 30, completed: 0, failed: 30 });
    expect(batch.output_file_id).toBeNull();
    const errors = await readFile(client, batch.error_file_id);
    expect(ids(errors)).toEqual(expectedIds(30));
    const statuses = new Set(errors.map((line) => batchLineFailure(line).status));
    expect([...statuses].sort()).toEqual([429, 500]);
    for (const line of errors) expect(line.error).toBeNull();
  });

  test('batchRejectRate 1 answers every line 400', async () => {
    const { client } = await start({ batchRejectRate: 1 });
    const { batch } = await settle(client, await submit(client, inputLines(5)));
    const errors = await readFile(client, batch.error_file_id);
    expect(errors.map((line) => batchLineFailure(line).status)).toEqual([400, 400, 400, 400, 400]);
  });

  test('batchMissingRate leaves lines out of both files; every other line is in exactly one', async () => {
    const { client } = await start({ batchMissingRate: 0.3, batchFailRate: 0.2, seed: 9 });
    const { batch } = await settle(client, await submit(client, inputLines(60)));
    const output = await readFile(client, batch.output_file_id);
    const errors = await readFile(client, batch.error_file_id);
    const present = [...ids(output), ...ids(errors)];
    expect(new Set(present).size).toBe(present.length);
    const missing = expectedIds(60).filter((id) => !present.includes(id));
    expect(missing.length).toBeGreaterThan(5);
    expect(missing.length).toBeLessThan(40);
    expect(errors.length).toBeGreaterThan(0);
    expect(batch.request_counts).toEqual({ total: 60, completed: 60 - errors.length, failed: errors.length });
  });

  test('batchExpireRate 1 ends the batch expired: half its lines done, the rest batch_expired in the documented shape', async () => {
    const { client } = await start({ batchExpireRate: 1 });
    const { batch, seen } = await settle(client, await submit(client, inputLines(10)));
    expect(seen.at(-1)).toBe('expired');
    expect(batch.expired_at).not.toBeNull();
    const output = await readFile(client, batch.output_file_id);
    const errors = await readFile(client, batch.error_file_id);
    expect(output).toHaveLength(5);
    expect(errors).toHaveLength(5);
    expect(ids([...output, ...errors])).toEqual(expectedIds(10));
    for (const line of errors) {
      expect(line.response).toBeNull();
      expect(batchLineFailure(line)).toMatchObject({ status: undefined, code: 'batch_expired' });
    }
  });
});

describe('file storage', () => {
  test('an upload past maxFileBytes is refused with 413 file_too_large, and nothing is stored', async () => {
    const { client } = await start({ maxFileBytes: 1000 });
    const error = await client.files
      .create({ file: toFile('x'.repeat(2000), 'big.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 413, code: 'file_too_large' });
    const small = await client.files.create({ file: toFile('x'.repeat(1000), 'ok.jsonl'), purpose: 'batch' });
    expect(small.bytes).toBe(1000);
  });

  test('uploads past maxStoredBytes in total are refused until a file is deleted', async () => {
    const { client } = await start({ maxStoredBytes: 1500 });
    const first = await client.files.create({ file: toFile('a'.repeat(1000), 'a.jsonl'), purpose: 'batch' });
    await expect(
      client.files.create({ file: toFile('b'.repeat(1000), 'b.jsonl'), purpose: 'batch' }),
    ).rejects.toMatchObject({ status: 413 });
    expect(await client.files.delete(first.id)).toEqual({ id: first.id, object: 'file', deleted: true });
    await expect(client.files.retrieve(first.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await client.files.create({ file: toFile('b'.repeat(1000), 'b.jsonl'), purpose: 'batch' })).bytes).toBe(
      1000,
    );
  });

  test('a batch whose output could not fit even with every other file deleted fails storage_limit_exceeded and leaves no file', async () => {
    // The input (about 80 bytes a line) fits; its output (float vectors, kilobytes a line) does not.
    const { client } = await start({ maxStoredBytes: 20_000, dimensions: 256 });
    const { batch } = await settle(client, await submit(client, inputLines(20)));
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]?.code).toBe('storage_limit_exceeded');
    expect(batch.output_file_id).toBeNull();
    // All the room but the input's is free again.
    const input = await client.files.retrieve(batch.input_file_id);
    const filler = await client.files.create({
      file: toFile('x'.repeat(20_000 - input.bytes), 'f.jsonl'),
      purpose: 'batch',
    });
    expect(filler.bytes).toBe(20_000 - input.bytes);
  });

  test('a batch whose output fits only once another is deleted stays finalizing until then, and completes', async () => {
    // One batch alone, to learn the sizes: every batch below has the same input and output.
    const probe = await start({ dimensions: 64 });
    const alone = (await settle(probe.client, await submit(probe.client, inputLines(20)))).batch;
    const inputBytes = (await probe.client.files.retrieve(alone.input_file_id)).bytes;
    const outputBytes = (await probe.client.files.retrieve(alone.output_file_id!)).bytes;
    // Room for both inputs and one output, not two.
    const { client } = await start({ dimensions: 64, maxStoredBytes: 2 * inputBytes + Math.floor(outputBytes * 1.5) });
    const [first, second] = await Promise.all([submit(client, inputLines(20)), submit(client, inputLines(20))]);
    // Both run at once; the one stored first completes, the other waits for room.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let seen = [first, second];
    for (let polls = 0; polls < 200 && !seen.some((b) => b.status === 'completed'); polls++) {
      await sleep(5);
      seen = await Promise.all(seen.map((b) => client.batches.retrieve(b.id)));
    }
    const done = seen.find((b) => b.status === 'completed');
    expect(done, seen.map((b) => b.status).join()).toBeDefined();
    const waiting = seen.find((b) => b !== done)!;
    await sleep(100);
    expect((await client.batches.retrieve(waiting.id)).status).toBe('finalizing');
    await client.files.delete(done!.output_file_id!);
    const later = await settle(client, waiting);
    expect(later.batch.status).toBe('completed');
    expect(ids(await readFile(client, later.batch.output_file_id))).toEqual(expectedIds(20));
  });

  test('close() resolves while a batch waits on its timers (they are cleared, not awaited)', async () => {
    const { server, client } = await start({ batchProcessingMs: 60_000 });
    await submit(client, inputLines(2));
    await server.close();
  });
});
