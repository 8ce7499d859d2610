/**
 * A worker process of the Redis rate-limit tests: its own client and RedisRateLimiter on a
 * shared key, its clock set off by `skewMs` (Date.now, which the limiter uses for its own
 * reports). Takes its task as JSON in argv[2]; prints one JSON line when done.
 * - `embed`: embeds `count` texts tagged `tag` with createMany, prints which inputs came back;
 * - `hold`: takes one turn and keeps it (prints `{"held":true}`) until killed.
 */
import { Redis } from 'ioredis';
import { EmbeddingsClient } from '../../src/index.js';
import { RedisRateLimiter } from '../../src/redis/index.js';

interface Task {
  mode: 'embed' | 'hold';
  redisUrl: string;
  key: string;
  url?: string;
  count?: number;
  tag?: string;
  skewMs?: number;
  leaseMs?: number;
}

const task = JSON.parse(process.argv[2]!) as Task;
if (task.skewMs) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + task.skewMs!;
}
const redis = new Redis(task.redisUrl);
// A loaded machine may hold Redis's answer past the default 300 ms: the tests are not about that.
const rateLimiter = new RedisRateLimiter({
  redis,
  key: task.key,
  timeoutMs: 5000,
  ...(task.leaseMs && { leaseMs: task.leaseMs }),
});

if (task.mode === 'hold') {
  await rateLimiter.acquire({ tokens: 1 });
  process.stdout.write(`${JSON.stringify({ held: true })}\n`);
  setInterval(() => undefined, 60_000);
} else {
  const client = new EmbeddingsClient({ baseURL: task.url!, apiKey: 'k', rateLimiter });
  const input = Array.from({ length: task.count! }, (_, i) => `${task.tag} text number ${i}`);
  const res = await client.embeddings.createMany(
    { model: 'text-embedding-3-small', input },
    { maxInputsPerRequest: 5 },
  );
  process.stdout.write(`${JSON.stringify({ indexes: res.data.map((d) => d.index), failures: res.failures.length })}\n`);
  redis.disconnect();
}
