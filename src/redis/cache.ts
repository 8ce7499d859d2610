/**
 * `createRedisCache()`: one vector cache for every process and host that reaches one Redis, so
 * a second worker or a rerun sends only the texts nobody has embedded yet.
 */
import type { Redis } from 'ioredis';
import { EmbeddingsError, encodeFloat32Bytes, InvalidArgumentError, storedVector } from '../index.js';
import type { EmbeddingCache } from '../index.js';
import { within } from './within.js';

/** Options for `createRedisCache()`. */
export interface RedisCacheOptions {
  /** An ioredis client (`new Redis(url)`); the cache never closes it. A Cluster client is not supported (MGET spans slots). */
  redis: Redis;
  /**
   * Put before every key (the batch engine's sha256 hex), so several caches and other data share one Redis.
   * @default 'embedrail:vector:'
   */
  prefix?: string;
  /**
   * Seconds a vector is kept after it was written (`SET ... EX`); reading it does not extend it.
   * @unit s
   * @default undefined (kept until deleted, or evicted by Redis's own `maxmemory-policy`)
   */
  ttlSeconds?: number;
  /**
   * Time one read (MGET) or write (pipelined SETs) may take before it counts as a Redis failure.
   * @unit ms
   * @default 2000
   */
  timeout?: number;
  /**
   * What a Redis failure (an error, a timeout, a connection down) does. `'warn'`: one warning
   * per outage, reads answer misses and writes are skipped, so the job embeds those texts
   * itself and loses nothing; after `REDIS_CACHE_DEFAULTS.retryAfter` ms the next call tries
   * Redis again, and once it answers the cache is used again. `'throw'`: the call rejects with
   * an `EmbeddingsError` and the batch job stops with it (inputs not done have no outcome).
   * @default 'warn'
   */
  onError?: 'warn' | 'throw';
  /**
   * Receives the warning when Redis fails under `onError: 'warn'`.
   * @default process.emitWarning, with the code `EMBEDRAIL_REDIS_CACHE`
   */
  onWarning?: (message: string) => void;
}

/** The Redis cache's defaults, in one place: what `createRedisCache()` uses for an option not given. */
export const REDIS_CACHE_DEFAULTS = Object.freeze({
  prefix: 'embedrail:vector:',
  /** @unit ms */
  timeout: 2000,
  onError: 'warn',
  /**
   * After a failure, calls answer misses without asking Redis for this long: a Redis that is
   * down costs one timeout per interval, not one per request of the job.
   * @unit ms
   */
  retryAfter: 1000,
  warningCode: 'EMBEDRAIL_REDIS_CACHE',
} as const);

/** ioredis states in which a command would wait in its offline queue for a connection that is down. */
const DOWN_STATES = new Set(['reconnecting', 'close', 'end']);

/**
 * An `EmbeddingCache` on Redis. A vector is stored under `prefix + key` as its raw
 * little-endian float32 bytes (6,144 bytes for 1536 dimensions; read back bit for bit, never
 * JSON). Each `get(keys)` is one MGET, each `set(entries)` one pipeline of SETs (with `EX` when
 * `ttlSeconds` is set): one round trip per request's worth of keys. A value that is empty, not
 * a whole number of float32s, or holds NaN or ±Infinity (another writer's data) is a miss.
 * A Redis failure is a warning and a miss by default (see `onError`).
 * @example
 * import { Redis } from 'ioredis';
 * import { createRedisCache } from 'embedrail/redis';
 * const redis = new Redis(process.env.REDIS_URL);
 * const cache = createRedisCache({ redis, ttlSeconds: 30 * 24 * 3600 });
 * await client.embeddings.createMany({ model, input }, { cache });
 * await redis.quit();
 */
export function createRedisCache(options: RedisCacheOptions): EmbeddingCache {
  const { redis } = options ?? {};
  if (typeof redis?.mgetBuffer !== 'function' || typeof redis.pipeline !== 'function') {
    throw new InvalidArgumentError(
      `\`redis\` must be an ioredis client, with mgetBuffer() and pipeline() (got ${redis === null ? 'null' : typeof redis})`,
    );
  }
  const prefix = options.prefix ?? REDIS_CACHE_DEFAULTS.prefix;
  if (typeof prefix !== 'string') throw new InvalidArgumentError(`\`prefix\` must be a string (got ${typeof prefix})`);
  const { ttlSeconds } = options;
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds >= 1)) {
    throw new InvalidArgumentError(`\`ttlSeconds\` must be an integer ≥ 1 (got ${String(ttlSeconds)})`);
  }
  const timeout = options.timeout ?? REDIS_CACHE_DEFAULTS.timeout;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 2_147_483_647) {
    throw new InvalidArgumentError(`\`timeout\` must be an integer from 1 to 2147483647 ms (got ${String(timeout)})`);
  }
  const onError = options.onError ?? REDIS_CACHE_DEFAULTS.onError;
  if (onError !== 'warn' && onError !== 'throw') {
    throw new InvalidArgumentError(`\`onError\` must be 'warn' or 'throw' (got ${JSON.stringify(onError)})`);
  }
  const warn =
    options.onWarning ??
    ((message: string) => process.emitWarning(message, { code: REDIS_CACHE_DEFAULTS.warningCode }));

  /** Under 'warn': Redis is not asked before this time (epoch ms). */
  let skipUntil = 0;
  /** Under 'warn': the outage has been warned about; a call that succeeds re-arms the warning. */
  let warned = false;

  /** Runs `command` against Redis within `timeout`; under 'warn', resolves with `miss` instead of failing. */
  async function ask<T>(what: string, command: () => Promise<T>, miss: T): Promise<T> {
    if (onError === 'warn' && Date.now() < skipUntil) return miss;
    try {
      // Sent now, the command would wait in ioredis's offline queue for a connection that is down.
      if (DOWN_STATES.has(redis.status)) throw new Error(`the connection is ${redis.status}`);
      const result = await within(command, timeout);
      warned = false;
      return result;
    } catch (error) {
      const message = `Redis cache: ${what} failed: ${error instanceof Error ? error.message : String(error)}`;
      if (onError === 'throw') throw new EmbeddingsError(message, { cause: error });
      skipUntil = Date.now() + REDIS_CACHE_DEFAULTS.retryAfter;
      if (!warned) {
        warned = true;
        try {
          warn(`${message}; reads are misses and writes are skipped until Redis answers again`);
        } catch {
          // A broken warning handler loses its line, not the job.
        }
      }
      return miss;
    }
  }

  return {
    async get(keys) {
      if (keys.length === 0) return [];
      const values = await ask(
        `MGET of ${keys.length} keys`,
        () => redis.mgetBuffer(keys.map((key) => prefix + key)),
        [],
      );
      return keys.map((_key, i) => {
        const value = values[i];
        return value ? storedVector(value) : undefined;
      });
    },
    async set(entries) {
      if (entries.length === 0) return;
      await ask(
        `SET of ${entries.length} keys`,
        async () => {
          const pipeline = redis.pipeline();
          for (const [key, vector] of entries) {
            if (ttlSeconds === undefined) pipeline.set(prefix + key, encodeFloat32Bytes(vector));
            else pipeline.set(prefix + key, encodeFloat32Bytes(vector), 'EX', ttlSeconds);
          }
          const results = (await pipeline.exec()) ?? [];
          const failed = results.find(([error]) => error !== null)?.[0];
          if (failed) throw failed;
        },
        undefined,
      );
    },
  };
}
