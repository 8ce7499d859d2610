// Issue 12, proof 4: a 100,000-text createMany() job with createRedisCache against the local
// server (in another process), then the same job again from a second client on a second Redis
// connection, as another worker would run it. The second run must send no request and return
// the same vectors bit for bit; the time of each run is printed. Starts a redis-server of its
// own on a free loopback port (no persistence) and stops it at the end.
import { EmbeddingsClient } from '../dist/index.js';
import { createRedisCache } from '../dist/redis.js';
import { startChildServer } from './child-server.mjs';
import { textAt } from './corpus.mjs';
import { redisMissing, startRedis } from './redis-server.mjs';

const MB = 1024 * 1024;

/** An ioredis client of the bench's Redis, connected. */
async function connectTo(Redis, redisServer) {
  const redis = new Redis({ host: '127.0.0.1', port: redisServer.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  return redis;
}

/** Calls of each command since the last CONFIG RESETSTAT. */
async function commandCalls(redis) {
  const stats = await redis.info('commandstats');
  const calls = (name) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return { mget: calls('mget'), set: calls('set') };
}

/**
 * @param {{ inputs?: number, dimensions?: number }} options
 */
export async function cacheRedisBench({ inputs = 100_000, dimensions = 256 } = {}) {
  const missing = redisMissing();
  if (missing !== undefined) {
    console.log(`\n4. Redis cache: skipped (${missing})`);
    return { skipped: true };
  }
  let Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch {
    console.log('\n4. Redis cache: skipped (ioredis is not installed)');
    return { skipped: true };
  }
  const redisServer = await startRedis();
  const server = await startChildServer({ dimensions });
  const admin = await connectTo(Redis, redisServer);
  const input = Array.from({ length: inputs }, (_, i) => textAt(i));
  const model = 'local-hash-embedding';

  /** One worker: its own client and Redis connection, the whole job, timed. */
  const runOnce = async () => {
    const redis = await connectTo(Redis, redisServer);
    const client = new EmbeddingsClient({ baseURL: server.url });
    const before = (await server.stats()).embeddings;
    await admin.config('RESETSTAT');
    const started = performance.now();
    const res = await client.embeddings.createMany(
      { model, input },
      { cache: createRedisCache({ redis }), matrix: true },
    );
    const elapsedMs = performance.now() - started;
    const requests = (await server.stats()).embeddings - before;
    const calls = await commandCalls(admin);
    await client.close();
    await redis.quit();
    return { matrix: res.matrix, elapsedMs, requests, calls };
  };

  let first;
  let second;
  let usedMemory;
  try {
    first = await runOnce();
    usedMemory = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? 0);
    second = await runOnce();
  } finally {
    admin.disconnect();
    await server.close();
    await redisServer.stop();
  }
  const bytes = (matrix) => Buffer.from(matrix.data.buffer, matrix.data.byteOffset, matrix.data.byteLength);
  const identical =
    first.matrix.rows === inputs && second.matrix.rows === inputs && bytes(first.matrix).equals(bytes(second.matrix));
  const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const count = (n) => n.toLocaleString('en');

  console.log(
    `\n4. Redis cache: a ${count(inputs)}-text createMany() job twice with createRedisCache ` +
      `(${dimensions} dimensions, local server and redis-server on loopback)`,
  );
  console.log(
    `   run 1, empty cache:   ${count(first.requests)} requests, ${seconds(first.elapsedMs)}; ` +
      `Redis: ${count(first.calls.mget)} MGET, ${count(first.calls.set)} SET, ${(usedMemory / MB).toFixed(0)} MB used`,
  );
  console.log(
    `   run 2, second worker: ${count(second.requests)} requests, ${seconds(second.elapsedMs)}; ` +
      `Redis: ${count(second.calls.mget)} MGET, ${count(second.calls.set)} SET`,
  );
  const met = second.requests === 0 && identical;
  console.log(
    `   vectors identical bit for bit: ${identical ? 'yes' : 'NO'}   target (no request, same vectors): ${met ? 'met' : 'MISSED'}`,
  );
  return {
    firstMs: first.elapsedMs,
    secondMs: second.elapsedMs,
    firstRequests: first.requests,
    secondRequests: second.requests,
    identical,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const inputs = Number(process.argv[2] ?? 100_000);
  const dimensions = Number(process.argv[3] ?? 256);
  await cacheRedisBench({ inputs, dimensions });
}
