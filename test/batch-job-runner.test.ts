import { describe, expect, test, vi } from 'vitest';
import { EmbeddingsClient } from '../src/index.js';
import { BatchEmbeddingError } from '../src/batch/errors.js';
import { deleteFiles } from '../src/batch-job/collect.js';
import { runBatchJob } from '../src/batch-job/job.js';
import { BatchJobRunner } from '../src/batch-job/runner.js';
import { utf8ByteTokenizer } from '../src/tokenizer.js';
import type { BatchJobState, BatchJournalStore } from '../src/batch-job/journal.js';
import type { CreateManyResponse } from '../src/batch/types.js';
import { FakeBatchPort, vectorOf, type LineFate } from './support/batch-job-port.js';

const client = new EmbeddingsClient({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'sk-test', normalize: false });
const texts = Array.from({ length: 10 }, (_, i) => `text number ${i}`);
const params = { model: 'text-embedding-3-small', input: texts };

function memoryJournal(): BatchJournalStore & { writes: number; state: BatchJobState | undefined } {
  const results = new Map<string, Uint8Array>();
  return {
    writes: 0,
    state: undefined,
    read() {
      return this.state === undefined ? undefined : structuredClone<BatchJobState>(this.state);
    },
    write(state) {
      this.writes++;
      this.state = structuredClone(state);
    },
    readResults: async (key) => results.get(key),
    writeResults: async (key, bytes) => {
      results.set(key, bytes);
    },
  };
}

const run = (port: FakeBatchPort, options: Parameters<typeof runBatchJob>[2] = {}) =>
  runBatchJob(
    client,
    params,
    { pollInterval: 1, maxInputsPerBatch: 4, onFailure: 'collect', ...options },
    port,
  ) as Promise<CreateManyResponse<number[]>>;

function expectEveryInputOnce(result: CreateManyResponse<number[]>, total: number) {
  const seen = [...result.data.map((d) => d.index), ...result.failures.map((f) => f.index)].sort((a, b) => a - b);
  expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
}

