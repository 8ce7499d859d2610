/**
 * The line of `acquire()` calls waiting for their turn, as every limiter keeps it: the options
 * checked before anything waits, the abort that takes a waiter out, each wait told once, and
 * the timer a wait becomes.
 */
import { InvalidArgumentError } from '../errors.js';
import { RATE_LIMITER_DEFAULTS } from './defaults.js';
import type { AcquireOptions, RateLimitGrant, RateLimitWait } from './types.js';

/** One `acquire()` waiting for its turn. Settling it removes its abort listener. */
export interface Waiter {
  readonly options: AcquireOptions;
  /** The wait last told to `onWait`, so the same one is not told twice. */
  reported: RateLimitWait | undefined;
  resolve(grant: RateLimitGrant): void;
  reject(reason: unknown): void;
}

/**
 * Puts an `acquire()` in line: rejects at once when `tokens` is not a number ≥ 0 or the signal
 * is already aborted; otherwise makes the waiter (the `Waiter` fields and the limiter's own,
 * from `fields()`) and hands it to `join`. An abort while it waits calls `onAbort`, which decides
 * what leaving the line means; it may come while `join` runs (an `onWait` that aborts).
 */
export function waitInLine<W extends Waiter>(
  options: AcquireOptions,
  fields: () => Omit<W, keyof Waiter>,
  join: (waiter: W) => void,
  onAbort: (waiter: W) => void,
): Promise<RateLimitGrant> {
  // Taken apart now: what is checked is what is charged, whatever the caller does to its object later.
  const { tokens, signal, onWait } = options;
  if (!(Number.isFinite(tokens) && tokens >= 0)) {
    return Promise.reject(
      new InvalidArgumentError(`Invalid acquire() options: \`tokens\` must be a number ≥ 0 (got ${String(tokens)})`),
    );
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<RateLimitGrant>((resolve, reject) => {
    const abort = () => onAbort(waiter);
    const waiter = {
      ...fields(),
      options: { tokens, signal, onWait },
      reported: undefined,
      resolve(grant: RateLimitGrant) {
        signal?.removeEventListener('abort', abort);
        resolve(grant);
      },
      reject(reason: unknown) {
        signal?.removeEventListener('abort', abort);
        reject(reason);
      },
    } as W;
    // Listening before it joins: a turn given at once removes the listener as it settles.
    signal?.addEventListener('abort', abort, { once: true });
    join(waiter);
  });
}

/** Tells the waiter's `onWait` of `wait`, unless it is the wait last told. */
export function report(waiter: Waiter, wait: RateLimitWait): void {
  const last = waiter.reported;
  if (last !== undefined && last.untilMs === wait.untilMs && last.reason === wait.reason) return;
  waiter.reported = wait;
  waiter.options.onWait?.(wait);
}

/** A wait of `ms` as a timer's delay: at least 1 ms, and at most what Node's timers hold. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(1, ms), RATE_LIMITER_DEFAULTS.maxTimerMs);
}
