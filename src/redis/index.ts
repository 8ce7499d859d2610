/**
 * embedrail/redis: what several processes share through Redis. ioredis is an optional peer
 * dependency: this entry takes an ioredis client from the caller and never imports ioredis
 * itself, so the core package works without it.
 */
export { createRedisCache, REDIS_CACHE_DEFAULTS } from './cache.js';
export type { RedisCacheOptions } from './cache.js';
export { RedisRateLimiter } from './rate-limiter.js';
export { REDIS_RATE_LIMITER_DEFAULTS, type RedisRateLimiterOptions } from './rate-limiter-options.js';
