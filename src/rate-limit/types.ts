/**
 * What a request must get from a rate limiter before each attempt, and what it reports back.
 * Kept small so that a store shared between processes (Redis with a script) can implement
 * it: one call to wait for a turn, one call to settle that turn with what the server said.
 */

/** Limits set by the caller, on top of whatever the server's headers say. */
export interface RateLimit {
  /** Requests that may start per minute. */
  requestsPerMinute?: number;
  /** Tokens (counted with the tokenizer of the request's model) that may be sent per minute. */
  tokensPerMinute?: number;
}

/** Why a request waits: a budget being refilled, a 429's advised pause, or a window still opening. */
export type RateLimitWaitReason =
  /** A requests or tokens budget (configured or learnt from headers) is being refilled. */
  | 'rate-limit'
  /** A 429 told every request to pause (retry-after, or backoff when it gave no advice). */
  | '429'
  /** Nothing is known of the limits yet: requests start a few at a time until answers say more. */
  | 'slow-start'
  /** Earlier requests are ahead in line (first come, first served). */
  | 'queued';

/** A wait as it starts. */
export interface RateLimitWait {
  /** When the request may start, on the limiter's clock; undefined while it waits for an answer. */
  untilMs: number | undefined;
  reason: RateLimitWaitReason;
}

export interface AcquireOptions {
  /** Tokens the request sends (counted with the client's tokenizer); 0 when unknown. */
  tokens: number;
  /** Aborting it removes the request from the line: `acquire` rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Called when a wait starts, and again when its end or reason changes. */
  onWait?: (wait: RateLimitWait) => void;
}

/** An HTTP answer: its status and its headers, names lower-cased. */
export interface RateLimitAnswer {
  status: number;
  headers: Record<string, string>;
}

/**
 * One request's turn. Settle it exactly once: `complete()` with any HTTP answer (2xx, 429 or
 * another error), `cancel()` when no answer came (connection error, timeout, abort). Further
 * calls are ignored. A 429 is the limiter's to wait out: the client retries it without a
 * sleep of its own, so `complete()` with a 429 must hold the next turns for the advised pause
 * (`retry-after-ms`, `retry-after`) or a backoff of the limiter's choosing.
 */
export interface RateLimitGrant {
  complete(answer: RateLimitAnswer): void;
  cancel(): void;
}

/** What the limiter believes of one budget (requests or tokens). */
export interface RateLimitBelief {
  /** The per-minute rate it paces on, if any. */
  perMinute: number | undefined;
  /** Where that rate comes from: set by the caller, read from a header, or estimated from how `remaining` moves. */
  source: 'configured' | 'header' | 'estimated' | undefined;
  /** How much the server's bucket is believed to hold at most (the burst). */
  burst: number | undefined;
  /** How much the limiter believes may be sent now. */
  available: number | undefined;
}

/** A limiter's beliefs, for progress reports. */
export interface RateLimitSnapshot {
  requests: RateLimitBelief;
  tokens: RateLimitBelief;
  /** The rate-limit headers answers carried: all of OpenAI's, only `remaining-*` (Azure), or none. */
  headerStyle: 'unknown' | 'openai' | 'remaining-only' | 'none';
  /** Requests allowed in flight while the limits are being probed; undefined when not limited so. */
  concurrency: number | undefined;
  inFlight: number;
  /** Requests waiting for their turn. */
  waiting: number;
  /** When the first in line may start, on the limiter's clock; undefined when none waits or it waits for an answer. */
  waitingUntil: number | undefined;
  waitReason: RateLimitWaitReason | undefined;
  /** Answers with status 429 seen so far. */
  rateLimited: number;
}

/**
 * A budget shared by every request that acquires from it. `acquire()` resolves when one
 * request of `tokens` may start (first come, first served) with a grant to settle once its
 * attempt ends; a retry acquires again.
 */
export interface RateLimiter {
  acquire(options: AcquireOptions): Promise<RateLimitGrant>;
  /**
   * The limits configured on it, if any (not what it learnt). A batch never packs a request
   * over `tokensPerMinute`: such a request could never be paced.
   */
  readonly limits?: Readonly<RateLimit>;
  /** What the limiter believes, for progress reports. Optional: a remote store may not know. */
  snapshot?(): RateLimitSnapshot;
  /**
   * Optional: a request that was charged `charged` tokens at `acquire()` (an estimate, its
   * texts not counted) was answered with `used`, the server's own count (`usage.prompt_tokens`).
   * Called once, after its grant completed; the limiter moves its tokens budget by the
   * difference. A limiter without it keeps the estimate, which is then what it paces on.
   */
  reconcile?(correction: TokensCorrection): void;
}

/** See {@link RateLimiter.reconcile}. */
export interface TokensCorrection {
  charged: number;
  used: number;
}