describe('runBatchJob with the Batch API in memory', () => {
  test('every input comes back once, in order, from shuffled output files; files are deleted', async () => {
    const port = new FakeBatchPort();
    const result = await run(port);
    expect(result.data.map((d) => d.index)).toEqual(texts.map((_, i) => i));
    result.data.forEach((d, i) => expect(d.embedding).toEqual(vectorOf(texts[i]!)));
    expect(port.creates).toBe(3);
    expect(port.files.size).toBe(0);
    expect(result.usage.prompt_tokens).toBe(10);
  });

  test.each<[string, LineFate]>([
    ['missing lines', 'missing'],
    ['expired lines', 'expired'],
    ['429 lines', { status: 429 }],
    ['500 lines', { status: 500 }],
  ])('%s are sent again in new batches and end with a vector', async (_name, fate) => {
    const port = new FakeBatchPort((id, attempt) => (attempt === 1 && id.endsWith('-3') ? fate : 'ok'));
    const result = await run(port);
    expect(result.failures).toEqual([]);
    expectEveryInputOnce(result, 10);
    expect(port.creates).toBe(4);
    // The retry's file holds the one input sent again, not its whole shard.
    const retried = port.uploaded.at(-1)!.trimEnd().split('\n');
    expect(retried.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id.split('-').at(-1))).toEqual([
      '3',
    ]);
  });

  test("a retry's input file is its shard's lines of the inputs sent again, byte for byte, in input order", async () => {
    // Shards of 4 (inputs 0-3, 4-7, 8-9): first, middle and last lines, runs and gaps, in every shard.
    const again = [[0, 2, 3], [5, 6], [9]];
    const fates = new Map<number, LineFate>(
      again.flat().map((index) => [index, index % 2 ? { status: 429 } : 'missing']),
    );
    const port = new FakeBatchPort(
      (id, attempt) => (attempt === 1 ? fates.get(Number(id.split('-').at(-1))) : undefined) ?? 'ok',
    );
    const result = await run(port);
    expect(result.failures).toEqual([]);
    expectEveryInputOnce(result, 10);
    expect(port.uploaded).toHaveLength(6);
    const shardLines = port.uploaded.slice(0, 3).map((body) => body.split(/(?<=\n)/));
    expect(port.uploaded.slice(3)).toEqual(
      again.map((indices, shard) => indices.map((index) => shardLines[shard]![index - 4 * shard]).join('')),
    );
  });

  test('a 400 on one input fails that input only, without a retry', async () => {
    const port = new FakeBatchPort((id) => (id.endsWith('-5') ? { status: 400 } : 'ok'));
    const result = await run(port);
    expect(result.failures.map((f) => [f.index, f.error.name])).toEqual([[5, 'BadRequestError']]);
    expect(port.creates).toBe(3);
    expectEveryInputOnce(result, 10);
  });

  test('after maxAttempts an input that never got through is one failure with the last reason', async () => {
    const port = new FakeBatchPort((id) => (id.endsWith('-2') ? { status: 503 } : 'ok'));
    const result = await run(port, { maxAttempts: 2 });
    expect(result.failures.map((f) => [f.index, f.error.name])).toEqual([[2, 'InternalServerError']]);
    expect(port.creates).toBe(4);
    await expect(
      run(new FakeBatchPort((id) => (id.endsWith('-2') ? 'missing' : 'ok')), { onFailure: 'throw' }),
    ).rejects.toThrow(BatchEmbeddingError);
  });

  test('a batch refused for a full queue is submitted again from the same file', async () => {
    const port = new FakeBatchPort();
    port.queueFull = 2;
    const result = await run(port);
    expectEveryInputOnce(result, 10);
    expect(result.failures).toEqual([]);
    expect(port.creates).toBe(5);
    // Refused batches reuse their upload: three input files and their outputs, nothing more.
    expect(new Set([...port.batches.values()].map((b) => b.input)).size).toBe(3);
  });

  test('a batch failed on the server’s own error is sent again; one failed for its file fails its inputs', async () => {
    const port = new FakeBatchPort();
    port.serverFaults = 1;
    const result = await run(port);
    expect(result.failures).toEqual([]);
    expectEveryInputOnce(result, 10);
    expect(port.creates).toBe(4);
    const exhausted = new FakeBatchPort();
    exhausted.serverFaults = 9;
    const failed = await run(exhausted, { maxAttempts: 3, maxInputsPerBatch: 10 });
    expect(failed.failures.map((f) => f.error)).toEqual(
      texts.map(() =>
        expect.objectContaining({
          code: 'batch_failed',
          message: 'the batch failed: The batch failed on an error of the server.',
        }),
      ),
    );
    expect(exhausted.creates).toBe(3);
  });

  test('a rerun with the journal after a crash at any write creates no batch twice, uploads no file twice and leaves none behind', async () => {
    const whole = memoryJournal();
    await run(new FakeBatchPort(), { journal: whole });
    for (let crashAt = 1; crashAt <= whole.writes; crashAt++) {
      const port = new FakeBatchPort();
      const journal = memoryJournal();
      const write = journal.write.bind(journal);
      // Killed as this write was due: it never lands, and nothing after it runs.
      let writes = 0;
      journal.write = (state) => {
        if (++writes === crashAt) throw new Error('killed');
        return write(state);
      };
      const first = await run(port, { journal }).catch((error: Error) => error);
      journal.write = write;
      const downloadsBefore = port.downloads.length;
      const collectedBefore = journal.state?.batches.filter((b) => b.collected !== undefined).length ?? 0;
      const result = first instanceof Error ? await run(port, { journal }) : first;
      expectEveryInputOnce(result, 10);
      expect(result.failures).toEqual([]);
      expect(port.creates).toBe(3);
      // A file uploaded just before the crash is found by its name and used, not uploaded again.
      expect(port.filenames.size).toBe(3);
      expect(port.files.size).toBe(0);
      // Only batches the journal had not marked collected are downloaded again.
      expect(port.downloads.length - downloadsBefore).toBeLessThanOrEqual(3 - collectedBefore);
    }
  });

  test('cancel: true cancels the running batches, and what they did not finish fails', async () => {
    const port = new FakeBatchPort();
    const journal = memoryJournal();
    const detached = await runBatchJob(
      client,
      params,
      { pollInterval: 1, maxInputsPerBatch: 4, journal, detach: true },
      port,
    );
    expect(detached).toMatchObject({ object: 'batch_job.submitted' });
    const result = (await runBatchJob(
      client,
      params,
      { pollInterval: 1, maxInputsPerBatch: 4, journal, cancel: true, onFailure: 'collect' },
      port,
    )) as CreateManyResponse<number[]>;
    expectEveryInputOnce(result, 10);
    expect(result.failures).toHaveLength(10);
    expect(result.failures[0]!.error).toMatchObject({ name: 'BatchJobInputError', code: 'batch_cancelled' });
  });

  test('cancel after a kill between a creation and its record cancels the batch found by its metadata', async () => {
    const port = new FakeBatchPort();
    const journal = memoryJournal();
    const write = journal.write.bind(journal);
    // Writes: the plan, s0's upload mark, s0's file, s0's creation mark, then s0's id, which never lands.
    journal.write = (state) => {
      if (journal.writes === 4) throw new Error('killed');
      return write(state);
    };
    await expect(run(port, { journal })).rejects.toThrow('killed');
    expect(journal.state!.batches[0]).toMatchObject({ creating: true });
    expect(port.creates).toBe(1);
    journal.write = write;
    const result = await run(port, { journal, cancel: true });
    expectEveryInputOnce(result, 10);
    expect(port.creates).toBe(1);
    expect([...port.batches.values()].map((b) => b.status)).toEqual(['cancelled']);
    expect(result.failures.every((f) => (f.error as { code?: string }).code === 'batch_cancelled')).toBe(true);
  });

  test('cancel of a batch that ended since the journal last saw it collects it instead of failing', async () => {
    const port = new FakeBatchPort();
    const journal = memoryJournal();
    await runBatchJob(client, params, { pollInterval: 1, maxInputsPerBatch: 10, journal, detach: true }, port);
    // The batch ends at the server (its second retrieve) while the journal still says validating.
    const [batch] = port.batches.values();
    await port.retrieve(batch!.id);
    await port.retrieve(batch!.id);
    const result = (await runBatchJob(
      client,
      params,
      { pollInterval: 1, maxInputsPerBatch: 10, journal, cancel: true, onFailure: 'collect' },
      port,
    )) as CreateManyResponse<number[]>;
    expect(result.failures).toEqual([]);
    expectEveryInputOnce(result, 10);
  });

  test('an abort stops waiting and leaves the journal to resume', async () => {
    const port = new FakeBatchPort();
    const journal = memoryJournal();
    const controller = new AbortController();
    const aborted = run(port, {
      journal,
      signal: controller.signal,
      onProgress: (p) => {
        if ((p.batches.validating ?? 0) === 3) controller.abort();
      },
    });
    await expect(aborted).rejects.toThrow(/aborted; the journal holds job/);
    const result = await run(port, { journal });
    expectEveryInputOnce(result, 10);
    expect(port.creates).toBe(3);
  });
});

