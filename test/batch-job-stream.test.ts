/**
 * streamBatchJob() at the wire: the client's real transport against the local server's Files
 * and Batches API; results come out in input order from the journal's stored vectors.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import type { StreamItem } from '../src/index.js';
import { useBatchServers } from './support/batch-server.js';
import { tempDir } from './support/cli-helpers.js';

const model = 'text-embedding-3-small';
const texts = Array.from({ length: 30 }, (_, i) => ({ id: `doc-${i}`, text: `document number ${i} about ships` }));
const start = useBatchServers({ batchProcessingMs: 40, seed: 7 }, { apiKey: 'sk-test' });
const dir = tempDir();
afterAll(() => dir.remove());

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('streamBatchJob against the local Batch API', () => {
  test('yields every input once, in input order, with its id and the vector create() gives', async () => {
    const { client } = await start({ batchShuffle: true });
    const journal = dir.path('stream.json');
    const seenSpool: string[][] = [];
    const items = await all(
      client.embeddings.streamBatchJob(
        { model, input: texts },
        {
          journal,
          pollInterval: 5,
          maxInputsPerBatch: 8,
          vectorType: 'float32',
          // The shards' input files are on disk beside the journal while the job runs.
          onProgress: () => {
            if (existsSync(`${journal}.inputs`)) seenSpool.push(readdirSync(`${journal}.inputs`).sort());
          },
        },
      ),
    );
    expect(items.map((item) => [item.index, item.id, item.error])).toEqual(texts.map((t, i) => [i, t.id, undefined]));
    // The reference is create()'s own answer: runBatchJob reads through the same eachResult().
    const direct = await client.embeddings.create(
      { model, input: texts.map((t) => t.text) },
      { vectorType: 'float32' },
    );
    items.forEach((item, i) => expect(item.embedding).toEqual(direct.data[i]!.embedding));
    expect(seenSpool[0]).toEqual(['s0.jsonl', 's1.jsonl', 's2.jsonl', 's3.jsonl']);
    // The job ended: its spooled input files went with its files at the provider.
    expect(existsSync(`${journal}.inputs`)).toBe(false);
  });

  test('yields the inputs that failed for good as errors in their place, never throwing', async () => {
    const { client } = await start({ batchFailRate: 1 });
    const items: StreamItem<number[]>[] = await all(
      client.embeddings.streamBatchJob(
        { model, input: texts.slice(0, 10) },
        { journal: dir.path('failing.json'), pollInterval: 5, maxInputsPerBatch: 4, maxAttempts: 2 },
      ),
    );
    expect(items.map((item) => item.index)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(items.map((item) => item.id)).toEqual(texts.slice(0, 10).map((t) => t.id));
    for (const item of items) expect(item.error).toBeDefined();
  });
});
