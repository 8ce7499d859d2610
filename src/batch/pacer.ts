/**
 * Client-side pacing for one batch job: token buckets for requests and tokens per minute,
 * kept in step with the server's `x-ratelimit-*` headers, and one pause shared by every
 * worker after a 429. Waiters are served first come, first served, so a large request is
 * never starved by a stream of small ones.
 */

/** Time source and timers, injectable so tests drive the pacer with a fake clock. */
export interface PacerClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `Date.now` and the global timers (which vitest's fake timers replace). */
export const systemClock: PacerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Client-side limits, on top of whatever the server's headers say. */
export interface RateLimit {
  /** Requests the job may start per minute. */
  requestsPerMinute?: number;
  /** Tokens (counted with the job's tokenizer) the job may send per minute. */
  tokensPerMinute?: number;
}

const MINUTE_MS = 60_000;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };

/**
 * Parses the reset durations OpenAI sends in `x-ratelimit-reset-*` (Go's duration format:
 * `6m0s`, `1s`, `20ms`, `1m30.5s`) into milliseconds. A bare number is read as seconds.
 * Returns `undefined` for anything else, so a malformed header never stalls a job.
 */
export function parseResetDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = DURATION_PART.exec(text)) !== null) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = DURATION_PART.lastIndex;
  }
  return consumed === text.length ? total : undefined;
}

/** A leaky bucket refilled continuously, as OpenAI's per-minute limits are. */
class Bucket {
  capacity: number;
  level: number;
  private updatedAt: number;

  constructor(capacity: number, level: number, now: number) {
    this.capacity = capacity;
    this.level = level;
    this.updatedAt = now;
  }

  refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.capacity, this.level + (elapsed * this.capacity) / MINUTE_MS);
    this.updatedAt = now;
  }

  /** Milliseconds until the bucket holds `cost` (capped at its capacity, so any cost can pass). */
  waitFor(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    if (this.level >= need) return 0;
    return Math.ceil(((need - this.level) * MINUTE_MS) / this.capacity);
  }
}

interface Waiter {
  tokens: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class Pacer {
  private readonly clock: PacerClock;
  private readonly configured: RateLimit;
  private requests: Bucket | undefined;
  private tokens: Bucket | undefined;
  /** No request starts before this instant: set by a 429's advised delay, shared by all workers. */
  private pausedUntil = 0;
  /** Set when the server says a limit is used up but not its size: wait for its reset. */
  private blockedUntil = 0;
  private readonly queue: Waiter[] = [];
  private timer: unknown;
  /** Requests started and not yet answered, and their tokens: see `settle()`. */
  private readonly inFlight = { requests: 0, tokens: 0 };

  constructor(rateLimit: RateLimit = {}, clock: PacerClock = systemClock) {
    this.clock = clock;
    this.configured = rateLimit;
    const now = clock.now();
    // Buckets start full: OpenAI's limits allow a burst of a full minute's budget.
    if (rateLimit.requestsPerMinute !== undefined) {
      this.requests = new Bucket(rateLimit.requestsPerMinute, rateLimit.requestsPerMinute, now);
    }
    if (rateLimit.tokensPerMinute !== undefined) {
      this.tokens = new Bucket(rateLimit.tokensPerMinute, rateLimit.tokensPerMinute, now);
    }
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves when a request of `tokens` tokens may start, having taken one request and
   * `tokens` tokens from the buckets. Rejects with the signal's reason on abort.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.queue.indexOf(waiter);
          if (at !== -1) this.queue.splice(at, 1);
          reject(signal!.reason);
          this.schedule();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /**
   * A request that `acquire()` let through got its answer (or gave up). Call it before
   * `observe()`ing that answer's headers: a bucket first sized from headers starts at the
   * server's remaining count less what is still in flight, which that count does not include.
   */
  settle(tokens: number): void {
    this.inFlight.requests = Math.max(0, this.inFlight.requests - 1);
    this.inFlight.tokens = Math.max(0, this.inFlight.tokens - tokens);
  }

  /** Every worker waits until `delayMs` from now before starting another request. */
  pause(delayMs: number): void {
    const until = this.clock.now() + Math.max(0, delayMs);
    if (until > this.pausedUntil) this.pausedUntil = until;
    this.schedule();
  }

  /**
   * Brings the buckets in line with a response's `x-ratelimit-*` headers. The server's
   * limit becomes the bucket size unless the caller set a smaller one, and its remaining
   * count lowers ours (it also sees other clients sharing the key); we never raise our
   * level from a header, because requests we sent after that one are not in its count.
   */
  observe(headers: Record<string, string>): void {
    const now = this.clock.now();
    this.requests = this.sync(this.requests, this.configured.requestsPerMinute, headers, 'requests', now);
    this.tokens = this.sync(this.tokens, this.configured.tokensPerMinute, headers, 'tokens', now);
    this.schedule();
  }

  private sync(
    bucket: Bucket | undefined,
    configured: number | undefined,
    headers: Record<string, string>,
    kind: 'requests' | 'tokens',
    now: number,
  ): Bucket | undefined {
    const limit = positive(headers[`x-ratelimit-limit-${kind}`]);
    const remaining = nonNegative(headers[`x-ratelimit-remaining-${kind}`]);
    const reset = parseResetDuration(headers[`x-ratelimit-reset-${kind}`]);
    let result = bucket;
    if (limit !== undefined) {
      const capacity = configured === undefined ? limit : Math.min(configured, limit);
      if (result === undefined) {
        // Requests we sent before we knew the limit were never taken from a bucket.
        result = new Bucket(capacity, (remaining ?? capacity) - this.inFlight[kind], now);
      } else {
        result.refill(now);
        result.capacity = capacity;
        result.level = Math.min(result.level, capacity);
      }
    }
    if (remaining !== undefined && result !== undefined) {
      result.refill(now);
      result.level = Math.min(result.level, remaining);
    }
    // Without a limit to refill from, an exhausted budget is known to return only at its reset.
    if (result === undefined && remaining === 0 && reset !== undefined) {
      this.blockedUntil = Math.max(this.blockedUntil, now + reset);
    }
    return result;
  }

  private waitFor(tokens: number, now: number): number {
    return Math.max(
      this.pausedUntil - now,
      this.blockedUntil - now,
      this.requests?.waitFor(1, now) ?? 0,
      this.tokens?.waitFor(tokens, now) ?? 0,
      0,
    );
  }

  private schedule(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = this.clock.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const wait = this.waitFor(head.tokens, now);
      if (wait > 0) {
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          this.schedule();
        }, wait);
        return;
      }
      this.queue.shift();
      this.inFlight.requests += 1;
      this.inFlight.tokens += head.tokens;
      if (this.requests) this.requests.level -= 1;
      // May go below zero for a request larger than the whole bucket: the debt is paid by waiting.
      if (this.tokens) this.tokens.level -= head.tokens;
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
  }
}

function positive(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function nonNegative(value: string | undefined): number | undefined {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
