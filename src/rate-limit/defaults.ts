import { BACKOFF } from '../retry.js';

/** The fixed figures every rate limiter paces by: how long headers are believed, timer bounds, backoff after a 429. */
export const RATE_LIMITER_DEFAULTS = Object.freeze({
  /** A wait derived from headers is believed up to this, as a `retry-after` is. @unit ms */
  maxHeaderWaitMs: BACKOFF.maxServerDelay,
  /** Node's timers hold 32 bits: a longer delay fires at once, again and again. @unit ms */
  maxTimerMs: 2 ** 31 - 1,
  /** The pause after a 429 that advised nothing usable: doubled per 429 in a row, capped. @unit ms */
  pauseWithoutAdvice: Object.freeze({ initial: BACKOFF.initialDelay, max: BACKOFF.maxDelay }),
  /** The code of the one warning a limiter emits for headers it ignores. */
  warningCode: 'EMBEDRAIL_RATE_LIMIT_HEADER',
});
