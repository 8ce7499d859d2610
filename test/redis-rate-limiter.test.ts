/**
 * RedisRateLimiter at the wire: the client's real requests against the local server enforcing
 * one budget for every client (buckets of one second, limits learnt from its headers), through
 * limiters on one key in Redis; and what each worker sees of the shared budget.
 */
import { getEventListeners } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddingsClient, InvalidArgumentError, type RateLimitWait } from '../src/index.js';
import { RedisRateLimiter, type RedisRateLimiterOptions } from '../src/redis/index.js';
import { createServer, localHashEmbedding, type LocalServer } from '../src/server/index.js';
import { describeWithRedis, startRedis, type RedisProcess } from './support/redis-server.js';

const model = 'text-embedding-3-small';
const texts = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} text number ${i}`);
let keys = 0;
/** A budget of its own for each test. */
const freshKey = () => `test-${process.pid}-${++keys}`;

/** Runs `body` with the process warnings emitted meanwhile collected in `warnings`. */
async function withProcessWarnings(body: (warnings: Error[]) => Promise<void>): Promise<void> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await body(warnings);
  } finally {
    process.off('warning', onWarning);
  }
}

describe('RedisRateLimiter options', () => {
  const redis = { defineCommand: () => undefined } as unknown as RedisRateLimiterOptions['redis'];
  test.each([
    [{ redis: undefined, key: 'k' }, '`redis` must be an ioredis client (got undefined)'],
    [{ redis, key: '' }, '`key` must be a non-empty string (got )'],
    [{ redis, key: 'k', requestsPerMinute: 0 }, '`requestsPerMinute` must be a number > 0 (got 0)'],
    [{ redis, key: 'k', tokensPerMinute: -5 }, '`tokensPerMinute` must be a number > 0 (got -5)'],
    [{ redis, key: 'k', timeoutMs: Number.NaN }, '`timeoutMs` must be a number > 0 (got NaN)'],
    [{ redis, key: 'k', leaseMs: 0 }, '`leaseMs` must be a number > 0 (got 0)'],
  ])('refuses %o before touching Redis', (options, message) => {
    expect(() => new RedisRateLimiter(options as RedisRateLimiterOptions)).toThrow(InvalidArgumentError);
    expect(() => new RedisRateLimiter(options as RedisRateLimiterOptions)).toThrow(message);
  });
});

describe('RedisRateLimiter without Redis', () => {
  test('turns come from the local share after the timeout, with one process warning coded EMBEDRAIL_REDIS_UNAVAILABLE', async () => {
    // Nothing listens on port 1: ioredis keeps the commands queued while it retries.
    const redis = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await withProcessWarnings(async (warnings) => {
        const limiter = new RedisRateLimiter({ redis, key: 'nowhere', timeoutMs: 100, requestsPerMinute: 600 });
        for (let i = 0; i < 3; i++) (await limiter.acquire({ tokens: 1 })).complete({ status: 200, headers: {} });
        await expect.poll(() => warnings.length).toBe(1);
        expect(warnings[0]).toMatchObject({ code: 'EMBEDRAIL_REDIS_UNAVAILABLE' });
        expect(warnings[0]!.message).toMatch(
          /^Redis did not answer for the rate limit budget embedrail:rate:\{nowhere\} \(no answer within 100 ms\)/,
        );
        expect(limiter.snapshot()).toMatchObject({ requests: { perMinute: 600, source: 'configured' } });
      });
    } finally {
      redis.disconnect();
    }
  });
});

describeWithRedis('RedisRateLimiter at the wire', () => {
  let redis: RedisProcess;
  const connections: Redis[] = [];
  const servers: LocalServer[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const connection of connections) connection.disconnect();
    for (const server of servers) await server.close();
    await redis?.stop();
  });
  /** Each worker has a connection of its own, as separate processes would. */
  const limiter = (options: Omit<RedisRateLimiterOptions, 'redis'>) => {
    const connection = new Redis(redis.url);
    connections.push(connection);
    // A loaded machine may hold Redis's answer past the default 300 ms: these tests are not about that.
    return new RedisRateLimiter({ redis: connection, timeoutMs: 5000, ...options });
  };
  const serve = async (options: Parameters<typeof createServer>[0]) => {
    const server = createServer({ dimensions: 8, ...options });
    servers.push(server);
    return { server, url: (await server.listen(0)).url };
  };

  test('two workers on one key share the server budget: every input once, a 429 rare (at most 5 of 100 requests)', async () => {
    // 1,200 requests a minute held as 20 a second; each worker would believe all 20 its own.
    const { server, url } = await serve({ rpm: 1200, burstSeconds: 1 });
    const key = freshKey();
    const worker = (tag: string) =>
      new EmbeddingsClient({ baseURL: url, apiKey: 'k', rateLimiter: limiter({ key }) }).embeddings.createMany(
        { model, input: texts(250, tag) },
        { maxInputsPerRequest: 5, maxConcurrency: 8 },
      );
    const [a, b] = await Promise.all([worker('a'), worker('b')]);
    for (const [res, tag] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      expect(res.data.map((d) => d.index)).toEqual(texts(250, tag).map((_, i) => i));
      res.data.forEach((d, i) => {
        const expected = localHashEmbedding(`${tag} text number ${i}`, 8);
        d.embedding.forEach((x, k) => expect(x).toBeCloseTo(expected[k]!, 6));
      });
    }
    expect(server.stats.embeddings).toBe(100);
    // Paced at the server's own refill, a turn granted in Redis and sent late (this one process
    // runs both workers and the server, and a loaded machine stalls it) reaches the server beside
    // the next one: a 429 of 7 ms. Three of 100 have been seen so; on two keys, 66 to 71.
    expect(server.stats.rateLimited).toBeLessThanOrEqual(5);
  }, 30_000);

  test('what one worker learnt from the headers paces another before it sees an answer of its own', async () => {
    const { url } = await serve({ rpm: 600, burstSeconds: 1 });
    const key = freshKey();
    const first = new EmbeddingsClient({ baseURL: url, apiKey: 'k', rateLimiter: limiter({ key }) });
    await first.embeddings.create({ model, input: 'one' });
    const second = limiter({ key });
    expect(second.snapshot().requests.perMinute).toBeUndefined();
    const grant = await second.acquire({ tokens: 3 });
    expect(second.snapshot()).toMatchObject({
      headerStyle: 'openai',
      requests: { perMinute: 600, source: 'header', burst: 10 },
      inFlight: 1,
    });
    grant.cancel();
  });

  test('a 429 answered to one worker pauses the others for its retry-after-ms', async () => {
    const key = freshKey();
    const a = limiter({ key, requestsPerMinute: 6000 });
    const b = limiter({ key, requestsPerMinute: 6000 });
    const grant = await a.acquire({ tokens: 1 });
    grant.complete({ status: 429, headers: { 'retry-after-ms': '800' } });
    await expect.poll(() => a.snapshot().rateLimited).toBe(1);
    const waits: RateLimitWait[] = [];
    const before = Date.now();
    const next = b.acquire({ tokens: 1, onWait: (wait) => waits.push(wait) });
    await expect.poll(() => waits.length).toBeGreaterThan(0);
    expect(waits[0]!.reason).toBe('429');
    // The pause is the server's (Redis's) since the answer: all but the round trips of 800 ms.
    expect(waits[0]!.untilMs! - before).toBeGreaterThan(600);
    expect(waits[0]!.untilMs! - before).toBeLessThanOrEqual(800);
    (await next).cancel();
  });

  test('a large request is served in its turn while another worker keeps asking for small ones', async () => {
    // 600,000 tokens a minute: 10,000 a second. The bucket is emptied, then a request of
    // 10,000 tokens waits for a whole second while small ones keep arriving behind it.
    const key = freshKey();
    const small = limiter({ key, tokensPerMinute: 600_000 });
    const large = limiter({ key, tokensPerMinute: 600_000 });
    (await small.acquire({ tokens: 600_000 })).complete({ status: 200, headers: {} });
    const largeWaits: RateLimitWait[] = [];
    let behindLarge: number | undefined;
    const big = large.acquire({ tokens: 10_000, onWait: (wait) => largeWaits.push(wait) }).then((grant) => {
      // Redis's line as its grant left it: the smalls still waiting behind it.
      behindLarge = large.snapshot().waiting;
      grant.complete({ status: 200, headers: {} });
    });
    // In Redis's line (a wait is reported only from Redis's answer), not merely asked for here.
    await expect.poll(() => largeWaits.map((wait) => wait.reason)).toContain('rate-limit');
    const order: number[] = [];
    const smalls = Array.from({ length: 10 }, (_, i) =>
      small.acquire({ tokens: 500 }).then((grant) => {
        order.push(i);
        grant.complete({ status: 200, headers: {} });
      }),
    );
    await Promise.all([big, ...smalls]);
    // Two connections may deliver two grants made a millisecond apart in either order, so the
    // large one's turn is read from Redis's line: none of the ten was served before it.
    expect(behindLarge).toBe(10);
    expect(order).toEqual(Array.from({ length: 10 }, (_, i) => i));
  }, 20_000);

  test('a waiter that gives up leaves the line at once: the one behind it does not wait for its lease', async () => {
    // Nothing known: one turn at a time. A waits first in line, B behind it; A is aborted.
    const key = freshKey();
    const holder = limiter({ key });
    const a = limiter({ key });
    const b = limiter({ key });
    const held = await holder.acquire({ tokens: 1 });
    const controller = new AbortController();
    const aWaits: RateLimitWait[] = [];
    const first = a.acquire({ tokens: 1, signal: controller.signal, onWait: (wait) => aWaits.push(wait) });
    await expect.poll(() => aWaits.length).toBe(1);
    const bWaits: RateLimitWait[] = [];
    const second = b.acquire({ tokens: 1, onWait: (wait) => bWaits.push(wait) });
    await expect.poll(() => bWaits.map((wait) => wait.reason)).toContain('queued');
    controller.abort(new Error('gave up'));
    await expect(first).rejects.toThrow('gave up');
    held.complete({
      status: 200,
      headers: { 'x-ratelimit-limit-requests': '600', 'x-ratelimit-remaining-requests': '9' },
    });
    // Its lease is the default 15 s: served well before, the ticket was taken out.
    const grant = await second;
    expect(b.snapshot().waiting).toBe(0);
    grant.cancel();
  }, 5_000);

  test('an unusable rate-limit header is ignored with one warning naming it', async () => {
    const warnings: string[] = [];
    const worker = limiter({ key: freshKey(), requestsPerMinute: 600, onWarning: (message) => warnings.push(message) });
    for (let i = 0; i < 3; i++) {
      (await worker.acquire({ tokens: 1 })).complete({
        status: 200,
        headers: { 'x-ratelimit-limit-requests': '-1', 'x-ratelimit-remaining-requests': '5' },
      });
    }
    await expect.poll(() => worker.snapshot().requests.source).toBe('configured');
    expect(warnings).toEqual(['Ignoring the rate-limit header x-ratelimit-limit-requests: "-1" (not a usable value)']);
  });

  test('without onWarning an unusable header is one process warning coded EMBEDRAIL_RATE_LIMIT_HEADER', async () => {
    await withProcessWarnings(async (warnings) => {
      const worker = limiter({ key: freshKey(), requestsPerMinute: 600 });
      for (let i = 0; i < 2; i++) {
        (await worker.acquire({ tokens: 1 })).complete({ status: 200, headers: { 'retry-after': 'soon' } });
      }
      // Process warnings are emitted on the next tick: by the one after, both answers' are in.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        code: 'EMBEDRAIL_RATE_LIMIT_HEADER',
        message: 'Ignoring the rate-limit header retry-after: "soon" (not a usable value)',
      });
    });
  });

  test('an onWait that aborts as its wait starts leaves the line at once, not when the wait would end', async () => {
    const worker = limiter({ key: freshKey(), requestsPerMinute: 1 });
    const grant = await worker.acquire({ tokens: 1 });
    const controller = new AbortController();
    // The next turn is a minute away: the abort comes inside onWait, while nobody sleeps to be woken.
    const aborted = worker.acquire({
      tokens: 1,
      signal: controller.signal,
      onWait: () => controller.abort(new Error('stop')),
    });
    // Within the test's 5 s, where the turn it waited for was a minute away.
    await expect(aborted).rejects.toThrow('stop');
    grant.cancel();
  }, 5_000);

  test('a request granted or aborted leaves no listener on its signal', async () => {
    const worker = limiter({ key: freshKey(), requestsPerMinute: 1 });
    const [granted, aborted] = [new AbortController(), new AbortController()];
    const grant = await worker.acquire({ tokens: 1, signal: granted.signal });
    const waits: RateLimitWait[] = [];
    const held = worker.acquire({ tokens: 1, signal: aborted.signal, onWait: (wait) => waits.push(wait) });
    await expect.poll(() => waits.length).toBe(1);
    aborted.abort(new Error('stop'));
    await expect(held).rejects.toThrow('stop');
    expect(getEventListeners(granted.signal, 'abort')).toHaveLength(0);
    expect(getEventListeners(aborted.signal, 'abort')).toHaveLength(0);
    grant.cancel();
  });

  test('budgets of different keys live side by side: one spent does not hold the other', async () => {
    const spent = limiter({ key: freshKey(), requestsPerMinute: 1 });
    const other = limiter({ key: freshKey(), requestsPerMinute: 1 });
    (await spent.acquire({ tokens: 1 })).complete({ status: 200, headers: {} });
    const waits: RateLimitWait[] = [];
    const controller = new AbortController();
    const held = spent.acquire({ tokens: 1, signal: controller.signal, onWait: (wait) => waits.push(wait) });
    await expect.poll(() => waits.length).toBe(1);
    expect(waits[0]).toMatchObject({ reason: 'rate-limit' });
    const waits2: RateLimitWait[] = [];
    (await other.acquire({ tokens: 1, onWait: (wait) => waits2.push(wait) })).complete({ status: 200, headers: {} });
    expect(waits2).toEqual([]);
    controller.abort(new Error('stop'));
    await expect(held).rejects.toThrow('stop');
  });

  test('a budget nobody touches expires from Redis', async () => {
    const key = freshKey();
    const shortLived = limiter({ key, keyTtlMs: 500, requestsPerMinute: 60 });
    (await shortLived.acquire({ tokens: 1 })).complete({ status: 200, headers: {} });
    const probe = new Redis(redis.url);
    connections.push(probe);
    const stored = `embedrail:rate:{${key}}`;
    await expect.poll(() => probe.pttl(stored)).toBeGreaterThan(0);
    expect(await probe.pttl(stored)).toBeLessThanOrEqual(500);
    await expect.poll(() => probe.exists(stored), { timeout: 3000 }).toBe(0);
  });

  test('a corrected token count moves the configured tokens budget in Redis', async () => {
    const key = freshKey();
    const a = limiter({ key, tokensPerMinute: 60_000 });
    (await a.acquire({ tokens: 1000 })).complete({ status: 200, headers: {} });
    a.reconcile({ charged: 1000, used: 21_000 });
    const b = limiter({ key, tokensPerMinute: 60_000 });
    const grant = await b.acquire({ tokens: 1 });
    // 60,000 less the 21,000 used and the 1 just taken (and a few refilled meanwhile).
    expect(b.snapshot().tokens.available).toBeGreaterThanOrEqual(38_999);
    expect(b.snapshot().tokens.available).toBeLessThan(39_500);
    grant.cancel();
  });
});
