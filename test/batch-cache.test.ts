/** The cache key and the in-memory store (src/batch/cache.ts), and how a batch job reads and writes a cache, at the wire. */
import { describe, expect, test } from 'vitest';
import { cacheKey, createMemoryCache, type EmbeddingCache } from '../src/batch/cache.js';
import { resolveBatchConfig } from '../src/batch/config.js';
import { InvalidArgumentError } from '../src/errors.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import { numberedTexts as texts, vectorFor } from './support/openai-like.js';

const scope = { host: 'api.openai.com', model: 'text-embedding-3-small', dimensions: 256 };

describe('cacheKey', () => {
  test('is a sha256 hex digest, stable for the same host, model, dimensions and text', () => {
    expect(cacheKey(scope, 'hello')).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey({ ...scope }, 'hello')).toBe(cacheKey(scope, 'hello'));
  });

  test.each([
    ['host', { ...scope, host: '127.0.0.1:8787' }, 'hello'],
    ['model', { ...scope, model: 'text-embedding-3-large' }, 'hello'],
    ['dimensions', { ...scope, dimensions: 512 }, 'hello'],
    ['no dimensions', { ...scope, dimensions: undefined }, 'hello'],
    ['text', scope, 'hello!'],
  ])('changes with the %s', (_what, other, text) => {
    expect(cacheKey(other, text)).not.toBe(cacheKey(scope, 'hello'));
  });

  test('fields cannot run into each other', () => {
    expect(cacheKey({ host: 'h', model: 'm', dimensions: 1 }, '2')).not.toBe(
      cacheKey({ host: 'h', model: 'm', dimensions: 12 }, ''),
    );
  });
});

describe('createMemoryCache', () => {
  test('returns stored vectors by key and undefined for misses, in key order', async () => {
    const cache = createMemoryCache();
    await cache.set([
      ['a', Float32Array.of(1, 2)],
      ['b', Float32Array.of(3)],
    ]);
    expect(await cache.get(['b', 'x', 'a'])).toEqual([Float32Array.of(3), undefined, Float32Array.of(1, 2)]);
  });

  test('copies vectors in and out, so callers cannot corrupt it', async () => {
    const cache = createMemoryCache();
    const stored = Float32Array.of(1, 2);
    await cache.set([['a', stored]]);
    stored[0] = 9;
    const [first] = await cache.get(['a']);
    first![1] = 9;
    expect(await cache.get(['a'])).toEqual([Float32Array.of(1, 2)]);
  });

  test('evicts the least recently used vectors beyond maxBytes', async () => {
    const cache = createMemoryCache({ maxBytes: 8 * 4 * 2 });
    await cache.set([
      ['a', new Float32Array(8)],
      ['b', new Float32Array(8)],
    ]);
    await cache.get(['a']);
    await cache.set([['c', new Float32Array(8)]]);
    const [a, b, c] = await cache.get(['a', 'b', 'c']);
    expect([a !== undefined, b !== undefined, c !== undefined]).toEqual([true, false, true]);
  });

  test.each([[0], [-1], [1.5], [Number.NaN]])('rejects maxBytes %d naming the option', (maxBytes) => {
    expect(() => createMemoryCache({ maxBytes })).toThrow(InvalidArgumentError);
    expect(() => createMemoryCache({ maxBytes })).toThrow(`\`maxBytes\` must be an integer ≥ 1 (got ${maxBytes})`);
  });
});

describe('createMany with a cache', () => {
  const model = 'text-embedding-3-small';
  const wire = useBatchApi();
  const { serve } = wire;

  test('a second run with the same cache sends nothing and returns the same vectors', async () => {
    serve();
    const cache = createMemoryCache();
    const input = texts(500);
    const first = await wire.client.embeddings.createMany({ model, input }, { cache });
    const sent = wire.api.requests.length;
    const second = await wire.client.embeddings.createMany({ model, input }, { cache });
    expect(wire.api.requests).toHaveLength(sent);
    expect(second.data).toEqual(first.data);
    expect(second.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
  });

  test('a rerun sends only the texts missing from the cache', async () => {
    serve();
    const cache = createMemoryCache();
    await wire.client.embeddings.createMany({ model, input: texts(100).slice(0, 60) }, { cache });
    wire.api.reset();
    wire.api.use(...wire.server.handlers);
    wire.server.seen.length = 0;
    const res = await wire.client.embeddings.createMany({ model, input: texts(100) }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(texts(100).slice(60));
    expectBelongs(res.data, texts(100));
  });

  test('the cache is written after each completed request with the raw vectors of that request', async () => {
    serve();
    const writes: [string, Float32Array][][] = [];
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map(() => undefined),
      set: async (entries) => {
        writes.push(entries);
      },
    };
    const input = texts(25);
    await wire.client.embeddings.createMany({ model, input }, { cache, maxInputsPerRequest: 10 });
    expect(writes.map((w) => w.length)).toEqual([10, 10, 5]);
    expect(writes[0]![0]![1]).toEqual(vectorFor(input[0]!));
  });

  test('a cached vector is not shared with the result: normalising never alters the stored copy', async () => {
    serve();
    const store = new Map<string, Float32Array>();
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map((key) => store.get(key)),
      set: async (entries) => entries.forEach(([key, vector]) => store.set(key, vector)),
    };
    await wire.client.embeddings.createMany({ model, input: ['a'] }, { cache, vectorType: 'float32' });
    await wire.client.embeddings.createMany({ model, input: ['a'] }, { cache, vectorType: 'float32' });
    expect([...store.values()][0]).toEqual(vectorFor('a'));
  });

  test('a cached vector of another size than the dimensions asked for is fetched again', async () => {
    serve();
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map(() => new Float32Array(3).fill(1)),
      set: async () => {},
    };
    const input = texts(4);
    const res = await wire.client.embeddings.createMany({ model, input, dimensions: 8 }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(input);
    expectBelongs(res.data, input);
  });

  test('cache keys are scoped to the base URL host, the model and the dimensions', async () => {
    serve();
    const cache = createMemoryCache();
    await wire.client.embeddings.createMany({ model, input: ['a'], dimensions: 8 }, { cache });
    await wire.client.embeddings.createMany({ model, input: ['a'], dimensions: 16 }, { cache });
    await wire.client.embeddings.createMany(
      { model: 'text-embedding-3-large', input: ['a'], dimensions: 8 },
      { cache },
    );
    expect(wire.api.requests).toHaveLength(3);
    const { host } = new URL(wire.api.url);
    expect(resolveBatchConfig(wire.client, { model, dimensions: 8 }).cacheScope).toEqual({
      host,
      model,
      dimensions: 8,
    });
  });

  test('a cache whose get() answers the wrong number of entries stops the job before any request', async () => {
    serve();
    const cache: EmbeddingCache = { get: async () => [], set: async () => {} };
    await expect(wire.client.embeddings.createMany({ model, input: texts(5) }, { cache })).rejects.toThrow(
      '`cache.get()` must resolve to an array of 5 entries, one per key',
    );
    expect(wire.api.requests).toHaveLength(0);
  });

  test('a failing cache stops the job and its error is thrown', async () => {
    serve();
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map(() => undefined),
      set: async () => {
        throw new Error('disk full');
      },
    };
    await expect(
      wire.client.embeddings.createMany(
        { model, input: texts(50) },
        { cache, maxInputsPerRequest: 5, maxConcurrency: 1 },
      ),
    ).rejects.toThrow('disk full');
    expect(wire.api.requests).toHaveLength(1);
  });
});
