/**
 * runBatchJob() at the wire: the client's real transport against the local server's Files and
 * Batches API, with its faults.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { afterAll, describe, expect, test } from 'vitest';
import {
  APIUserAbortError,
  BatchEmbeddingError,
  EmbeddingsClient,
  NotFoundError,
  type BatchJobProgress,
  type BatchJobState,
  type CreateManyResponse,
} from '../src/index.js';
import { useBatchServers } from './support/batch-server.js';
import { tempDir } from './support/cli-helpers.js';

const model = 'text-embedding-3-small';
const texts = Array.from({ length: 30 }, (_, i) => `document number ${i} about ${['cats', 'dogs', 'ships'][i % 3]}`);
const start = useBatchServers({ batchProcessingMs: 40, seed: 7 }, { apiKey: 'sk-test' });
const dir = tempDir();
afterAll(() => dir.remove());

const fast = { pollInterval: 5, maxInputsPerBatch: 8, onFailure: 'collect' } as const;

/** Every batch the server holds, by the job's metadata. */
async function batchesOf(client: EmbeddingsClient, jobId: string) {
  const found = [];
  for await (const batch of client.batches.list({ limit: 100 })) {
    if (batch.metadata?.embedrail_job === jobId) found.push(batch);
  }
  return found;
}

function expectEachInputOnce(result: CreateManyResponse<unknown>, total: number) {
  const seen = [...result.data.map((d) => d.index), ...result.failures.map((f) => f.index)].sort((a, b) => a - b);
  expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
}

/** What a case of the abort-and-rerun table checks once the first run was aborted. */
interface AfterAbort {
  client: EmbeddingsClient;
  journal: string;
  state: BatchJobState;
  /** Every request's method and path the client sent, emptied by the case as it likes. */
  paths: string[];
}

