import { formatDuration, OpenAIError } from './http.js';
import { parseRateLimits, SERVER_DEFAULTS, type RateLimitHeaderStyle } from './options.js';

const MINUTE_MS = 60_000;

export type { RateLimitHeaderStyle } from './options.js';

/**
 * A per-minute budget as OpenAI applies it: a bucket refilled continuously at `limit` per
 * minute, full at start, holding `burstSeconds` of it (OpenAI may enforce a 60,000 RPM
 * limit as 1,000 requests per second). Bursts up to the capacity pass; beyond it a request
 * waits for what it needs.
 */
class Bucket {
  private level: number;
  private updatedAt: number;
  /** What the bucket holds when full: `limit` × `burstSeconds` / 60. */
  readonly capacity: number;

  constructor(
    readonly limit: number,
    burstSeconds: number,
    now: number,
  ) {
    this.capacity = (limit * burstSeconds) / 60;
    this.level = this.capacity;
    this.updatedAt = now;
  }

  refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.capacity, this.level + (elapsed * this.limit) / MINUTE_MS);
    this.updatedAt = now;
  }

  /** Milliseconds until the bucket holds `amount` (0 when it already does). */
  waitFor(amount: number): number {
    return amount <= this.level ? 0 : Math.ceil(((amount - this.level) * MINUTE_MS) / this.limit);
  }

  /** Units used out of the capacity, as the 429 message reports them. */
  get used(): number {
    return Math.ceil(this.capacity - this.level);
  }

  take(amount: number): void {
    this.level -= amount;
  }

  get remaining(): number {
    return Math.floor(this.level);
  }

  /** Milliseconds until the bucket is full again: OpenAI's x-ratelimit-reset-*. */
  get resetMs(): number {
    return Math.ceil(((this.capacity - this.level) * MINUTE_MS) / this.limit);
  }
}

/** The outcome of admitting one request: the headers it carries either way. */
export interface Admission {
  headers: Record<string, string>;
}

/** The limits a {@link RateLimiter} enforces. */
export interface ServerRateLimits {
  rpm: number | undefined;
  tpm: number | undefined;
  /**
   * Seconds of the per-minute limit a bucket holds: 1 makes a 600 RPM limit a bucket of 10
   * requests refilled at 10 per second.
   * @unit s
   * @default SERVER_DEFAULTS.burstSeconds
   */
  burstSeconds?: number | undefined;
  /** @default SERVER_DEFAULTS.headerStyle */
  headerStyle?: RateLimitHeaderStyle | undefined;
}

/**
 * Requests-per-minute and tokens-per-minute limits. `clock` is injectable so tests move time
 * by hand instead of waiting for it.
 */
export class RateLimiter {
  private readonly requests: Bucket | undefined;
  private readonly tokens: Bucket | undefined;
  private readonly headerStyle: RateLimitHeaderStyle;

  constructor(
    limits: ServerRateLimits,
    private readonly clock: () => number,
    private readonly model: string,
  ) {
    // createServer has checked them already; a limiter built alone (tests, simulations) is checked here.
    parseRateLimits(limits);
    const burstSeconds = limits.burstSeconds ?? SERVER_DEFAULTS.burstSeconds;
    const headerStyle = limits.headerStyle ?? SERVER_DEFAULTS.headerStyle;
    this.headerStyle = headerStyle;
    const now = clock();
    this.requests = limits.rpm === undefined ? undefined : new Bucket(limits.rpm, burstSeconds, now);
    this.tokens = limits.tpm === undefined ? undefined : new Bucket(limits.tpm, burstSeconds, now);
  }

  /**
   * Takes one request and `tokenCount` tokens from the buckets, or throws the 429 OpenAI sends
   * when they do not hold enough. The rate-limit headers of the style go on both answers.
   */
  admit(tokenCount: number): Admission {
    const now = this.clock();
    this.requests?.refill(now);
    this.tokens?.refill(now);
    if (this.tokens && tokenCount > this.tokens.capacity) {
      // It can never pass: say so instead of advising a wait that would not help. A burst
      // window below a minute refuses it against what the bucket holds, not the minute's limit.
      const { limit, capacity } = this.tokens;
      const held = capacity < limit ? `${limit} (${Math.floor(capacity)} at once)` : `${limit}`;
      throw new OpenAIError(
        429,
        `Request too large for ${this.model} on tokens per min (TPM): Limit ${held}, Requested ${tokenCount}. The input must be reduced in order to run successfully.`,
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
        `Rate limit reached for ${this.model} on ${what}: Limit ${bucket.limit}, Used ${bucket.used}, Requested ${requested}. Please try again in ${formatDuration(wait)}.`,
        {
          type: byTokens ? 'tokens' : 'requests',
          code: 'rate_limit_exceeded',
          headers: { ...this.headers(), ...this.retryAfter(wait) },
        },
      );
    }
    this.requests?.take(1);
    this.tokens?.take(tokenCount);
    return { headers: this.headers() };
  }

  /** The rate-limit headers of the style, for the limits that are set. */
  headers(): Record<string, string> {
    const now = this.clock();
    const headers: Record<string, string> = {};
    if (this.headerStyle === 'none') return headers;
    const openai = this.headerStyle === 'openai';
    if (this.requests) {
      this.requests.refill(now);
      if (openai) headers['x-ratelimit-limit-requests'] = String(this.requests.limit);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, this.requests.remaining));
      if (openai) headers['x-ratelimit-reset-requests'] = formatDuration(this.requests.resetMs);
    }
    if (this.tokens) {
      this.tokens.refill(now);
      if (openai) headers['x-ratelimit-limit-tokens'] = String(this.tokens.limit);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, this.tokens.remaining));
      if (openai) headers['x-ratelimit-reset-tokens'] = formatDuration(this.tokens.resetMs);
    }
    return headers;
  }

  /**
   * The advice a 429 carries in the style: Azure sends milliseconds, gateways whole seconds.
   * Public so that injected 429s (`failRate`) can advise in the same style.
   */
  retryAfter(ms: number): Record<string, string> {
    const both = retryAfterHeaders(ms);
    if (this.headerStyle === 'azure') return { 'retry-after-ms': both['retry-after-ms']! };
    if (this.headerStyle === 'none') return { 'retry-after': both['retry-after']! };
    return both;
  }
}

/** `retry-after` in whole seconds (rounded up, as HTTP wants) and the exact `retry-after-ms`. */
export function retryAfterHeaders(ms: number): Record<string, string> {
  const wait = Math.max(0, Math.ceil(ms));
  return { 'retry-after': String(Math.ceil(wait / 1000)), 'retry-after-ms': String(wait) };
}