describe('BatchJobRunner', () => {
  function runnerOf(port: FakeBatchPort, journal: BatchJournalStore): BatchJobRunner {
    return new BatchJobRunner(port, journal, {
      params: { model: params.model },
      rules: { tokenizer: utf8ByteTokenizer, maxTokensPerInput: 8192, truncate: false },
      limits: { maxInputsPerBatch: 4, maxBatchBytes: 1e6, maxOutputBytes: 1e9, outputBytesPerInput: 100 },
      pollInterval: 1,
      maxAttempts: 3,
      signal: new AbortController().signal,
      onProgress: undefined,
    });
  }

  test('the end of a job deletes its files and marks them deleted through the runner, in one journal write', async () => {
    const port = new FakeBatchPort();
    const journal = memoryJournal();
    const runner = runnerOf(port, journal);
    await runner.start(texts);
    await runner.runToEnd();
    // Kept: the memory journal's results outlive the process, so each batch's files went once collected.
    expect(port.files.size).toBe(0);
    expect(journal.state!.filesDeleted).toBeUndefined();
    const marked = vi.spyOn(runner, 'markFilesDeleted');
    const writes = journal.writes;
    await deleteFiles(runner);
    expect(marked).toHaveBeenCalledTimes(1);
    expect(journal.writes).toBe(writes + 1);
    expect(journal.state!.filesDeleted).toBe(true);
  });
});