describe('runBatchJob against the local Batch API', () => {
  test('every input once, in input order, with the vectors create() gives, from shuffled outputs; files deleted', async () => {
    const { client } = await start({ batchShuffle: true });
    const journal = dir.path('plain.json');
    const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal });
    expect(result.failures).toEqual([]);
    expect(result.data.map((d) => d.index)).toEqual(texts.map((_, i) => i));
    const direct = await client.embeddings.create({ model, input: texts });
    result.data.forEach((d, i) => expect(d.embedding).toEqual(direct.data[i]!.embedding));
    expect(result.usage.prompt_tokens).toBe(direct.usage.prompt_tokens);

    const state = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
    expect(state.batches).toHaveLength(4);
    expect(state.filesDeleted).toBe(true);
    const fileIds = state.batches.flatMap((b) => [b.fileId, b.outputFileId, b.errorFileId]).filter(Boolean);
    expect(fileIds.length).toBeGreaterThanOrEqual(8);
    for (const id of fileIds) await expect(client.files.retrieve(id!)).rejects.toThrow(NotFoundError);
    const batches = await batchesOf(client, state.jobId);
    expect(batches.map((b) => b.metadata?.embedrail_batch).sort()).toEqual(['s0#1', 's1#1', 's2#1', 's3#1']);
  });

  test('lines answered 429 or 500, and lines missing from both files, are sent again until they succeed', async () => {
    const { client } = await start({ batchFailRate: 0.3, batchMissingRate: 0.2, batchShuffle: true });
    const retried: number[] = [];
    const result = await client.embeddings.runBatchJob(
      { model, input: texts },
      { ...fast, maxAttempts: 20, onProgress: (p) => retried.push(p.retriedInputs) },
    );
    expect(result.failures).toEqual([]);
    expectEachInputOnce(result, texts.length);
    expect(Math.max(...retried)).toBeGreaterThan(0);
  });

  test('a 400 on a line (the observed error shape) fails that input alone, without a retry', async () => {
    const { client } = await start({ batchRejectRate: 0.2 });
    const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, maxAttempts: 5 });
    expectEachInputOnce(result, texts.length);
    expect(result.failures.length).toBeGreaterThan(0);
    for (const failure of result.failures) expect(failure.error.name).toBe('BadRequestError');
    expect(result.failures.length + result.data.length).toBe(texts.length);
  });

  test('expired batches: lines marked batch_expired (the documented shape) go again; past maxAttempts they fail', async () => {
    const { client } = await start({ batchExpireRate: 1 });
    const result = await client.embeddings.runBatchJob(
      { model, input: texts.slice(0, 8) },
      { ...fast, maxAttempts: 2 },
    );
    expectEachInputOnce(result, 8);
    // Each attempt finishes half its lines: 4, then 2 of the 4 left, and 2 fail.
    expect(result.data).toHaveLength(6);
    expect(result.failures.map((f) => f.error)).toEqual([
      expect.objectContaining({ name: 'BatchJobInputError', code: 'batch_expired' }),
      expect.objectContaining({ name: 'BatchJobInputError', code: 'batch_expired' }),
    ]);
  });

  test('maxAttempts exhausted: every input that never got through is one failure with its last error', async () => {
    const { client } = await start({ batchFailRate: 1 });
    const result = await client.embeddings.runBatchJob(
      { model, input: texts.slice(0, 5) },
      { ...fast, maxAttempts: 2 },
    );
    expect(result.data).toEqual([]);
    expect(result.failures.map((f) => f.index)).toEqual([0, 1, 2, 3, 4]);
    for (const { error } of result.failures) expect(['RateLimitError', 'InternalServerError']).toContain(error.name);
    await expect(
      client.embeddings.runBatchJob(
        { model, input: texts.slice(0, 5) },
        { ...fast, onFailure: 'throw', maxAttempts: 1 },
      ),
    ).rejects.toThrow(BatchEmbeddingError);
  });

  test('a batch failed with token_limit_exceeded is submitted again later, and the job completes', async () => {
    const { client } = await start({ batchQueueCap: 80, batchProcessingMs: 60 });
    const journal = dir.path('queue.json');
    const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal });
    expect(result.failures).toEqual([]);
    expectEachInputOnce(result, texts.length);
    const state = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
    const batches = await batchesOf(client, state.jobId);
    const refused = batches.filter((b) => b.errors?.data?.[0]?.code === 'token_limit_exceeded');
    expect(refused.length).toBeGreaterThan(0);
    // Each submission has its own metadata: none was created twice.
    const keys = batches.map((b) => b.metadata?.embedrail_batch);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('cancel: true cancels the running batches; what they did not finish fails as batch_cancelled', async () => {
    const { client } = await start({ batchProcessingMs: 5000 });
    const journal = dir.path('cancel.json');
    const submitted = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal, detach: true });
    expect(submitted.object).toBe('batch_job.submitted');
    const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal, cancel: true });
    expectEachInputOnce(result, texts.length);
    expect(result.failures.length).toBeGreaterThan(0);
    expect(result.failures[0]!.error).toMatchObject({ code: 'batch_cancelled' });
    const batches = await batchesOf(client, submitted.jobId);
    expect(batches.map((b) => b.status)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
  });

  test('a lost journal is rebuilt from batches.list by jobId: nothing uploaded or created again', async () => {
    const { client } = await start({ batchProcessingMs: 150 });
    const submitted = await client.embeddings.runBatchJob(
      { model, input: texts },
      { ...fast, journal: dir.path('lost.json'), detach: true },
    );
    const result = await client.embeddings.runBatchJob(
      { model, input: texts },
      { ...fast, journal: dir.path('rebuilt.json'), jobId: submitted.jobId },
    );
    expectEachInputOnce(result, texts.length);
    expect(result.failures).toEqual([]);
    expect(await batchesOf(client, submitted.jobId)).toHaveLength(4);
    // The same input files: a second upload would have a new id.
    const fileIds = (name: string) =>
      (JSON.parse(readFileSync(dir.path(name), 'utf8')) as BatchJobState).batches.map((b) => b.fileId);
    expect(fileIds('rebuilt.json')).toEqual(fileIds('lost.json'));
    await expect(
      client.embeddings.runBatchJob(
        { model, input: texts },
        { ...fast, journal: dir.path('rebuilt.json'), jobId: 'another' },
      ),
    ).rejects.toThrow(`the journal holds job ${submitted.jobId}, not \`jobId\` "another"`);
  });

  test('a job found by jobId after it finished, its journal lost with the vectors and its files deleted, sends its inputs again', async () => {
    const { client } = await start();
    const first = await client.embeddings.runBatchJob(
      { model, input: texts },
      { ...fast, journal: dir.path('done.json') },
    );
    const { jobId } = JSON.parse(readFileSync(dir.path('done.json'), 'utf8')) as BatchJobState;
    // The journal and its results gone: only the batches at the provider remain, their files deleted.
    const result = await client.embeddings.runBatchJob(
      { model, input: texts },
      { ...fast, journal: dir.path('done-again.json'), jobId },
    );
    expect(result.failures).toEqual([]);
    expect(result.data.map((d) => d.embedding)).toEqual(first.data.map((d) => d.embedding));
    const names = (await batchesOf(client, jobId)).map((b) => b.metadata?.embedrail_batch).sort();
    expect(names).toEqual(['s0#1', 's0.2#1', 's1#1', 's1.2#1', 's2#1', 's2.2#1', 's3#1', 's3.2#1']);
  });

  // An abort mid-job, then a rerun on the same journal: what the rerun sends again, and what not.
  test.each([
    [
      'an abort stops waiting and leaves the journal to resume; the rerun creates no batch again',
      {
        batchProcessingMs: 200,
        journal: 'abort.json',
        abortWhen: (p: BatchJobProgress) => (p.batches.pending ?? 0) === 0,
        async afterAbort({ client, journal, state }: AfterAbort) {
          expect(state.batches.every((b) => b.batchId !== undefined)).toBe(true);
          const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal });
          expectEachInputOnce(result, texts.length);
          expect(result.failures).toEqual([]);
          expect(await batchesOf(client, state.jobId)).toHaveLength(4);
        },
      },
    ],
    [
      'a rerun downloads only the batches the journal had not collected; a finished job answers without a request',
      {
        batchProcessingMs: 30,
        journal: 'downloads.json',
        abortWhen: (p: BatchJobProgress) => p.completedInputs >= 16,
        async afterAbort({ client, journal, state, paths }: AfterAbort) {
          const stored = state.batches.filter((b) => b.collected !== undefined);
          expect(stored.length).toBeGreaterThanOrEqual(2);
          const storedOutputs = new Set(stored.map((b) => b.outputFileId));
          // A collected batch's files go as soon as its vectors are stored, while the job runs on.
          for (const batch of stored) {
            for (const id of [batch.fileId, batch.outputFileId])
              await expect(client.files.retrieve(id!)).rejects.toThrow(NotFoundError);
          }
          paths.length = 0;
          const result = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal });
          expectEachInputOnce(result, texts.length);
          const downloads = paths.filter((path) => path.endsWith('/content'));
          expect(downloads.length).toBe(4 - stored.length);
          for (const path of downloads) expect(storedOutputs.has(/files\/([^/]+)\/content/.exec(path)![1])).toBe(false);
          paths.length = 0;
          const again = await client.embeddings.runBatchJob({ model, input: texts }, { ...fast, journal });
          expect(again.data).toEqual(result.data);
          expect(paths).toEqual([]);
        },
      },
    ],
  ] as const)('%s', async (_, { batchProcessingMs, journal: name, abortWhen, afterAbort }) => {
    // Every request's path, as the client sent it.
    const paths: string[] = [];
    const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
      paths.push(`${options.method} ${options.path}`);
      return dispatch(options, handler);
    });
    const { client } = await start({ batchProcessingMs }, { dispatcher });
    const journal = dir.path(name);
    const controller = new AbortController();
    const first = client.embeddings.runBatchJob(
      { model, input: texts },
      {
        ...fast,
        journal,
        signal: controller.signal,
        onProgress: (p) => {
          if (abortWhen(p)) controller.abort();
        },
      },
    );
    await expect(first).rejects.toThrow(APIUserAbortError);
    const state = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
    await afterAbort({ client, journal, state, paths });
  });

  test('bad input fails before anything is uploaded', async () => {
    const { client, server } = await start();
    await expect(client.embeddings.runBatchJob({ model, input: ['a', ''] }, fast)).rejects.toThrow(
      '`input[1]` must not be an empty string',
    );
    await expect(
      client.embeddings.runBatchJob({ model, input: ['a'] }, { ...fast, maxInputsPerBatch: 60_000 }),
    ).rejects.toThrow('Invalid batch job options: `maxInputsPerBatch` must be an integer from 1 to 50000 (got 60000)');
    expect(server.stats.requests).toBe(0);
  });
});
