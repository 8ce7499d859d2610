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
export { InMemoryRateLimiter, type InMemoryRateLimiterOptions } from './in-memory.js';
export { RATE_LIMITER_DEFAULTS } from './defaults.js';
export { composeRateLimiters } from './compose.js';
export type { RateLimitClock } from './clock.js';
export { parseResetDuration } from './headers.js';
