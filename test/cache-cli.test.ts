/** `embedrail embed|search --cache <redis URL | directory>` (src/cli/cache.ts) against the local server, requests counted there. */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openCache, withoutPassword } from '../src/cli/cache.js';
import { UsageError } from '../src/cli/io.js';
import { capture, embedHarness, readJsonl, run } from './support/cli-helpers.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';
import { describeWithRedis, startRedis, type RedisProcess } from './support/redis-server.js';
import { Readable } from 'node:stream';

const harness = embedHarness();
const lines = Array.from({ length: 120 }, (_, i) => `cached text number ${i}`).join('\n');

/** Runs `embed` twice into two outputs with the same --cache, and says what the server saw each time. */
async function twice(cache: string) {
  const input = harness.input(`in-${Math.random().toString(36).slice(2)}.txt`, lines);
  const outs = [harness.out(), harness.out()];
  const first = await harness.embed([input, '--out', outs[0]!, '--batch-size', '50', '--cache', cache]);
  const second = await harness.embed([input, '--out', outs[1]!, '--batch-size', '50', '--cache', cache]);
  // Lines come in the order requests complete (hits first): compare them sorted.
  return { first, second, outputs: outs.map((out) => readFileSync(out, 'utf8').split('\n').sort()) };
}

/** `search` against the local server; `requests` is what the server saw. */
async function search(args: string[]) {
  const before = harness.state.server.stats.embeddings;
  const result = await run(['search', ...args, '--base-url', harness.state.url]);
  return { ...result, requests: harness.state.server.stats.embeddings - before };
}

