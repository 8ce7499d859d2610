import { describe, expect, test } from 'vitest';
import {
  EmbeddingsClient,
  InvalidArgumentError,
  RateLimitError,
  ResponseValidationError,
  toFile,
  type Batch,
} from '../src/index.js';
import { inputLines, settle, submit, useBatchServers } from './support/batch-server.js';
import { json, useRawServers } from './support/raw-server.js';

const startRaw = useRawServers();
const startLocal = useBatchServers();

const KEY = 'sk-batches-test-0123456789abcdef';

/** A batch object as OpenAI answers one. */
function batchObject(id: string, status: Batch['status'] = 'validating'): Batch {
  return {
    id,
    object: 'batch',
    endpoint: '/v1/embeddings',
    errors: null,
    input_file_id: 'file-abc',
    completion_window: '24h',
    status,
    output_file_id: null,
    error_file_id: null,
    created_at: 1_700_000_000,
    request_counts: { total: 0, completed: 0, failed: 0 },
    metadata: { job: 'j' },
  };
}

const CREATE = {
  input_file_id: 'file-abc',
  endpoint: '/v1/embeddings',
  completion_window: '24h',
  metadata: { job: 'j', shard: '3' },
} as const;

describe('batches at the wire', () => {
  test('create POSTs the params as JSON to /batches, with the key', async () => {
    const { url, requests } = await startRaw((_req, res) => json(res, 200, batchObject('batch_1')));
    const client = new EmbeddingsClient({ baseURL: url, apiKey: KEY });
    const batch = await client.batches.create(CREATE);
    await client.close();
    expect(batch.id).toBe('batch_1');
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'POST', url: '/v1/batches' });
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.parse(requests[0]!.body.toString('utf8'))).toEqual(CREATE);
  });

  test('retrieve GETs and cancel POSTs the escaped id, without a body', async () => {
    const { url, requests } = await startRaw((req, res) =>
      json(res, 200, batchObject('batch_1', req.method === 'POST' ? 'cancelling' : 'in_progress')),
    );
    const client = new EmbeddingsClient({ baseURL: url });
    expect((await client.batches.retrieve('batch 1')).status).toBe('in_progress');
    expect((await client.batches.cancel('batch 1')).status).toBe('cancelling');
    await client.close();
    expect(requests.map((r) => `${r.method} ${r.url} ${r.bytes}`)).toEqual([
      'GET /v1/batches/batch%201 0',
      'POST /v1/batches/batch%201/cancel 0',
    ]);
  });

  test('a 429 is retried after its retry-after-ms, then answered', async () => {
    const { url, requests } = await startRaw((_req, res, _seen, i) =>
      i === 0
        ? json(res, 429, { error: { message: 'slow down', code: 'rate_limit_exceeded' } }, { 'retry-after-ms': '10' })
        : json(res, 200, batchObject('batch_1')),
    );
    const client = new EmbeddingsClient({ baseURL: url, maxRetries: 1 });
    await client.batches.retrieve('batch_1');
    await client.close();
    expect(requests).toHaveLength(2);
  });

  test('a 429 past maxRetries rejects with RateLimitError', async () => {
    const { url, requests } = await startRaw((_req, res) =>
      json(res, 429, { error: { message: 'slow down' } }, { 'retry-after-ms': '1' }),
    );
    const client = new EmbeddingsClient({ baseURL: url, maxRetries: 1 });
    await expect(client.batches.retrieve('batch_1')).rejects.toBeInstanceOf(RateLimitError);
    await client.close();
    expect(requests).toHaveLength(2);
  });

  test('an answer that is not a batch is a ResponseValidationError naming the field', async () => {
    const { url } = await startRaw((_req, res) => json(res, 200, { ...batchObject('batch_1'), status: 'sleeping' }));
    const client = new EmbeddingsClient({ baseURL: url });
    const error = await client.batches.retrieve('batch_1').catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect((error as Error).message).toContain('`status`');
  });

  test.each([
    ['completion_window 1h', { ...CREATE, completion_window: '1h' }, '`completion_window` must be "24h"'],
    ['an unknown endpoint', { ...CREATE, endpoint: '/v1/embed' }, '`endpoint` must be one of'],
    ['an empty input_file_id', { ...CREATE, input_file_id: '' }, '`input_file_id` must be a non-empty string (got "")'],
    [
      '17 metadata pairs',
      { ...CREATE, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      '`metadata` must hold at most 16 pairs',
    ],
    ['a number in metadata', { ...CREATE, metadata: { job: 1 } }, '`metadata.job` values must be strings (got 1)'],
    ['an unknown field', { ...CREATE, model: 'x' }, 'unknown field(s) `model`'],
  ])('create refuses %s before any request', async (_, params, message) => {
    const { url, requests } = await startRaw((_req, res) => json(res, 200, batchObject('batch_1')));
    const client = new EmbeddingsClient({ baseURL: url });
    const error = await client.batches.create(params as never).catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(message);
    expect(requests).toHaveLength(0);
  });

  test.each([
    [{ limit: 0 }, '`limit` must be an integer from 1 to 100 (got 0)'],
    [{ limit: 101 }, '(got 101)'],
    [{ after: '' }, '`after` must be a batch id'],
  ])('list refuses %j before any request', async (params, message) => {
    const { url, requests } = await startRaw((_req, res) => json(res, 200, {}));
    const client = new EmbeddingsClient({ baseURL: url });
    expect(() => client.batches.list(params)).toThrow(message);
    await client.close();
    expect(requests).toHaveLength(0);
  });
});

