/** createKeyvCache (src/batch/cache-keyv.ts) on keyv 5 itself, and the batch engine through it at the wire. */
import Keyv from 'keyv';
import { describe, expect, test, vi } from 'vitest';
import { createKeyvCache, InvalidArgumentError, type KeyvStore } from '../src/index.js';
import { encodeFloat32Bytes } from '../src/batch/cache-bytes.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import {
  bitsOf,
  EDGE_VECTOR,
  expectNormalizeServedFromOneCache,
  expectSecondRunSendsNothing,
} from './support/cache-wire.js';
import { numberedTexts } from './support/openai-like.js';

const model = 'text-embedding-3-small';

describe('createKeyvCache with the batch engine', () => {
  const wire = useBatchApi();

  test('a second run of the same texts sends no request and gets the vectors bit for bit', async () => {
    const keyv = new Keyv();
    await expectSecondRunSendsNothing(wire, createKeyvCache(keyv), createKeyvCache(keyv));
  });

  test('one cache serves normalize: true and normalize: false', async () => {
    await expectNormalizeServedFromOneCache(wire, createKeyvCache(new Keyv()));
  });

  /** A keyv storage adapter whose every call fails, as a database that went away. */
  const brokenStore = (withGetMany: boolean) => ({
    get: () => Promise.reject(new Error('database is gone')),
    set: () => Promise.reject(new Error('database is gone')),
    delete: () => Promise.reject(new Error('database is gone')),
    clear: () => Promise.reject(new Error('database is gone')),
    ...(withGetMany && { getMany: () => Promise.reject(new Error('database is gone')) }),
  });

  test("a failing store that keyv reads key by key is read as misses, keyv's default: every text is embedded", async () => {
    wire.serve();
    const errors: unknown[] = [];
    const keyv = new Keyv({ store: brokenStore(false) });
    keyv.on('error', (error) => errors.push(error));
    const input = numberedTexts(30);
    const res = await wire.client.embeddings.createMany({ model, input }, { cache: createKeyvCache(keyv) });
    expectBelongs(res.data, input);
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(input);
    expect(errors.length).toBeGreaterThan(0);
  });

  test('a failing store that keyv reads with getMany stops the job with its error before any request', async () => {
    wire.serve();
    const keyv = new Keyv({ store: brokenStore(true) });
    keyv.on('error', () => {});
    const job = wire.client.embeddings.createMany(
      { model, input: numberedTexts(30) },
      { cache: createKeyvCache(keyv) },
    );
    await expect(job).rejects.toThrow('database is gone');
    expect(wire.api.requests).toHaveLength(0);
  });

  test('a stored value that is not a vector is a miss, and the job embeds that text again', async () => {
    wire.serve();
    const store = new Map<string, unknown>();
    const keyv = new Keyv({ store });
    const cache = createKeyvCache(keyv);
    const input = numberedTexts(3);
    await wire.client.embeddings.createMany({ model, input }, { cache });
    const [first] = [...store.keys()];
    await keyv.set(first!.replace(/^keyv:/, ''), 'not a vector');
    wire.server.seen.length = 0;
    const res = await wire.client.embeddings.createMany({ model, input }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toHaveLength(1);
    expectBelongs(res.data, input);
  });
});

describe('createKeyvCache', () => {
  test("keyv's default serializer keeps the bytes as ':base64:' in its JSON record and gives them back bit for bit", async () => {
    const store = new Map<string, unknown>();
    const cache = createKeyvCache(new Keyv({ store }));
    await cache.set([['edge', EDGE_VECTOR]]);
    const record = JSON.parse(store.get('keyv:edge') as string) as { value: string };
    expect(record.value).toBe(`:base64:${encodeFloat32Bytes(EDGE_VECTOR).toString('base64')}`);
    const [read] = await cache.get(['edge']);
    expect(bitsOf([read!])).toEqual(bitsOf([EDGE_VECTOR]));
  });

  test('a store keyv does not serialize for keeps a Buffer of its own, read back bit for bit', async () => {
    const store = new Map<string, { value: unknown }>();
    const cache = createKeyvCache(new Keyv({ store, serialize: undefined, deserialize: undefined }));
    const vector = Float32Array.of(1, -0, 3);
    await cache.set([['a', vector]]);
    vector[0] = 9;
    expect(Buffer.isBuffer(store.get('keyv:a')!.value)).toBe(true);
    const [read] = await cache.get(['a']);
    expect(bitsOf([read!])).toEqual(bitsOf([Float32Array.of(1, -0, 3)]));
  });

  test("reads a Buffer that a JSON.stringify serializer turned into { type: 'Buffer', data }", async () => {
    const cache = createKeyvCache(
      new Keyv({ serialize: JSON.stringify, deserialize: (text) => JSON.parse(text) as never }),
    );
    await cache.set([['edge', EDGE_VECTOR]]);
    const [read] = await cache.get(['edge']);
    expect(bitsOf([read!])).toEqual(bitsOf([EDGE_VECTOR]));
  });

  test('reads a plain base64 string of the bytes', async () => {
    const keyv = new Keyv();
    await keyv.set('a', encodeFloat32Bytes(EDGE_VECTOR).toString('base64'));
    const [read] = await createKeyvCache(keyv).get(['a']);
    expect(bitsOf([read!])).toEqual(bitsOf([EDGE_VECTOR]));
  });

  test.each([
    ['a number', 42],
    ['text that is not base64', 'hello world!'],
    ['base64 of 7 bytes', Buffer.alloc(7, 1).toString('base64')],
    ['bytes holding a NaN', encodeFloat32Bytes([Number.NaN])],
    ['an array of floats', [0.1, 0.2]],
    ['a Buffer-like object with a byte out of range', { type: 'Buffer', data: [0, 0, 128, 300] }],
  ])('a stored value of %s is a miss', async (_what, value) => {
    const keyv = new Keyv();
    await keyv.set('a', value);
    expect(await createKeyvCache(keyv).get(['a', 'missing'])).toEqual([undefined, undefined]);
  });

  test('uses getMany and setMany once per call when the store has them, and get and set per key when not', async () => {
    const keyv = new Keyv();
    const getMany = vi.spyOn(keyv, 'getMany');
    const setMany = vi.spyOn(keyv, 'setMany');
    const cache = createKeyvCache(keyv);
    await cache.set([
      ['a', Float32Array.of(1)],
      ['b', Float32Array.of(2)],
    ]);
    expect(await cache.get(['b', 'x', 'a'])).toEqual([Float32Array.of(2), undefined, Float32Array.of(1)]);
    expect([getMany.mock.calls.length, setMany.mock.calls.length]).toEqual([1, 1]);

    const map = new Map<string, unknown>();
    const plain: KeyvStore = {
      get: async (key) => map.get(key),
      set: async (key, value) => map.set(key, value),
    };
    const minimal = createKeyvCache(plain);
    await minimal.set([['a', Float32Array.of(1)]]);
    expect(await minimal.get(['a', 'b'])).toEqual([Float32Array.of(1), undefined]);
  });

  test('a store error thrown by keyv (throwOnErrors) rejects the call with it', async () => {
    const failing: KeyvStore = {
      get: () => Promise.reject(new Error('connection refused')),
      set: () => Promise.reject(new Error('connection refused')),
    };
    await expect(createKeyvCache(failing).get(['a'])).rejects.toThrow('connection refused');
  });

  test.each([
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object without get and set', {}, 'an object without them'],
  ])('refuses %s naming the argument', (_what, keyv, got) => {
    expect(() => createKeyvCache(keyv as KeyvStore)).toThrow(InvalidArgumentError);
    expect(() => createKeyvCache(keyv as KeyvStore)).toThrow(
      `\`keyv\` must be a keyv instance, with get(key) and set(key, value) methods (got ${got})`,
    );
  });
});
