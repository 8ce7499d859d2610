/**
 * A Batch API job's vectors at the wire, with shards far larger than the window the job reads
 * and writes them in: the client's real transport against the local server's Files and
 * Batches API, output shuffled, retries in a second batch of a shard, a crash mid-collection,
 * and the live memory of a collected shard measured while it is collected and read.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { EmbeddingsClient, type StreamItem } from '../src/index.js';
import { streamBatchJob } from '../src/batch-job/job.js';
import { fileJournal, type BatchJobState, type BatchJournalStore } from '../src/batch-job/journal.js';
import { portOf } from '../src/batch-job/port.js';
import type { BatchApiPort } from '../src/batch-job/types.js';
import { createServer, type LocalServer, type ServerOptions } from '../src/server/index.js';
import { bundleForChild } from './support/bundle.js';
import { tempDir } from './support/cli-helpers.js';
import { liveArrayBuffers } from './support/gc.js';

const MB = 1024 * 1024;
const model = 'text-embedding-3-large';
const open: { server: LocalServer; client: EmbeddingsClient }[] = [];
const dir = tempDir();

afterEach(async () => {
  for (const { server, client } of open.splice(0)) {
    await client.close();
    await server.close();
  }
});
afterAll(() => dir.remove());

async function start(options: ServerOptions = {}) {
  const server = createServer({ batchProcessingMs: 0, batchShuffle: true, seed: 11, ...options });
  const { url } = await server.listen(0);
  const client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-test', maxRetries: 2 });
  open.push({ server, client });
  return { server, client };
}

const textsOf = (count: number) => Array.from({ length: count }, (_, i) => `passage ${i} on tides and harbours`);

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The journal's state, as the job last wrote it. */
const journalOf = async (path: string) =>
  JSON.parse(await (await import('node:fs/promises')).readFile(path, 'utf8')) as BatchJobState;

/** Every input once, in input order, each with the vector the synchronous endpoint gives its text. */
async function expectEveryVector(
  client: EmbeddingsClient,
  items: StreamItem<number[] | Float32Array>[],
  texts: string[],
  dimensions: number,
): Promise<void> {
  expect(items.map((item) => item.index)).toEqual(texts.map((_, i) => i));
  expect(items.filter((item) => item.error !== undefined)).toEqual([]);
  const expected = await client.embeddings.createMany(
    { model, input: texts, dimensions },
    { vectorType: 'float32', maxConcurrency: 2 },
  );
  items.forEach((item, i) => expect(item.embedding, `input ${i}`).toEqual(expected.data[i]!.embedding));
}

