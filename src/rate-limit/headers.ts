import { BACKOFF, parseRetryAfter } from '../retry.js';

/** What one answer's headers say of one budget, each value sane or left out. */
export interface BudgetHeaders {
  /** Per minute, from `x-ratelimit-limit-*`. */
  limit: number | undefined;
  remaining: number | undefined;
  /** Until the budget is full again, from `x-ratelimit-reset-*`, capped at {@link BACKOFF.maxServerDelay}. */
  resetMs: number | undefined;
}

export interface RateLimitHeaders {
  requests: BudgetHeaders;
  tokens: BudgetHeaders;
  /** The advised pause of a 429 (`retry-after-ms` or `retry-after`), when usable. */
  retryAfterMs: number | undefined;
  /** `x-should-retry: false`: the request can never pass, so no pause helps. */
  never: boolean;
  style: 'openai' | 'remaining-only' | 'none';
}

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

/** A limit below one request per hour is read as a broken header, not as a reason to wait for hours. */
export const MIN_LIMIT_PER_MINUTE = 1 / 60;

/**
 * Reads the rate-limit headers of an answer. A value that is present but absurd (negative,
 * `-1` as some Azure endpoints send, a limit below one per hour, an unreadable duration) is
 * left out and reported to `reject` with the header's name, so it never stalls a job.
 */
export function readRateLimitHeaders(
  headers: Record<string, string>,
  now: number,
  reject: (name: string, value: string) => void,
): RateLimitHeaders {
  const requests = budget(headers, 'requests', reject);
  const tokens = budget(headers, 'tokens', reject);
  const retryAfterMs = parseRetryAfter(headers, now);
  if (retryAfterMs === undefined) {
    const name = headers['retry-after-ms'] !== undefined ? 'retry-after-ms' : 'retry-after';
    if (headers[name] !== undefined) reject(name, headers[name]);
  }
  const hasLimit = requests.limit !== undefined || tokens.limit !== undefined;
  const hasRemaining = requests.remaining !== undefined || tokens.remaining !== undefined;
  return {
    requests,
    tokens,
    retryAfterMs,
    never: headers['x-should-retry'] === 'false',
    style: hasLimit ? 'openai' : hasRemaining ? 'remaining-only' : 'none',
  };
}

function budget(
  headers: Record<string, string>,
  kind: 'requests' | 'tokens',
  reject: (name: string, value: string) => void,
): BudgetHeaders {
  const read = (name: string, accept: (n: number) => boolean): number | undefined => {
    const text = headers[name];
    if (text === undefined) return undefined;
    const n = text.trim() === '' ? NaN : Number(text);
    if (Number.isFinite(n) && accept(n)) return n;
    reject(name, text);
    return undefined;
  };
  const limit = read(`x-ratelimit-limit-${kind}`, (n) => n >= MIN_LIMIT_PER_MINUTE);
  const remaining = read(`x-ratelimit-remaining-${kind}`, (n) => n >= 0);
  const resetName = `x-ratelimit-reset-${kind}`;
  let resetMs = parseResetDuration(headers[resetName]);
  if (resetMs === undefined && headers[resetName] !== undefined) reject(resetName, headers[resetName]);
  // A reset of 1000h is believed only up to a minute, as a retry-after is.
  if (resetMs !== undefined) resetMs = Math.min(resetMs, BACKOFF.maxServerDelay);
  return { limit, remaining, resetMs };
}
