/**
 * What a worker paces on while Redis does not answer: a limiter of its own holding its share
 * of the budget last seen in Redis, so the workers together stay within it while each is cut
 * off from the others.
 */
import { tighter, unknownBelief } from '../rate-limit/budget.js';
import { MIN_LIMIT_PER_MINUTE } from '../rate-limit/headers.js';
import { InMemoryRateLimiter } from '../rate-limit/in-memory.js';
import type { RateLimit, RateLimitBelief, RateLimitSnapshot } from '../rate-limit/types.js';
import type { ScriptBelief, ScriptSnapshot } from './rate-limiter-commands.js';

/**
 * A local limiter with `1 / workers` of the configured limits and of what the workers had
 * learnt (rate, burst, and what was left of each), workers counted as those seen alive in Redis, each
 * share rounded down so the workers together stay within the budget. What was learnt is taken
 * on as it stands, so the local share starts with all of its part of what was left, not with
 * one request alone; with nothing learnt it probes as a new client does.
 */
export function localShare(
  limits: Readonly<RateLimit>,
  last: ScriptSnapshot | undefined,
  onWarning: (message: string) => void,
): InMemoryRateLimiter {
  const workers = Math.max(1, last?.workers ?? 1);
  const limiter = new InMemoryRateLimiter({
    ...(limits.requestsPerMinute !== undefined && { requestsPerMinute: limits.requestsPerMinute / workers }),
    ...(limits.tokensPerMinute !== undefined && { tokensPerMinute: limits.tokensPerMinute / workers }),
    onWarning,
  });
  if (last === undefined) return limiter;
  const share = ({ pm, src, cap, avail }: ScriptBelief): RateLimitBelief => {
    if (cap === undefined) return unknownBelief();
    // Below one request per hour a limit is read as a broken header (see readRateLimitHeaders): none is kept.
    const perMinute = pm === undefined || pm / workers < MIN_LIMIT_PER_MINUTE ? undefined : pm / workers;
    return {
      perMinute,
      source: perMinute === undefined ? undefined : src,
      // At least one unit: a bucket of none would hold nothing back.
      burst: Math.max(1, Math.floor(cap / workers)),
      available: Math.floor(Math.min(avail ?? 0, cap) / workers),
    };
  };
  limiter.learnShare({
    requests: share(last.r),
    tokens: share(last.t),
    headerStyle: last.style,
    // What was left of a configured budget, shared the same way: a share started full would let
    // the workers together send a whole burst more than Redis's bucket had left.
    configuredAvailable: { requests: share(last.cr).available, tokens: share(last.ct).available },
  });
  return limiter;
}

/** The script's snapshot on this worker's clock, the tighter of configured and learnt per budget. */
export function toSnapshot(last: ScriptSnapshot, receivedAt: number): RateLimitSnapshot {
  const belief = ({ pm, src, cap, avail }: ScriptBelief): RateLimitBelief => ({
    perMinute: pm,
    source: src,
    burst: cap,
    available: avail,
  });
  const head = last.headWait;
  return {
    requests: tighter(belief(last.r), belief(last.cr)),
    tokens: tighter(belief(last.t), belief(last.ct)),
    headerStyle: last.style,
    concurrency: last.win,
    inFlight: last.flight,
    waiting: last.waiting,
    waitingUntil: head?.untilMs === undefined ? undefined : receivedAt + (head.untilMs - last.now),
    waitReason: head?.reason,
    rateLimited: last.limited,
  };
}
