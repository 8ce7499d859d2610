/**
 * RedisRateLimiter across processes and through Redis failures: workers in child processes
 * with clocks seconds apart, a worker killed with SIGKILL while it holds a turn, Redis stopped
 * (each worker on a local share, one warning, back on Redis once it answers) and restarted
 * with empty memory in the middle of a job.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EmbeddingsClient, type RateLimitWait } from '../src/index.js';
import { RedisRateLimiter, type RedisRateLimiterOptions } from '../src/redis/index.js';
import { createServer, type LocalServer } from '../src/server/index.js';
import { bundleForChild } from './support/bundle.js';
import { describeWithRedis, startRedis, type RedisProcess } from './support/redis-server.js';

const model = 'text-embedding-3-small';
const texts = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} text number ${i}`);
const every = (n: number) => Array.from({ length: n }, (_, i) => i);
let keys = 0;
const freshKey = () => `workers-${process.pid}-${++keys}`;

/** Turns granted at once, before the first wait: what the worker's local share holds. */
async function turnsAtOnce(limiter: RedisRateLimiter): Promise<number> {
  for (let granted = 0; ; granted++) {
    const controller = new AbortController();
    const stop = (wait: RateLimitWait) => controller.abort(new Error(`waits for ${wait.reason}`));
    try {
      (await limiter.acquire({ tokens: 100, signal: controller.signal, onWait: stop })).cancel();
    } catch (error) {
      expect((error as Error).message).toBe('waits for rate-limit');
      return granted;
    }
  }
}

function buildWorker(): Promise<string> {
  return bundleForChild('test/support/redis-worker.ts', 'worker', 'redis-test');
}

