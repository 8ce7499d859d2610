import { APIConnectionError, APIError, APIUserAbortError } from './errors.js';

/** Backoff when the server gives no advice: about 0.5 s × 2^attempt, capped. */
export const BACKOFF = Object.freeze({
  initialDelay: 500,
  maxDelay: 8_000,
  /**
   * A server's retry-after is honoured up to this: a longer one (a daily quota's hours) is
   * waited this long, so a job neither stalls for hours nor hammers the server at backoff pace.
   */
  maxServerDelay: 60_000,
} as const);

/** Statuses worth another attempt: timeouts, conflicts, rate limits, server faults. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Whether `error` deserves another attempt. `x-should-retry: true|false` from the server
 * overrides the status rule (OpenAI sends it); a caller's abort is never retried.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof APIError) {
    const advice = error.headers['x-should-retry'];
    if (advice === 'true') return true;
    if (advice === 'false') return false;
    return isRetryableStatus(error.status);
  }
  // APITimeoutError is an APIConnectionError: per-attempt timeouts are retried.
  return error instanceof APIConnectionError;
}

/**
 * The server's advised wait in ms: `retry-after-ms`, else `retry-after` in seconds or as an
 * HTTP date, capped at {@link BACKOFF.maxServerDelay}. Undefined when absent, unparsable or negative.
 */
export function parseRetryAfter(
  headers: Record<string, string | undefined> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  let ms: number | undefined;
  const millis = headers['retry-after-ms'];
  if (millis !== undefined && millis.trim() !== '' && Number.isFinite(Number(millis))) {
    ms = Number(millis);
  } else {
    const value = headers['retry-after'];
    if (value !== undefined && value.trim() !== '') {
      const seconds = Number(value);
      ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
    }
  }
  if (ms === undefined || Number.isNaN(ms) || ms < 0) return undefined;
  return Math.min(ms, BACKOFF.maxServerDelay);
}

/**
 * Delay before retry number `attempt` (1 for the first retry). Honours the server's advice (up to a minute),
 * else exponential backoff with jitter: a random point in the upper half of
 * 0.5 s × 2^(attempt − 1), capped at 8 s, so retries of many clients spread out.
 */
export function retryDelay(
  attempt: number,
  headers?: Record<string, string | undefined>,
  random: () => number = Math.random,
): number {
  const advised = parseRetryAfter(headers);
  if (advised !== undefined) return advised;
  const ceiling = Math.min(BACKOFF.initialDelay * 2 ** Math.max(0, attempt - 1), BACKOFF.maxDelay);
  return Math.round(ceiling * (1 - 0.5 * random()));
}

/** Waits `ms`, or rejects with `APIUserAbortError` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error every abort path throws, keeping the signal's reason as `cause`. */
export function abortError(signal: AbortSignal): APIUserAbortError {
  return new APIUserAbortError('Request was aborted', { cause: signal.reason });
}

/**
 * Rejects as soon as `signal` aborts, even while the work waits (in a queue, on a key provider).
 * Work is only started while the signal is live: started and then left behind, its own
 * rejection would go unhandled.
 */
export function rejectOnAbort<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return start();
  if (signal.aborted) return Promise.reject(abortError(signal));
  const work = start();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
