import type { Cluster, Redis } from 'ioredis';
import { checkPositive, configuredLimits, optionError } from '../rate-limit/limits.js';
import type { RateLimit } from '../rate-limit/types.js';

export const REDIS_RATE_LIMITER_DEFAULTS = Object.freeze({
  /** Redis answering later than this counts as down: the worker paces on its local share. @unit ms */
  timeoutMs: 300,
  /**
   * A worker silent this long is gone: its place in line and its requests in flight are
   * dropped. Live workers renew theirs every third of it. @unit ms
   */
  leaseMs: 15_000,
  /** A budget nobody touched this long is deleted from Redis. @unit ms */
  keyTtlMs: 600_000,
  /** While on the local share, how often Redis is asked whether it answers again. @unit ms */
  retryMs: 1_000,
  /** How often a waiter asks again while only another worker's answer can end its wait. @unit ms */
  pollMs: 25,
  /** The code of the warning emitted when Redis does not answer. */
  warningCode: 'EMBEDRAIL_REDIS_UNAVAILABLE',
});

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions extends RateLimit {
  /** An ioredis client (or cluster), connected or connecting; the limiter never closes it. */
  redis: Redis | Cluster;
  /**
   * The budget's name: every worker using the same API key passes the same one. Stored as
   * `embedrail:rate:{<key>}` (one Redis key, so cluster-safe).
   * @example 'openai:prod'
   */
  key: string;
  /** See {@link REDIS_RATE_LIMITER_DEFAULTS.timeoutMs}. @default 300 @unit ms */
  timeoutMs?: number;
  /** See {@link REDIS_RATE_LIMITER_DEFAULTS.leaseMs}. @default 15000 @unit ms */
  leaseMs?: number;
  /** See {@link REDIS_RATE_LIMITER_DEFAULTS.keyTtlMs}. @default 600000 @unit ms */
  keyTtlMs?: number;
  /** See {@link REDIS_RATE_LIMITER_DEFAULTS.retryMs}. @default 1000 @unit ms */
  retryMs?: number;
  /**
   * Where warnings go: Redis not answering (once per outage) and unusable rate-limit headers
   * (once). Pass your logger, e.g. `(message) => logger.warn(message)`.
   * @default process.emitWarning with the code `EMBEDRAIL_REDIS_UNAVAILABLE` or `EMBEDRAIL_RATE_LIMIT_HEADER`
   */
  onWarning?: (message: string) => void;
}

/** The timings of a {@link RedisRateLimiter}, each given or its default. */
export type RedisRateLimiterSettings = Required<
  Pick<RedisRateLimiterOptions, 'timeoutMs' | 'leaseMs' | 'keyTtlMs' | 'retryMs'>
>;

/**
 * Checks a {@link RedisRateLimiter}'s options, naming the option and the value of any that is
 * wrong, and applies the defaults.
 */
export function resolveRedisRateLimiterOptions(options: RedisRateLimiterOptions): {
  limits: Readonly<RateLimit>;
  settings: RedisRateLimiterSettings;
} {
  const owner = 'RedisRateLimiter';
  const redis = options?.redis as unknown;
  if (typeof (redis as Redis | undefined)?.defineCommand !== 'function') {
    throw optionError(owner, 'redis', 'an ioredis client', redis);
  }
  if (typeof options.key !== 'string' || options.key === '') {
    throw optionError(owner, 'key', 'a non-empty string', options.key);
  }
  const limits = configuredLimits(owner, options);
  checkPositive(owner, options, ['timeoutMs', 'leaseMs', 'keyTtlMs', 'retryMs']);
  const d = REDIS_RATE_LIMITER_DEFAULTS;
  return {
    limits,
    settings: {
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      leaseMs: options.leaseMs ?? d.leaseMs,
      keyTtlMs: options.keyTtlMs ?? d.keyTtlMs,
      retryMs: options.retryMs ?? d.retryMs,
    },
  };
}
