// One worker process of bench/redis-limiter.mjs: its own client, paced by a RedisRateLimiter
// on the shared key (or alone, by the client's own in-memory limiter), embedding `count`
// texts of the corpus from `offset`. Forked with its task as JSON in argv[2]; sends
// { ready: true }, starts on any message, sends back { missing, wrong, failed, tokens } and exits.
import { Redis } from 'ioredis';
import { cl100kTokenizer, EmbeddingsClient, InMemoryRateLimiter } from '../dist/index.js';
import { RedisRateLimiter } from '../dist/redis.js';
import { textAt } from './corpus.mjs';
import { check, DIMENSIONS } from './rate-limit-cases.mjs';

const task = JSON.parse(process.argv[2]);
const texts = Array.from({ length: task.count }, (_, i) => textAt(task.offset + i));
const limits = task.tokensPerMinute === undefined ? {} : { tokensPerMinute: task.tokensPerMinute };
let redis;
let rateLimiter;
if (task.shared) {
  redis = new Redis(task.redisUrl, { maxRetriesPerRequest: null });
  // A killed redis-server is reported by ioredis on every reconnection: the limiter warns once.
  redis.on('error', () => undefined);
  rateLimiter = new RedisRateLimiter({ redis, key: task.key, ...limits, onWarning: () => undefined });
} else {
  rateLimiter = new InMemoryRateLimiter(limits);
}
const client = new EmbeddingsClient({ baseURL: task.url, apiKey: 'bench', rateLimiter });
// Loaded and ready: the clock starts when every worker is, so process start-up is not timed.
process.send({ ready: true });
await new Promise((resolve) => process.once('message', resolve));
const res = await client.embeddings
  .createMany(
    { model: 'text-embedding-3-small', input: texts, dimensions: DIMENSIONS },
    { onFailure: 'collect', signal: AbortSignal.timeout(task.limitMs) },
  )
  .catch(() => ({ data: [], failures: [] }));

process.send({ ...check(texts, res), tokens: texts.reduce((sum, text) => sum + cl100kTokenizer.count(text), 0) });
await client.close();
redis?.disconnect();
process.disconnect();