describe('batches.list', () => {
  test('iterates every batch newest first across pages, asking each page with `after` the last id', async () => {
    const { client, server } = await startLocal();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await submit(client, inputLines(1), { n: String(i) })).id);
    const before = server.stats.requests;
    const seen: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) seen.push(batch.id);
    expect(seen).toEqual(created.toReversed());
    // Pages of 2, 2 and 1.
    expect(server.stats.requests - before).toBe(3);
  });

  test('pages() gives one page at a time with has_more and last_id, and `after` resumes past a batch', async () => {
    const { client } = await startLocal();
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await submit(client, inputLines(1))).id);
    const newest = created.toReversed();
    const pages = [];
    for await (const page of client.batches.list({ limit: 2 }).pages()) pages.push(page);
    expect(pages.map((page) => [page.data.map((b) => b.id), page.has_more, page.last_id])).toEqual([
      [newest.slice(0, 2), true, newest[1]],
      [newest.slice(2), false, newest[2]],
    ]);
    const rest: string[] = [];
    for await (const batch of client.batches.list({ after: newest[0] })) rest.push(batch.id);
    expect(rest).toEqual(newest.slice(1));
  });

  test('list sends `after` and `limit` in the query, beside the client’s defaultQuery', async () => {
    const pages = [
      { object: 'list', data: [batchObject('b3'), batchObject('b2')], first_id: 'b3', last_id: 'b2', has_more: true },
      { object: 'list', data: [batchObject('b1')], first_id: 'b1', last_id: 'b1', has_more: false },
    ];
    const { url, requests } = await startRaw((_req, res, _seen, i) => json(res, 200, pages[i]));
    const client = new EmbeddingsClient({ baseURL: url, defaultQuery: { 'api-version': 'x' } });
    const ids: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) ids.push(batch.id);
    await client.close();
    expect(ids).toEqual(['b3', 'b2', 'b1']);
    expect(requests.map((r) => r.url)).toEqual([
      '/v1/batches?api-version=x&limit=2',
      '/v1/batches?api-version=x&limit=2&after=b2',
    ]);
  });
});

describe('batches against the local server', () => {
  test('cancel of a running batch: cancelling, then cancelled with the lines it had run in its output', async () => {
    const { client } = await startLocal({ batchProcessingMs: 1500 });
    const created = await submit(client, inputLines(4));
    // Past validation (the first tenth), the lines run at once; cancel while it is in progress.
    let current = created;
    while (current.status === 'validating') {
      await new Promise((resolve) => setTimeout(resolve, 10));
      current = await client.batches.retrieve(created.id);
    }
    expect(current.status).toBe('in_progress');
    expect((await client.batches.cancel(created.id)).status).toBe('cancelling');
    const { batch } = await settle(client, current);
    expect(batch.status).toBe('cancelled');
    expect(batch.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });
    expect(batch.output_file_id).toEqual(expect.any(String));
  });
});

describe('files.list', () => {
  test('iterates every file newest first across pages, filtered by purpose, with `after` the last id', async () => {
    const { client, server } = await startLocal();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push((await client.files.create({ file: toFile(`line ${i}\n`, `f${i}.jsonl`), purpose: 'batch' })).id);
    }
    await client.files.create({ file: toFile('other', 'o.txt'), purpose: 'user_data' });
    const before = server.stats.requests;
    const seen: string[] = [];
    for await (const file of client.files.list({ purpose: 'batch', limit: 2 })) seen.push(file.id);
    expect(seen).toEqual(created.toReversed());
    expect(server.stats.requests - before).toBe(3);
    const oldestFirst: string[] = [];
    for await (const file of client.files.list({ purpose: 'batch', order: 'asc' })) oldestFirst.push(file.id);
    expect(oldestFirst).toEqual(created);
  });

  test('list sends purpose, limit, order and after in the query', async () => {
    const { url, requests } = await startRaw((_req, res) =>
      json(res, 200, { object: 'list', data: [], first_id: null, last_id: null, has_more: false }),
    );
    const client = new EmbeddingsClient({ baseURL: url });
    for await (const file of client.files.list({ purpose: 'batch', limit: 5, order: 'asc', after: 'file-1' })) {
      void file;
    }
    await client.close();
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/files?purpose=batch&limit=5&order=asc&after=file-1',
    ]);
  });

  test.each([
    [{ limit: 0 }, '`limit` must be an integer from 1 to 10000 (got 0)'],
    [{ order: 'newest' }, '`order` must be "asc" or "desc" (got "newest")'],
  ])('list refuses %j before any request', async (params, message) => {
    const { url, requests } = await startRaw((_req, res) => json(res, 200, {}));
    const client = new EmbeddingsClient({ baseURL: url });
    expect(() => client.files.list(params as never)).toThrow(message);
    await client.close();
    expect(requests).toHaveLength(0);
  });
});