describe('--cache <directory>', () => {
  test('a second embed of the same file sends nothing and writes the same vectors', async () => {
    const { first, second, outputs } = await twice(harness.dir.path('vectors'));
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(first.requests).toBe(3);
    expect(second.requests).toBe(0);
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[0]).toHaveLength(121);
  });

  test('a second search of the same query sends nothing and prints the same hits', async () => {
    const cache = harness.dir.path('search-vectors');
    const input = harness.input('search.txt', lines);
    const out = harness.out();
    expect((await harness.embed([input, '--out', out])).code).toBe(0);
    const first = await search([out, 'cached text', '--cache', cache]);
    const second = await search([out, 'cached text', '--cache', cache]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect([first.requests, second.requests]).toEqual([1, 0]);
    expect(second.stdout).toBe(first.stdout);
    expect(first.stdout.split('\n').filter(Boolean)).toHaveLength(5);
  });

  test('a folder that cannot be made is a usage error naming --cache, before anything is sent', async () => {
    const file = harness.input('not-a-folder', '');
    const input = harness.input('few.txt', 'a\nb');
    const result = await harness.embed([input, '--out', harness.out(), '--cache', `${file}/cache`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^embedrail: --cache '${file}/cache' cannot be created: ENOTDIR`));
    expect(result.requests).toBe(0);
  });
});

describe('--cache redis://...', () => {
  test('a Redis that cannot be reached is a usage error before anything is sent, and the password is never printed', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const input = harness.input('unreachable.txt', 'a\nb');
    const result = await harness.embed([
      input,
      '--out',
      harness.out(),
      '--cache',
      `redis://user:s3cret-pass@127.0.0.1:${port}/0`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(
        `^embedrail: --cache redis://\\*\\*\\*@127\\.0\\.0\\.1:${port}/0: cannot connect to Redis: .*ECONNREFUSED`,
      ),
    );
    expect(result.stderr + result.stdout).not.toContain('s3cret');
    expect(result.requests).toBe(0);
  });

  test('without ioredis installed, the error names the option and says to install it', async () => {
    const io = { stdin: Readable.from([]), stdout: capture().stream, stderr: capture().stream };
    const missing = () =>
      Promise.reject(Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    const opening = openCache('rediss://:hunter2@cache.example:6380', io, missing);
    await expect(opening).rejects.toThrow(UsageError);
    await expect(opening).rejects.toThrow(
      '--cache rediss://***@cache.example:6380 needs the ioredis package, which is not installed: npm install ioredis',
    );
  });

  test.each([
    ['redis://:pw@host:6379', 'redis://***@host:6379'],
    ['rediss://user:pw@host/2', 'rediss://***@host/2'],
    ['REDIS://pw@host', 'REDIS://***@host'],
    ['redis://u:p@ss@host:6379/0', 'redis://***@host:6379/0'],
    ['redis://host:6379', 'redis://host:6379'],
  ])('prints %s as %s', (url, shown) => {
    expect(withoutPassword(url)).toBe(shown);
  });
});

describeWithRedis('--cache redis:// against a redis-server', () => {
  const api = useFakeApi();
  let redis: RedisProcess;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  /** Connections the server has besides the test's own. */
  const otherClients = async (): Promise<number> =>
    String(await admin.client('LIST'))
      .split('\n')
      .filter(Boolean).length - 1;

  test('a second embed sends nothing and writes the same vectors; each run closes its connection', async () => {
    const { first, second, outputs } = await twice(`${redis.url}/0`);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect([first.requests, second.requests]).toEqual([3, 0]);
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[0]).toHaveLength(121);
    expect(await admin.dbsize()).toBe(120);
    expect(await otherClients()).toBe(0);
  });

  test('a second search of the same query sends nothing; the connection is closed', async () => {
    const input = harness.input('search-redis.txt', lines);
    const out = harness.out();
    expect((await harness.embed([input, '--out', out])).code).toBe(0);
    const first = await search([out, 'a query for redis', '--cache', redis.url]);
    const second = await search([out, 'a query for redis', '--cache', redis.url]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect([first.requests, second.requests]).toEqual([1, 0]);
    expect(second.stdout).toBe(first.stdout);
    expect(await otherClients()).toBe(0);
  });

  test('Redis stopped during a run: one warning on stderr, and every input is still embedded', async () => {
    const seen = openAILike({
      hold: async (_request, all) => {
        if (all.length === 2) await redis.stop();
      },
    });
    api.use(...seen.handlers);
    const input = harness.input('outage.txt', lines);
    const out = harness.out();
    try {
      const result = await run([
        'embed',
        input,
        '--out',
        out,
        '--batch-size',
        '20',
        '--concurrency',
        '1',
        '--cache',
        redis.url,
        '--base-url',
        api.url,
      ]);
      expect(result.code).toBe(0);
      const warnings = result.stderr.split('\n').filter((line) => line.startsWith('embedrail: warning:'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^embedrail: warning: Redis cache: (MGET|SET) of \d+ keys failed: /);
      expect(seen.seen.flatMap((request) => request.texts).sort()).toEqual(lines.split('\n').sort());
      expect(readJsonl(out).map((line) => line.id)).toHaveLength(120);
    } finally {
      await redis.restart();
      await admin.ping();
    }
  });

  test('stores what the library stores: raw float32 bytes under embedrail:vector:<sha256>', async () => {
    await admin.flushall();
    const input = harness.input('one.txt', 'just one text');
    const out = harness.out();
    writeFileSync(input, 'just one text');
    expect((await harness.embed([input, '--out', out, '--cache', redis.url])).code).toBe(0);
    const [key] = await admin.keys('*');
    expect(key).toMatch(/^embedrail:vector:[0-9a-f]{64}$/);
    const stored = await admin.getBuffer(key!);
    const written = (JSON.parse(readFileSync(out, 'utf8')) as { embedding: number[] }).embedding;
    expect(stored!.byteLength).toBe(64 * 4);
    // The output is normalised, the cache keeps the server's vector: same direction.
    const raw = Array.from(new Float32Array(new Uint8Array(stored!).buffer));
    const norm = Math.hypot(...raw);
    raw.forEach((x, i) => expect(x / norm).toBeCloseTo(written[i]!, 5));
  });
});
