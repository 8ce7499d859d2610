import { formatDuration, OpenAIError } from './http.js';

const MINUTE_MS = 60_000;

/**
 * A per-minute budget as OpenAI applies it: a bucket holding `limit` units, full at start,
 * refilled continuously at `limit` per minute. Bursts up to the limit pass; beyond it a
 * request waits for what it needs.
 */
class Bucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly limit: number,
    now: number,
  ) {
    this.level = limit;
    this.updatedAt = now;
  }

  refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.limit, this.level + (elapsed * this.limit) / MINUTE_MS);
    this.updatedAt = now;
  }

  /** Milliseconds until the bucket holds `amount` (0 when it already does). */
  waitFor(amount: number): number {
    return amount <= this.level ? 0 : Math.ceil(((amount - this.level) * MINUTE_MS) / this.limit);
  }

  take(amount: number): void {
    this.level -= amount;
  }

  get remaining(): number {
    return Math.floor(this.level);
  }

  /** Milliseconds until the bucket is full again: OpenAI's x-ratelimit-reset-*. */
  get resetMs(): number {
    return Math.ceil(((this.limit - this.level) * MINUTE_MS) / this.limit);
  }
}

/** The outcome of admitting one request: the headers it carries either way. */
export interface Admission {
  headers: Record<string, string>;
}

/**
 * Requests-per-minute and tokens-per-minute limits. `clock` is injectable so tests move time
 * by hand instead of waiting for it.
 */
export class RateLimiter {
  private readonly requests: Bucket | undefined;
  private readonly tokens: Bucket | undefined;

  constructor(
    limits: { rpm: number | undefined; tpm: number | undefined },
    private readonly clock: () => number,
    private readonly model: string,
  ) {
    const now = clock();
    this.requests = limits.rpm === undefined ? undefined : new Bucket(limits.rpm, now);
    this.tokens = limits.tpm === undefined ? undefined : new Bucket(limits.tpm, now);
  }

  /**
   * Takes one request and `tokenCount` tokens from the buckets, or throws the 429 OpenAI sends
   * when they do not hold enough. The x-ratelimit-* headers go on both answers.
   */
  admit(tokenCount: number): Admission {
    const now = this.clock();
    this.requests?.refill(now);
    this.tokens?.refill(now);
    if (this.tokens && tokenCount > this.tokens.limit) {
      // It can never pass: say so instead of advising a wait that would not help.
      throw new OpenAIError(
        429,
        `Request too large for ${this.model} on tokens per min (TPM): Limit ${this.tokens.limit}, Requested ${tokenCount}. The input must be reduced in order to run successfully.`,
        { type: 'tokens', code: 'rate_limit_exceeded', headers: { ...this.headers(), 'x-should-retry': 'false' } },
      );
    }
    const requestWait = this.requests?.waitFor(1) ?? 0;
    const tokenWait = this.tokens?.waitFor(tokenCount) ?? 0;
    if (requestWait > 0 || tokenWait > 0) {
      const byTokens = tokenWait >= requestWait;
      const bucket = (byTokens ? this.tokens : this.requests)!;
      const wait = Math.max(requestWait, tokenWait);
      const what = byTokens ? 'tokens per min (TPM)' : 'requests per min (RPM)';
      const requested = byTokens ? tokenCount : 1;
      throw new OpenAIError(
        429,
        `Rate limit reached for ${this.model} on ${what}: Limit ${bucket.limit}, Used ${bucket.limit - bucket.remaining}, Requested ${requested}. Please try again in ${formatDuration(wait)}.`,
        {
          type: byTokens ? 'tokens' : 'requests',
          code: 'rate_limit_exceeded',
          headers: { ...this.headers(), ...retryAfterHeaders(wait) },
        },
      );
    }
    this.requests?.take(1);
    this.tokens?.take(tokenCount);
    return { headers: this.headers() };
  }

  /** The six x-ratelimit-* headers, for the limits that are set. */
  headers(): Record<string, string> {
    const now = this.clock();
    const headers: Record<string, string> = {};
    if (this.requests) {
      this.requests.refill(now);
      headers['x-ratelimit-limit-requests'] = String(this.requests.limit);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, this.requests.remaining));
      headers['x-ratelimit-reset-requests'] = formatDuration(this.requests.resetMs);
    }
    if (this.tokens) {
      this.tokens.refill(now);
      headers['x-ratelimit-limit-tokens'] = String(this.tokens.limit);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, this.tokens.remaining));
      headers['x-ratelimit-reset-tokens'] = formatDuration(this.tokens.resetMs);
    }
    return headers;
  }
}

/** `retry-after` in whole seconds (rounded up, as HTTP wants) and the exact `retry-after-ms`. */
export function retryAfterHeaders(ms: number): Record<string, string> {
  const wait = Math.max(0, Math.ceil(ms));
  return { 'retry-after': String(Math.ceil(wait / 1000)), 'retry-after-ms': String(wait) };
}