describeWithRedis('RedisRateLimiter across processes', () => {
  let redis: RedisProcess;
  let worker: string;
  const connections: Redis[] = [];
  const servers: LocalServer[] = [];
  beforeAll(async () => {
    [redis, worker] = await Promise.all([startRedis(), buildWorker()]);
  }, 60_000);
  afterAll(async () => {
    for (const connection of connections) connection.disconnect();
    for (const server of servers) await server.close();
    await redis?.stop();
  });
  const serve = async () => {
    // 1,200 requests a minute held as 20 a second.
    const server = createServer({ dimensions: 8, rpm: 1200, burstSeconds: 1 });
    servers.push(server);
    return { server, url: (await server.listen(0)).url };
  };
  const connect = (url = redis.url) => {
    const connection = new Redis(url);
    // Redis stopped on purpose: ioredis reports each refused reconnection as an error event.
    connection.on('error', () => undefined);
    connections.push(connection);
    return connection;
  };
  /** Runs `body` with a Redis of its own, to stop or restart, stopped at the end whatever happens. */
  const withOwnRedis = async (body: (own: RedisProcess) => Promise<void>) => {
    const own = await startRedis();
    try {
      await body(own);
    } finally {
      await own.stop();
    }
  };
  /** A worker on `url` that moves to its local share 200 ms after Redis stops answering, quietly unless told. */
  const cutOffWorker = (url: string, options: Omit<RedisRateLimiterOptions, 'redis'>) =>
    new RedisRateLimiter({
      redis: connect(url),
      timeoutMs: 200,
      // Longer than the test may take: a turn left behind in Redis would hold the line past it.
      leaseMs: 120_000,
      onWarning: () => undefined,
      ...options,
    });
  /** Starts a worker process; `line` resolves with the first JSON line it prints. */
  const startWorker = (task: Record<string, unknown>) => {
    const child = spawn(process.execPath, [worker, JSON.stringify({ redisUrl: redis.url, ...task })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as Record<string, unknown>);
      });
      child.on('exit', (code) => reject(new Error(`worker exited with ${String(code)} before answering`)));
    });
    return { child, line };
  };

  test('three worker processes whose clocks differ by over a minute share one budget: every input once, at most two 429s', async () => {
    const { server, url } = await serve();
    const key = freshKey();
    const skews = [-30_000, 0, 45_000];
    const workers = skews.map((skewMs, i) =>
      startWorker({ mode: 'embed', key, url, count: 150, tag: `w${i}`, skewMs }),
    );
    const results = await Promise.all(workers.map((w) => w.line));
    for (const result of results) expect(result).toEqual({ indexes: every(150), failures: 0 });
    expect(server.stats.embeddings).toBe(90);
    // Each process pacing alone meets dozens; shared, a 429 is rare (a third process's answer
    // may cross a grant on a loaded machine), and two of 90 is the most seen.
    expect(server.stats.rateLimited).toBeLessThanOrEqual(2);
  }, 60_000);

  test('a worker killed with SIGKILL while it holds the only turn does not hold it past its lease', async () => {
    // Nothing is known of the limits yet: one request alone until an answer comes. The worker
    // holding it dies; its lease ends 1 s later and the turn comes to the next in line.
    const key = freshKey();
    const holder = startWorker({ mode: 'hold', key, leaseMs: 1000 });
    await holder.line;
    const limiter = new RedisRateLimiter({ redis: connect(), key, leaseMs: 1000 });
    const waits: RateLimitWait[] = [];
    const next = limiter.acquire({ tokens: 1, onWait: (wait) => waits.push(wait) });
    await expect.poll(() => waits.length).toBe(1);
    expect(waits[0]).toEqual({ untilMs: undefined, reason: 'slow-start' });
    holder.child.kill('SIGKILL');
    const grant = await next;
    expect(limiter.snapshot().inFlight).toBe(1);
    grant.cancel();
  }, 20_000);

  test(
    'Redis stopped: the worker paces on its local share, warns once, and is back on Redis once it answers',
    () =>
      withOwnRedis(async (own) => {
        const { url } = await serve();
        const key = freshKey();
        const warnings: string[] = [];
        const rateLimiter = cutOffWorker(own.url, {
          key,
          retryMs: 200,
          onWarning: (message) => warnings.push(message),
        });
        const client = new EmbeddingsClient({ baseURL: url, apiKey: 'k', rateLimiter, maxRetries: 5 });
        const job = (tag: string) =>
          client.embeddings.createMany({ model, input: texts(100, tag) }, { maxInputsPerRequest: 5 });
        expect((await job('before')).data.map((d) => d.index)).toEqual(every(100));
        await own.stop();
        // Its first turn after Redis is gone comes from the local share, which already holds the
        // budget the workers had learnt (one worker alive: all of it), before any answer of its own.
        const turn = await rateLimiter.acquire({ tokens: 1 });
        expect(rateLimiter.snapshot().requests).toMatchObject({ perMinute: 1200, source: 'header', burst: 20 });
        turn.cancel();
        expect((await job('down')).data.map((d) => d.index)).toEqual(every(100));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(
          /^Redis did not answer for the rate limit budget embedrail:rate:\{workers-\d+-\d+\}/,
        );
        await own.restart();
        const probe = connect(own.url);
        await expect
          .poll(
            async () => {
              await job(`after-${Date.now()}`);
              return probe.exists(`embedrail:rate:{${key}}`);
            },
            { timeout: 10_000, interval: 300 },
          )
          .toBe(1);
        expect(warnings).toHaveLength(1);
      }),
    60_000,
  );

  test(
    'Redis stopped under two workers: each paces on its half of what was left, to the request, not on the whole',
    () =>
      withOwnRedis(async (own) => {
        const key = freshKey();
        const a = cutOffWorker(own.url, { key });
        const b = cutOffWorker(own.url, { key });
        // An answer teaches the budget: 6 requests a minute (one per 10 s, so nothing refills
        // meanwhile that could move a share by one), 20 at once, 19 left after it; tokens likewise.
        (await a.acquire({ tokens: 100 })).complete({
          status: 200,
          headers: {
            'x-ratelimit-limit-requests': '6',
            'x-ratelimit-remaining-requests': '19',
            'x-ratelimit-limit-tokens': '6000',
            'x-ratelimit-remaining-tokens': '39900',
          },
        });
        await expect.poll(() => a.snapshot().requests.burst).toBe(20);
        // Each takes a turn after the other was seen in Redis, so each knows of two workers.
        (await b.acquire({ tokens: 100 })).cancel();
        await expect.poll(() => b.snapshot().inFlight).toBe(0);
        (await a.acquire({ tokens: 100 })).cancel();
        await expect.poll(() => a.snapshot().inFlight).toBe(0);
        const left = { a: a.snapshot(), b: b.snapshot() };
        expect(left.a.requests.available).toBe(17);
        expect(left.b.requests.available).toBe(18);
        await own.stop();

        // Half of what each saw left (17 and 18 requests; 39,700 and 39,800 tokens), rounded down.
        expect(await turnsAtOnce(a)).toBe(8);
        expect(await turnsAtOnce(b)).toBe(9);
        for (const limiter of [a, b]) {
          expect(limiter.snapshot().requests).toMatchObject({ perMinute: 3, source: 'header', burst: 10 });
          expect(limiter.snapshot().tokens).toMatchObject({ perMinute: 3000, source: 'header', burst: 20_000 });
        }
      }),
    30_000,
  );

  test(
    'Redis stopped: a configured budget paces on what Redis had left of it, not on a full share',
    () =>
      withOwnRedis(async (own) => {
        // 6 requests a minute, configured: one per 10 s, so nothing refills within the test.
        const limiter = cutOffWorker(own.url, { key: freshKey(), requestsPerMinute: 6 });
        for (let i = 0; i < 4; i++) (await limiter.acquire({ tokens: 100 })).cancel();
        await expect.poll(() => limiter.snapshot().inFlight).toBe(0);
        expect(limiter.snapshot().requests).toMatchObject({ source: 'configured', available: 2 });
        await own.stop();
        // The local share (one worker: all of it) holds the 2 left, where it started with all 6.
        expect(await turnsAtOnce(limiter)).toBe(2);
        expect(limiter.snapshot().requests).toMatchObject({ perMinute: 6, source: 'configured', burst: 6 });
      }),
    30_000,
  );

  test(
    'Redis restarted with empty memory in the middle of two jobs: every input exactly once',
    () =>
      withOwnRedis(async (own) => {
        const { server, url } = await serve();
        const key = freshKey();
        const worker = (tag: string) =>
          new EmbeddingsClient({
            baseURL: url,
            apiKey: 'k',
            maxRetries: 5,
            rateLimiter: new RedisRateLimiter({ redis: connect(own.url), key, onWarning: () => undefined }),
          }).embeddings.createMany({ model, input: texts(300, tag) }, { maxInputsPerRequest: 5 });
        const jobs = Promise.all([worker('a'), worker('b')]);
        await expect.poll(() => server.stats.embeddings, { timeout: 10_000 }).toBeGreaterThan(40);
        await own.restart();
        const [a, b] = await jobs;
        expect(a.data.map((d) => d.index)).toEqual(every(300));
        expect(b.data.map((d) => d.index)).toEqual(every(300));
        expect(server.stats.embeddings).toBe(120);
      }),
    60_000,
  );
});
