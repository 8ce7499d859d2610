import { describe, expect, test } from 'vitest';
import { cacheKey, createMemoryCache } from '../src/batch/cache.js';
import { InvalidArgumentError } from '../src/errors.js';

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
    expect(cacheKey({ host: 'h', model: 'm', dimensions: 1 }, '2')).not.toBe(cacheKey({ host: 'h', model: 'm', dimensions: 12 }, ''));
  });
});

describe('createMemoryCache', () => {
  test('returns stored vectors by key and undefined for misses, in key order', async () => {
    const cache = createMemoryCache();
    await cache.set([['a', Float32Array.of(1, 2)], ['b', Float32Array.of(3)]]);
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
    await cache.set([['a', new Float32Array(8)], ['b', new Float32Array(8)]]);
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
