/** createRedisCache (src/redis/cache.ts) against a redis-server of the test's own, and the batch engine through it at the wire. */
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { cacheKey } from '../src/batch/cache.js';
import { resolveBatchConfig } from '../src/batch/config.js';
import { EmbeddingsError, InvalidArgumentError } from '../src/index.js';
import { createRedisCache, REDIS_CACHE_DEFAULTS, type RedisCacheOptions } from '../src/redis/index.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import {
  bitsOf,
  EDGE_VECTOR,
  expectNormalizeServedFromOneCache,
  expectSecondRunSendsNothing,
} from './support/cache-wire.js';
import { numberedTexts, vectorFor } from './support/openai-like.js';
import { describeWithRedis, startRedis, type RedisProcess } from './support/redis-server.js';
import { until } from './support/cli-helpers.js';

const model = 'text-embedding-3-small';

describeWithRedis('createRedisCache', () => {
  const wire = useBatchApi();
  let server: RedisProcess;
  /** A connection of the test's own, to look at what the cache stored and count commands. */
  let admin: Redis;
  const clients: Redis[] = [];

  /** A client as an application makes one; an 'error' listener keeps ioredis from logging outages. */
  const connect = (): Redis => {
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    clients.push(redis);
    return redis;
  };

  /** Calls of `command` the server has answered since the last CONFIG RESETSTAT. */
  const calls = async (command: string): Promise<number> => {
    const stats = await admin.info('commandstats');
    return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  };

  /** Calls of `command` that reached the server since the last CONFIG RESETSTAT, whether it ran or refused them. */
  const reached = async (command: string): Promise<number> => {
    const stats = await admin.info('commandstats');
    const line = new RegExp(`cmdstat_${command}:(.*)`).exec(stats)?.[1] ?? '';
    return ['calls', 'rejected_calls', 'failed_calls'].reduce(
      (sum, field) => sum + Number(new RegExp(`(?:^|,)${field}=(\\d+)`).exec(line)?.[1] ?? 0),
      0,
    );
  };

  const keyOf = (text: string): string =>
    REDIS_CACHE_DEFAULTS.prefix + cacheKey(resolveBatchConfig(wire.client, { model }).cacheScope, text);

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    admin.on('error', () => {});
  });
  beforeEach(async () => {
    await admin.flushall();
    await admin.config('RESETSTAT');
  });
  afterEach(() => {
    vi.useRealTimers();
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  test('a second worker running the same texts sends no request and gets the vectors bit for bit', async () => {
    await expectSecondRunSendsNothing(
      wire,
      createRedisCache({ redis: connect() }),
      createRedisCache({ redis: connect() }),
    );
  });

  test('one cache serves normalize: true and normalize: false', async () => {
    await expectNormalizeServedFromOneCache(wire, createRedisCache({ redis: connect() }));
  });

  test('stores each vector as its raw little-endian float32 bytes under prefix + key', async () => {
    wire.serve();
    const input = numberedTexts(3);
    await wire.client.embeddings.createMany({ model, input }, { cache: createRedisCache({ redis: connect() }) });
    for (const text of input) {
      expect(await admin.getBuffer(keyOf(text))).toEqual(bitsOf([vectorFor(text)])[0]);
    }
    expect(await admin.dbsize()).toBe(3);
  });

  test('keeps special float32 values exactly', async () => {
    const cache = createRedisCache({ redis: connect(), prefix: 'edge:' });
    await cache.set([['k', EDGE_VECTOR]]);
    expect(await admin.getBuffer('edge:k')).toEqual(bitsOf([EDGE_VECTOR])[0]);
    const [read] = await cache.get(['k']);
    expect(bitsOf([read!])).toEqual(bitsOf([EDGE_VECTOR]));
  });

  test('reads with one MGET per get(), whatever the number of keys', async () => {
    const cache = createRedisCache({ redis: connect() });
    await cache.set([['a', Float32Array.of(1, 2)]]);
    expect(await cache.get(Array.from({ length: 1000 }, (_, i) => (i === 500 ? 'a' : `missing ${i}`)))).toSatisfy(
      (found: unknown[]) => found.filter(Boolean).length === 1,
    );
    await cache.get(['a', 'b']);
    expect(await calls('mget')).toBe(2);
    expect(await calls('get')).toBe(0);
  });

  test('a batch job reads with one MGET per get() call and writes one pipeline of SETs per request', async () => {
    wire.serve();
    const redis = connect();
    const pipelines = vi.spyOn(redis, 'pipeline');
    const cache = createRedisCache({ redis });
    const gets = vi.spyOn(cache, 'get');
    const input = numberedTexts(250);
    await wire.client.embeddings.createMany({ model, input }, { cache, maxInputsPerRequest: 50 });
    expect(wire.api.requests).toHaveLength(5);
    expect(gets).toHaveBeenCalled();
    expect(await calls('mget')).toBe(gets.mock.calls.length);
    expect(gets.mock.calls.flatMap(([keys]) => keys)).toHaveLength(250);
    expect(pipelines).toHaveBeenCalledTimes(5);
    expect(await calls('set')).toBe(250);
  });

  test('a rerun sends only the texts the cache lacks', async () => {
    wire.serve();
    const cache = createRedisCache({ redis: connect() });
    await wire.client.embeddings.createMany({ model, input: numberedTexts(100).slice(0, 70) }, { cache });
    wire.server.seen.length = 0;
    const res = await wire.client.embeddings.createMany({ model, input: numberedTexts(100) }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(numberedTexts(100).slice(70));
    expectBelongs(res.data, numberedTexts(100));
  });

  test('ttlSeconds sets an expiry on every vector written; without it none is set', async () => {
    const timed = createRedisCache({ redis: connect(), prefix: 'timed:', ttlSeconds: 3600 });
    const kept = createRedisCache({ redis: connect(), prefix: 'kept:' });
    await timed.set([['a', Float32Array.of(1)]]);
    await kept.set([['a', Float32Array.of(1)]]);
    const ttl = await admin.ttl('timed:a');
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(await admin.ttl('kept:a')).toBe(-1);
  });

  test.each([
    ['7 bytes', Buffer.alloc(7, 1)],
    ['an empty value', Buffer.alloc(0)],
    ['JSON text of 9 bytes', Buffer.from('[0.1,2.5]')],
    ['a NaN', Buffer.from(Float32Array.of(1, Number.NaN).buffer)],
    ['an Infinity', Buffer.from(Float32Array.of(Number.POSITIVE_INFINITY, 1).buffer)],
  ])('a stored value of %s is a miss, and the job embeds that text again', async (_what, value) => {
    wire.serve();
    const cache = createRedisCache({ redis: connect() });
    const input = numberedTexts(4);
    await wire.client.embeddings.createMany({ model, input }, { cache });
    await admin.set(keyOf(input[2]!), value);
    expect((await cache.get([keyOf(input[2]!).slice(REDIS_CACHE_DEFAULTS.prefix.length)]))[0]).toBeUndefined();
    wire.server.seen.length = 0;
    const res = await wire.client.embeddings.createMany({ model, input }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual([input[2]]);
    expectBelongs(res.data, input);
    expect(await admin.getBuffer(keyOf(input[2]!))).toEqual(bitsOf([vectorFor(input[2]!)])[0]);
  });

  test('Redis stopped mid-run: one warning, every input embedded exactly once; the cache is used again once Redis is back', async () => {
    const warnings: string[] = [];
    const redis = connect();
    const cache = createRedisCache({ redis, onWarning: (message) => warnings.push(message) });
    wire.serve({
      hold: async (_request, all) => {
        if (all.length === 3) await server.stop();
      },
    });
    const input = numberedTexts(500);
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { cache, maxInputsPerRequest: 50, maxConcurrency: 1 },
    );
    expectBelongs(res.data, input);
    expect(res.data.map((item) => item.index)).toEqual(input.map((_text, i) => i));
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(input);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^Redis cache: (MGET|SET) of 50 keys failed: .+; reads are misses and writes are skipped/,
    );

    await server.restart();
    await admin.ping();
    await until(() => redis.status === 'ready');
    // The retry interval passes on the clock the cache reads, not in real time.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + REDIS_CACHE_DEFAULTS.retryAfter + 1);
    wire.server.seen.length = 0;
    await wire.client.embeddings.createMany({ model, input: input.slice(0, 100) }, { cache });
    expect(await admin.dbsize()).toBe(100);
    wire.server.seen.length = 0;
    await wire.client.embeddings.createMany({ model, input: input.slice(0, 100) }, { cache });
    expect(wire.server.seen).toHaveLength(0);

    // A later outage is warned about again.
    await server.stop();
    await wire.client.embeddings.createMany({ model, input: ['after'] }, { cache });
    expect(warnings).toHaveLength(2);
    await server.restart();
    await admin.ping();
  });

  test('after a failure, calls within REDIS_CACHE_DEFAULTS.retryAfter send nothing to Redis and miss; the first after it asks again', async () => {
    // A user refused MGET: the connection stays up and each MGET reaches Redis, which refuses it.
    await admin.acl('SETUSER', 'no-mget', 'on', 'nopass', '~*', '&*', '+@all', '-mget');
    const redis = new Redis(server.url, { username: 'no-mget', password: 'any', maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    clients.push(redis);
    await redis.ping();
    const warnings: string[] = [];
    const cache = createRedisCache({ redis, onWarning: (message) => warnings.push(message) });
    await admin.set(`${REDIS_CACHE_DEFAULTS.prefix}stored`, Buffer.from(Float32Array.of(1, 2).buffer));
    await admin.config('RESETSTAT');
    // The window is measured on the clock the cache reads, moved by hand.
    vi.useFakeTimers({ toFake: ['Date'] });
    const failedAt = Date.now();
    expect(await cache.get(['stored'])).toEqual([undefined]);
    expect(await reached('mget')).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Redis cache: MGET of 1 keys failed: NOPERM /);

    // Redis would answer now: only the window keeps the cache away from it.
    await admin.acl('SETUSER', 'no-mget', '+mget');
    vi.setSystemTime(failedAt + REDIS_CACHE_DEFAULTS.retryAfter - 1);
    expect(await cache.get(['stored'])).toEqual([undefined]);
    await cache.set([['written', Float32Array.of(3)]]);
    expect(await reached('mget')).toBe(1);
    expect(await reached('set')).toBe(0);
    expect(await admin.exists(`${REDIS_CACHE_DEFAULTS.prefix}written`)).toBe(0);

    vi.setSystemTime(failedAt + REDIS_CACHE_DEFAULTS.retryAfter);
    expect(await cache.get(['stored'])).toEqual([Float32Array.of(1, 2)]);
    expect(await reached('mget')).toBe(2);
    await cache.set([['written', Float32Array.of(3)]]);
    expect(await reached('set')).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  test("onError: 'throw' stops the job with an EmbeddingsError that names the command", async () => {
    wire.serve();
    const redis = connect();
    await redis.ping();
    const cache = createRedisCache({ redis, onError: 'throw' });
    await server.stop();
    try {
      const job = wire.client.embeddings.createMany({ model, input: numberedTexts(5) }, { cache });
      await expect(job).rejects.toThrow(EmbeddingsError);
      await expect(job).rejects.toThrow(/^Redis cache: MGET of 5 keys failed: /);
      expect(wire.api.requests).toHaveLength(0);
    } finally {
      await server.restart();
      await admin.ping();
    }
  });

  test.each<[string, Partial<RedisCacheOptions>, string]>([
    [
      'no client',
      { redis: undefined },
      '`redis` must be an ioredis client, with mgetBuffer() and pipeline() (got undefined)',
    ],
    ['ttlSeconds 0', { ttlSeconds: 0 }, '`ttlSeconds` must be an integer ≥ 1 (got 0)'],
    ['ttlSeconds 1.5', { ttlSeconds: 1.5 }, '`ttlSeconds` must be an integer ≥ 1 (got 1.5)'],
    ['timeout 0', { timeout: 0 }, '`timeout` must be an integer from 1 to 2147483647 ms (got 0)'],
    ['onError', { onError: 'ignore' as 'warn' }, "`onError` must be 'warn' or 'throw' (got \"ignore\")"],
    ['prefix', { prefix: 1 as unknown as string }, '`prefix` must be a string (got number)'],
  ])('refuses %s naming the option and the value', (_what, options, message) => {
    const make = () => createRedisCache({ redis: admin, ...options });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(message);
  });

  // A server that accepts connections and never answers: Redis hung, not down.
  describe('against a Redis that never answers', () => {
    let silent: Server;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    test('a Redis that does not answer within timeout is a miss and a warning, not a hung job', async () => {
      wire.serve();
      const { port } = silent.address() as { port: number };
      const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null });
      redis.on('error', () => {});
      clients.push(redis);
      const warnings: string[] = [];
      const cache = createRedisCache({ redis, timeout: 50, onWarning: (message) => warnings.push(message) });
      const input = numberedTexts(10);
      const res = await wire.client.embeddings.createMany({ model, input }, { cache });
      expectBelongs(res.data, input);
      expect(warnings).toEqual([
        'Redis cache: MGET of 10 keys failed: no answer within 50 ms; reads are misses and writes are skipped until Redis answers again',
      ]);
    });
  });
});

test('embedrail/redis loads where ioredis is not installed: it imports ioredis types only', async () => {
  vi.resetModules();
  vi.doMock('ioredis', () => {
    throw new Error('ioredis is not installed');
  });
  try {
    const entry = await import('../src/redis/index.js');
    expect(typeof entry.createRedisCache).toBe('function');
  } finally {
    vi.doUnmock('ioredis');
    vi.resetModules();
  }
});
