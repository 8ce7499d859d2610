/**
 * `--cache <redis URL | directory>`: the vectors `embed` and `search` reuse between runs and
 * share with other processes. A `redis://` or `rediss://` URL is a Redis cache through ioredis,
 * an optional dependency loaded only then; anything else is a folder on this machine.
 */
import { createDiskCache, InvalidArgumentError } from '../index.js';
import type { EmbeddingCache } from '../index.js';
import { createRedisCache } from '../redis/index.js';
import type { CliIo } from './io.js';
import { UsageError, oneLine } from './io.js';

/** A cache the command uses, and how to let go of it at the end. */
export interface OpenedCache {
  cache: EmbeddingCache;
  /** Closes the Redis connection (which would otherwise keep the process alive); nothing for a folder. */
  close(): Promise<void>;
}

/** How long `--cache redis://...` waits for Redis to answer before the run is refused. @unit ms */
export const REDIS_CONNECT_TIMEOUT = 5_000;

const REDIS_URL = /^rediss?:\/\//i;

/** What loads ioredis; a test swaps it for one that fails as a missing package does. */
export type IoredisLoader = () => Promise<{ Redis: typeof import('ioredis').Redis }>;

/**
 * Opens the cache `--cache value` names. A Redis that cannot be reached, a missing ioredis or
 * a folder that cannot be made is a usage error before anything is sent; once running, Redis
 * failing is a warning on stderr and the run goes on without it.
 */
export async function openCache(
  value: string,
  io: CliIo,
  loadIoredis: IoredisLoader = () => import('ioredis'),
): Promise<OpenedCache> {
  if (!REDIS_URL.test(value)) {
    try {
      return { cache: createDiskCache({ directory: value }), close: async () => {} };
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      throw new UsageError(oneLine(error).replace('`directory`', '--cache'));
    }
  }
  const shown = withoutPassword(value);
  let Redis: typeof import('ioredis').Redis;
  try {
    ({ Redis } = await loadIoredis());
  } catch (error) {
    if (!isMissingModule(error)) throw error;
    throw new UsageError(`--cache ${shown} needs the ioredis package, which is not installed: npm install ioredis`);
  }
  let redis: InstanceType<typeof Redis>;
  try {
    redis = new Redis(value, {
      lazyConnect: true,
      connectTimeout: REDIS_CONNECT_TIMEOUT,
      // A command waits for one reconnection at most; the cache's own timeout bounds it anyway.
      maxRetriesPerRequest: 1,
    });
  } catch (error) {
    throw new UsageError(`--cache ${shown} is not a Redis URL ioredis can use: ${oneLine(error)}`);
  }
  // Failures reach the cache through its commands, and it warns once per outage; ioredis would
  // otherwise print every reconnection attempt.
  let refusal: unknown;
  redis.on('error', (error: unknown) => (refusal ??= error));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    // connect() rejects with "Connection is closed."; the error event said why (ECONNREFUSED, WRONGPASS...).
    throw new UsageError(`--cache ${shown}: cannot connect to Redis: ${oneLine(refusal ?? error)}`);
  }
  const cache = createRedisCache({
    redis,
    onWarning: (message) => io.stderr.write(`embedrail: warning: ${message}\n`),
  });
  return {
    cache,
    close: async () => {
      // QUIT lets the writes already sent finish; a connection that is down would queue it.
      if (redis.status === 'ready') await redis.quit().catch(() => {});
      redis.disconnect();
    },
  };
}

/** The URL as it may be printed: any user and password replaced, since a password must never reach a log. */
export function withoutPassword(url: string): string {
  // Up to the last @ before the path: a password may hold an @ of its own.
  return url.replace(/^(rediss?:\/\/)[^/]*@/i, '$1***@');
}

function isMissingModule(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}
