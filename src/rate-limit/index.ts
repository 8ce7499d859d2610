export type {
  AcquireOptions,
  RateLimit,
  RateLimitAnswer,
  RateLimitBelief,
  RateLimiter,
  RateLimitGrant,
  RateLimitSnapshot,
  RateLimitWait,
  RateLimitWaitReason,
  TokensCorrection,
} from './types.js';
export { InMemoryRateLimiter, RATE_LIMITER_DEFAULTS, type InMemoryRateLimiterOptions } from './in-memory.js';
export { composeRateLimiters } from './compose.js';
export type { RateLimitClock } from './clock.js';
export { parseResetDuration } from './headers.js';