describe('a Batch API job whose shards are larger than the window it reads and writes in', () => {
  test('every input once, in order, with its vector, from shuffled outputs and retries in a second batch of each shard', async () => {
    const { client } = await start({ batchFailRate: 0.1, batchMissingRate: 0.05 });
    const texts = textsOf(3000);
    const journal = dir.path('retries.json');
    // 1,500 inputs of 1,536 dimensions: 9 MB a shard, twice the 4 MB window.
    const items = await all(
      streamBatchJob(
        client,
        { model, input: texts, dimensions: 1536 },
        { journal, pollInterval: 5, maxInputsPerBatch: 1500, maxAttempts: 8, vectorType: 'float32' },
      ),
    );
    const state = await journalOf(journal);
    for (const shard of [0, 1]) {
      const batches = state.batches.filter((b) => b.shard === shard);
      expect(batches.length, `batches of shard ${shard}`).toBeGreaterThan(1);
      expect(batches[1]!.collected!.ok).toBeGreaterThan(0);
    }
    await expectEveryVector(client, items, texts, 1536);
  }, 60_000);

  test('a crash mid-collection, then a rerun, collects the batch again into the same places', async () => {
    const { client } = await start();
    const texts = textsOf(2400);
    const journal = dir.path('crash.json');
    const options = { journal, pollInterval: 5, maxInputsPerBatch: 1200, vectorType: 'float32' as const };
    const params = { model, input: texts, dimensions: 1536 };
    // The second batch's output breaks off after 900 of its 1,200 lines: two windows were written.
    const real = portOf(client);
    let downloads = 0;
    const crashing: BatchApiPort = {
      ...real,
      async *lines(fileId, signal) {
        const crash = ++downloads === 2;
        let read = 0;
        for await (const line of real.lines(fileId, signal)) {
          if (crash && ++read > 900) throw new Error('killed mid-collection');
          yield line;
        }
      },
    };
    await expect(all(streamBatchJob(client, params, options, crashing))).rejects.toThrow('killed mid-collection');
    const crashed = await journalOf(journal);
    expect(crashed.batches.map((b) => b.collected !== undefined)).toEqual([true, false]);
    // Its file was written in part: a whole one holds a 16-byte header and 1,200 rows.
    expect(existsSync(`${journal}.results/s1.f32`)).toBe(true);
    const items = await all(streamBatchJob(client, params, options));
    expect(statSync(`${journal}.results/s1.f32`).size).toBe(16 + 1200 * 1536 * 4);
    await expectEveryVector(client, items, texts, 1536);
    // Nothing was created again: one batch per shard.
    expect((await client.batches.list({ limit: 100 }).pages().next()).value!.data).toHaveLength(2);
  }, 60_000);

  test('a store of your own gets one block per batch through writeResults, and the same vectors back', async () => {
    const { client } = await start({ batchFailRate: 0.1 });
    const texts = textsOf(1200);
    // A wrapped file journal is a store of the caller's: it goes through readResults/writeResults.
    const file = fileJournal(dir.path('own.json'));
    const blocks = new Map<string, number>();
    const store: BatchJournalStore = {
      ...file,
      writeResults: async (key, bytes) => {
        blocks.set(key, bytes.length);
        await file.writeResults!(key, bytes);
      },
    };
    const items = await all(
      streamBatchJob(
        client,
        { model, input: texts, dimensions: 1536 },
        { journal: store, pollInterval: 5, maxInputsPerBatch: 600, maxAttempts: 8, vectorType: 'float32' },
      ),
    );
    const state = (await file.read())!;
    // Each block: the header, then a row of 1,536 float32 for every input of its batch.
    expect([...blocks.keys()].sort()).toEqual(state.batches.map((b) => b.key).sort());
    for (const batch of state.batches) {
      const rows = batch.inputs.reduce((sum, [start, end]) => sum + end - start, 0);
      expect(blocks.get(batch.key)).toBe(16 + rows * 1536 * 4);
    }
    await expectEveryVector(client, items, texts, 1536);
  }, 60_000);

  test('collecting and reading a 36 MB shard keeps a few MB of vectors alive, not the shard', async () => {
    // The server in a process of its own: its files do not count in this process's memory.
    const { url, stop } = await childServer({ batchProcessingMs: 0, batchShuffle: true, seed: 11 });
    const client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-test', maxRetries: 2 });
    try {
      const texts = textsOf(6000);
      const options = { journal: dir.path('memory.json'), pollInterval: 5, maxInputsPerBatch: 3000 };
      const base = settled();
      let collecting = 0;
      let reading = 0;
      let lines = 0;
      const real = portOf(client);
      const measured: BatchApiPort = {
        ...real,
        async *lines(fileId, signal) {
          for await (const line of real.lines(fileId, signal)) {
            if (++lines % 250 === 0) collecting = Math.max(collecting, settled() - base);
            yield line;
          }
        },
      };
      let count = 0;
      const job = streamBatchJob(
        client,
        { model, input: texts, dimensions: 3072 },
        { ...options, vectorType: 'float32' },
        measured,
      );
      for await (const item of job) {
        expect(item.embedding).toHaveLength(3072);
        if (++count % 250 === 0) reading = Math.max(reading, settled() - base);
      }
      expect([count, lines]).toEqual([6000, 6000]);
      // One shard's vectors take 3,000 × 3,072 × 4 bytes = 36 MB; the window is 4 MB.
      expect(collecting).toBeLessThan(10 * MB);
      expect(reading).toBeLessThan(10 * MB);
    } finally {
      await client.close();
      await stop();
    }
  }, 120_000);
});

/**
 * Bytes of ArrayBuffers alive, after two full collections: the backing stores the first one
 * frees are counted as gone only after it, so one collection's figure swings by a window or two.
 */
function settled(): number {
  liveArrayBuffers();
  return liveArrayBuffers();
}

/** The local server, bundled, in a child process that ends with this one (its stdin closes). */
async function childServer(options: ServerOptions): Promise<{ url: string; stop: () => Promise<void> }> {
  const bundle = await bundleForChild('src/server/index.ts', 'server', 'batch-memory-test');
  const script = `
    const { createServer } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
    const server = createServer(${JSON.stringify(options)});
    const { url } = await server.listen(0, '127.0.0.1');
    process.stdout.write(url + '\\n');
    process.stdin.on('data', () => {}).on('end', () => server.close().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`the server exited with code ${code}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    url,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
