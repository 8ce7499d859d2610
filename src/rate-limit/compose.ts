import { InvalidArgumentError } from '../errors.js';
import type { AcquireOptions, RateLimit, RateLimiter, RateLimitGrant, RateLimitSnapshot } from './types.js';

/**
 * One limiter that a request passes only when every one of `limiters` lets it: how a call's
 * own, tighter `rateLimit` combines with the client's shared limiter. They are acquired in
 * order, so put the call's own first: it does not then hold a turn of the shared one while it
 * waits. Every answer is reported to each; if a later one rejects (abort), the turns already
 * taken are cancelled.
 */
export function composeRateLimiters(...limiters: RateLimiter[]): RateLimiter {
  if (limiters.length === 0)
    throw new InvalidArgumentError('Invalid composeRateLimiters() arguments: needs at least one limiter (got 0)');
  if (limiters.length === 1) return limiters[0]!;
  // The tightest configured limit of each kind binds.
  const limits: RateLimit = {};
  for (const kind of ['requestsPerMinute', 'tokensPerMinute'] as const) {
    const values = limiters.map((limiter) => limiter.limits?.[kind]).filter((value) => value !== undefined);
    if (values.length > 0) limits[kind] = Math.min(...values);
  }
  const composed: RateLimiter = {
    limits: Object.freeze(limits),
    async acquire(options: AcquireOptions): Promise<RateLimitGrant> {
      const grants: RateLimitGrant[] = [];
      try {
        for (const limiter of limiters) grants.push(await limiter.acquire(options));
      } catch (error) {
        for (const grant of grants) grant.cancel();
        throw error;
      }
      return {
        complete: (answer) => grants.forEach((grant) => grant.complete(answer)),
        cancel: () => grants.forEach((grant) => grant.cancel()),
      };
    },
    reconcile: (correction) => limiters.forEach((limiter) => limiter.reconcile?.(correction)),
  };
  const snapshots = limiters.filter((limiter) => limiter.snapshot !== undefined);
  if (snapshots.length > 0) {
    // Each budget as the limiter that paces it slowest holds it; the rest as the last (the
    // shared one) sees it; the wait is the longest.
    composed.snapshot = (): RateLimitSnapshot => {
      const all = snapshots.map((limiter) => limiter.snapshot!());
      const longest = all.reduce((a, b) => ((b.waitingUntil ?? -Infinity) > (a.waitingUntil ?? -Infinity) ? b : a));
      const tightest = (kind: 'requests' | 'tokens') =>
        all.reduce((a, b) => ((b[kind].perMinute ?? Infinity) < (a[kind].perMinute ?? Infinity) ? b : a))[kind];
      return {
        ...all[all.length - 1]!,
        requests: tightest('requests'),
        tokens: tightest('tokens'),
        waitingUntil: longest.waitingUntil,
        waitReason: longest.waitReason,
      };
    };
  }
  return composed;
}
